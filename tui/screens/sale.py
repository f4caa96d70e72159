"""The sale screen: the scan field always has focus; a line lands the moment a scan does."""

from __future__ import annotations

import uuid
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label

from node.errors import ConfirmFound, StoreError
from node.present import money, receipt_text
from node.rules import SaleLine, till_check
from tui.screens.dialogs import Confirm, Receipt, Recall, Tender

LOW_QUOTA = 2  # a line whose store quota (after this sale) is at or below this is flagged


_line_ids = itertools.count(1)


@dataclass
class CartLine:
    sku: str
    name: str
    qty: int
    unit_price: int
    quota: int  # the store's quota for this SKU when last looked at
    hold_id: str | None = None
    key: str = field(default_factory=lambda: str(next(_line_ids)))  # its row in the table


class SaleScreen(Screen):
    # The footer has room for about 70 columns at 80x24: the sale's own keys and two
    # doors (F2, F1); the stock operations have their own keys on F1's menu.
    BINDINGS = [
        Binding("f12", "pay", "Pay", priority=True),
        Binding("f10", "void", "Void", priority=True),
        Binding("f8", "park", "Park", priority=True),
        Binding("f9", "recall", "Recall", priority=True),
        Binding("f2", "app.lookup", "In back", priority=True),
        Binding("f1", "app.stock_menu", "Stock", priority=True),
        Binding("f3", "app.form('return')", "Return", priority=True, show=False),
        Binding("f4", "app.form('receive')", "Receive", priority=True, show=False),
        Binding("f5", "app.form('count')", "Count", priority=True, show=False),
        Binding("f6", "app.form('write_off')", "Write off", priority=True, show=False),
        Binding("f7", "app.form('move')", "Move", priority=True, show=False),
        Binding("plus", "qty(1)", "+1", priority=True, show=False),
        Binding("minus", "qty(-1)", "-1", priority=True, show=False),
        Binding("up", "cursor(-1)", "Up", priority=True, show=False),
        Binding("down", "cursor(1)", "Down", priority=True, show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.cart: list[CartLine] = []
        self.sale_id = uuid.uuid4().hex
        self.over_ok: set[str] = set()  # SKUs the clerk confirmed as in the customer's hand
        self.found_ok = False  # the clerk confirmed units far past the book as really in hand
        self._shown: dict[str, tuple[str, ...]] = {}  # what the table shows, by line key

    def compose(self) -> ComposeResult:
        yield Label("", id="title")
        yield DataTable(id="lines", cursor_type="row", zebra_stripes=True)
        yield Label("", id="totals")
        yield Label("", id="message")
        yield Input(placeholder="Scan or type a barcode or SKU (3* before a scan = 3 of it)", id="scan")
        yield self.app.make_status_bar()
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        t = self.query_one("#lines", DataTable)
        # Fixed widths: a DataTable that grows a column after a clear() keeps painting the
        # narrower cells it cached ("-1 OV"), and fixed columns do not jump about either.
        for label, width in (("Item", 34), ("Qty", 4), ("Each", 8), ("Amount", 9), ("Quota", 9)):
            t.add_column(label, width=width)
        self.query_one("#title", Label).update(f"Sale · {self.app.store_name}")
        self.refresh_lines()

    def on_screen_resume(self) -> None:
        self.query_one("#scan", Input).focus()

    # -- helpers --------------------------------------------------------------

    def say(self, text: str, *, error: bool = False) -> None:
        msg = self.query_one("#message", Label)
        msg.update(text, layout=False)  # a fixed-size line: no need to lay the screen out again
        msg.set_class(error, "-error")

    @property
    def total(self) -> int:
        return sum(ln.qty * ln.unit_price for ln in self.cart)

    def _cells(self, ln: CartLine, sold: dict[str, int]) -> tuple[str, ...]:
        left = ln.quota - sold.get(ln.sku, 0)
        if ln.hold_id:
            quota = "held"
        elif left < 0:
            quota = f"{left} OVER"
        elif left <= LOW_QUOTA:
            quota = f"{left} low"
        else:
            quota = str(left)
        name = ln.name if not ln.hold_id else f"{ln.name} (held)"
        return (name[:34], str(ln.qty), money(ln.unit_price), money(ln.qty * ln.unit_price), quota)

    def refresh_lines(self, select: int | None = None) -> None:
        """Bring the table in line with the cart, touching only rows that changed.

        A scan must paint at once however long the sale is, so the table is
        never rebuilt: new lines are appended, voided ones removed, and only
        cells whose text changed are updated.
        """
        t = self.query_one("#lines", DataTable)
        row = t.cursor_row if select is None else select
        sold: dict[str, int] = {}
        for ln in self.cart:
            if ln.hold_id is None:
                sold[ln.sku] = sold.get(ln.sku, 0) + ln.qty
        wanted = {ln.key: self._cells(ln, sold) for ln in self.cart}
        for key in [k for k in self._shown if k not in wanted]:
            t.remove_row(key)
            del self._shown[key]
        columns = [c.key for c in t.ordered_columns]
        for key, cells in wanted.items():
            shown = self._shown.get(key)
            if shown is None:
                t.add_row(*cells, key=key)
            elif shown != cells:
                for col, old_text, new_text in zip(columns, shown, cells, strict=True):
                    if old_text != new_text:
                        t.update_cell(key, col, new_text)
            self._shown[key] = cells
        if self.cart:
            t.move_cursor(row=max(0, min(row, len(self.cart) - 1)))
        n = sum(ln.qty for ln in self.cart)
        self.query_one("#totals", Label).update(f"{n} item{'s' if n != 1 else ''}    TOTAL {money(self.total)}",
                                                layout=False)

    # -- scanning ---------------------------------------------------------------

    def on_input_submitted(self, ev: Input.Submitted) -> None:
        if ev.input.id != "scan":
            return
        t0 = perf_counter()
        text = ev.value.strip()
        ev.input.value = ""
        if not text:
            return
        mult = 1
        if "*" in text:
            times, _, text = text.partition("*")
            if not times.strip().isdigit() or int(times) < 1:
                self.say(f"'{times}*' is not a quantity; type e.g. 3* before the scan.", error=True)
                return
            mult = int(times)
        node = self.app.node
        try:
            item = node.resolve(text)
            balance = node.balance(item.sku)
        except StoreError as err:
            self.say(str(err), error=True)
            self.app.bell()
            return
        quota = balance.quota
        qty = item.units * mult
        in_cart = sum(ln.qty for ln in self.cart if ln.sku == item.sku and ln.hold_id is None)
        most = node.limits.max_line_qty
        if in_cart + qty > most:
            self.say(f"{item.name}: {in_cart + qty} on one line is more than the {most} allowed; "
                     f"check the quantity.", error=True)
            self.app.bell()
            return
        # The same rule the sale is written by: what the quota covers, what was found, what is refused.
        check = till_check(balance, in_cart + qty, node.policy)
        if check.refusal:
            self.say(f"{item.name}: only {quota} may be sold here without the hub (policy strict); "
                     f"{in_cart + qty} would be on this sale." if check.refusal_is_quota
                     else f"{item.name}: {check.refusal}", error=True)
            self.app.bell()
            return
        if check.confirm_found and not self.found_ok:
            def found(ok: bool | None) -> None:
                if ok:
                    self.found_ok = True
                    self.over_ok.add(item.sku)
                    self._add(item.sku, item.name, qty, item.unit_price, quota, perf_counter())
                else:
                    self.say(f"{item.name} not added.")
            self.app.push_screen(Confirm(
                f"{item.name}: the book has {check.book} ({check.book - max(check.free, 0)} held); "
                f"{in_cart + qty} on this sale finds {check.found} more. Are they all really in the "
                f"customer's hand?"), found)
            return
        if (check.over_quota or check.found) and item.sku not in self.over_ok:
            def confirmed(ok: bool | None) -> None:
                if ok:
                    self.over_ok.add(item.sku)
                    # timed from the clerk's answer: the wait for it is the clerk's, not the till's
                    self._add(item.sku, item.name, qty, item.unit_price, quota, perf_counter())
                else:
                    self.say(f"{item.name} not added.")
            self.app.push_screen(Confirm(
                f"{item.name}: this store's quota has {max(quota - in_cart, 0)} left. "
                f"Is the item in the customer's hand? It will be sold over quota and the hub settles it."),
                confirmed)
            return
        self._add(item.sku, item.name, qty, item.unit_price, quota, t0)

    def _add(self, sku: str, name: str, qty: int, price: int, quota: int, t0: float | None = None,
             hold_id: str | None = None) -> None:
        for i, ln in enumerate(self.cart):
            if ln.sku == sku and ln.unit_price == price and ln.hold_id is None and hold_id is None:
                ln.qty += qty
                ln.quota = quota
                self.refresh_lines(select=i)
                break
        else:
            self.cart.append(CartLine(sku, name, qty, price, quota, hold_id))
            self.refresh_lines(select=len(self.cart) - 1)
        self.say(f"{name}  {qty} x {money(price)}")
        if t0 is not None:
            # Measured from the scan's Enter to the frame that shows the line.
            self.app.call_after_refresh(lambda: self.app.scan_latencies.append((perf_counter() - t0) * 1000))

    def add_held(self, hold: dict, name: str, price: int) -> None:
        """Sell units a customer had put aside (from the check-in-the-back screen)."""
        if any(ln.hold_id == hold["hold_id"] for ln in self.cart):
            return
        self._add(hold["sku"], name, hold["qty"], price, 0, hold_id=hold["hold_id"])

    # -- line actions -------------------------------------------------------------

    def _selected(self) -> int | None:
        t = self.query_one("#lines", DataTable)
        return t.cursor_row if self.cart and 0 <= t.cursor_row < len(self.cart) else None

    def action_cursor(self, step: int) -> None:
        t = self.query_one("#lines", DataTable)
        if self.cart:
            t.move_cursor(row=max(0, min(t.cursor_row + step, len(self.cart) - 1)))

    def action_qty(self, step: int) -> None:
        i = self._selected()
        if i is None:
            return
        ln = self.cart[i]
        if ln.hold_id:
            self.say("A held line sells exactly what was put aside.", error=True)
            return
        if ln.qty + step < 1:
            self.say("Use F10 to void a line.")
            return
        ln.qty += step
        self.refresh_lines(select=i)

    def action_void(self) -> None:
        i = self._selected()
        if i is None:
            self.say("There is no line to void.")
            return
        ln = self.cart.pop(i)
        self.say(f"Voided {ln.name}.")
        self.refresh_lines(select=i)

    def action_park(self) -> None:
        if not self.cart:
            self.say("There is nothing to park.")
            return
        self.app.node.park_sale(self.sale_id, self._lines())
        self.say(f"Sale parked ({len(self.cart)} lines). F9 recalls it on any terminal.")
        self._new_sale()

    def action_recall(self) -> None:
        parked = self.app.node.parked_sales()
        if not parked:
            self.say("No parked sales.")
            return
        if self.cart:
            self.say("Park or finish this sale before recalling another.", error=True)
            return

        def chosen(park_id: str | None) -> None:
            if not park_id:
                return
            node = self.app.node
            try:
                lines = node.recall_sale(park_id)
            except StoreError as err:
                self.say(str(err), error=True)
                return
            self.sale_id = park_id  # the same sale: a retried payment keeps its operation id
            for ln in lines:
                item = node.resolve(ln.sku)
                self.cart.append(CartLine(ln.sku, item.name, ln.qty, ln.unit_price, node.balance(ln.sku).quota,
                                          ln.hold_id))
            self.refresh_lines(select=0)
            self.say(f"Recalled a sale of {len(lines)} lines.")
        self.app.push_screen(Recall(parked), chosen)

    # -- paying ---------------------------------------------------------------------

    def _lines(self) -> list[SaleLine]:
        return [SaleLine(ln.sku, ln.qty, ln.unit_price, ln.hold_id) for ln in self.cart]

    def _new_sale(self) -> None:
        self.cart.clear()
        self.over_ok.clear()
        self.found_ok = False
        self.sale_id = uuid.uuid4().hex
        self.refresh_lines(select=0)

    def action_pay(self) -> None:
        if not self.cart:
            self.say("Scan something first.")
            return

        def paid(how: tuple[str, int] | None) -> None:
            if how is None:
                return
            tender, tendered = how
            node = self.app.node
            try:
                result = node.sell(self.sale_id, self._lines(), tender, confirm_found=self.found_ok)
            except ConfirmFound as err:
                # the book moved since the scan (another till): the clerk answers, then it is paid
                def confirmed(ok: bool | None) -> None:
                    if ok:
                        self.found_ok = True
                        paid(how)
                    else:
                        self.say("Not paid: change the quantities, or confirm the units found.", error=True)
                self.app.push_screen(Confirm(str(err).replace(" (at the command line: --confirm-found)", "")),
                                     confirmed)
                return
            except StoreError as err:
                self.say(str(err), error=True)
                self.app.bell()
                return
            names = {ln.sku: ln.name for ln in self.cart}
            text = receipt_text(result, names, self.app.store_name, clerk=node.clerk, tendered=tendered)
            path = self.app.receipts_dir / f"{result['receipt']}.txt"
            path.write_text(text)
            change = f" Change due {money(tendered - result['total'])}." if tendered > result["total"] else ""
            self._new_sale()
            self.say(f"Sold: receipt {result['receipt']}, total {money(result['total'])}.{change}")
            self.app.push_screen(Receipt(text, str(Path(path).name)))
        self.app.push_screen(Tender(self.total), paid)
