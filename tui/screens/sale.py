"""The sale screen: the scan field always has focus; a line lands the moment a scan does.

A scan only reads (through `app.till`, a connection of the UI thread's own),
so it never waits on the node file's write lock. Everything that writes
(paying, parking, recalling, keeping the open sale safe, noting a walk-in
turned away for want of quota) goes through the app's writer thread; while
a sale is being written the cart is locked and says so, and the rest of the
screen keeps working.
"""

from __future__ import annotations

import uuid
from time import perf_counter

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Static

from node.entry import read_entry
from node.errors import StoreError
from node.present import money
from node.rules import till_check
from tui import keys
from tui.screens.cart import CartLine, CartTable
from tui.screens.dialogs import Confirm, Quantity
from tui.screens.keeping import Keeping
from tui.screens.paying import Paying
from tui.widgets.cartview import CartView
from tui.widgets.scanfield import ScanField


class SaleScreen(Paying, Keeping, Screen):
    BINDINGS = [*keys.screen_bindings(keys.EVERYWHERE, keys.SALE),
                Binding("up", "cursor(-1)", "Up", priority=True, show=False),
                Binding("down", "cursor(1)", "Down", priority=True, show=False)]

    def __init__(self) -> None:
        super().__init__()
        self.cart: list[CartLine] = []
        self.sale_id = uuid.uuid4().hex
        self.over_ok: set[str] = set()  # SKUs the clerk confirmed as in the customer's hand
        self.found_ok = False  # the clerk confirmed units far past the book as really in hand
        self.busy: str | None = None  # what is being written now (the cart waits for it)
        self._saving_open = False  # an autosave of the open sale is in the writer's queue
        self._open_dirty = False  # the cart changed since that autosave was queued

    def compose(self) -> ComposeResult:
        yield Label("", id="title")
        yield CartView(id="lines")
        yield Label("", id="totals")
        yield Static("", id="message")
        yield ScanField(placeholder="Scan, or type a SKU (3* before a scan = 3 of it; ? = keys)", id="scan")
        yield self.app.make_status_bar()
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        till = self.app.till
        self.limits = till.limits
        self.table = CartTable(self.query_one("#lines", CartView), self.app.size.width, self.limits.max_line_qty)
        self.query_one("#title", Label).update(f"Sale · {self.app.store_name}")
        self.refresh_lines()
        self._bring_back_open_sale()

    def on_screen_resume(self) -> None:
        self.focus_scan()

    def on_screen_suspend(self) -> None:
        self.query_one(ScanField).let_paint(prompt=True)  # what a scan or a key opened paints at once, in one go

    # -- helpers --------------------------------------------------------------

    def focus_scan(self) -> None:
        self.query_one("#scan", Input).focus()

    def say(self, text: str, *, error: bool = False) -> None:
        msg = self.query_one("#message", Static)
        # The message grows for a long text: lay the screen out only when it may need other than one line.
        one_line = msg.size.width - 2
        msg.update(text, layout=len(text) > one_line or len(str(msg.content)) > one_line)
        msg.set_class(error, "-error")
        if error:
            self.app.bell()
            self.focus_scan()  # the next scan goes where a scan belongs, whatever was refused

    @property
    def total(self) -> int:
        return sum(ln.qty * ln.unit_price for ln in self.cart)

    def refresh_lines(self, select: int | None = None) -> None:
        self.table.show(self.cart, select)
        n = sum(ln.qty for ln in self.cart)
        self.query_one("#totals", Label).update(f"{n} item{'s' if n != 1 else ''}    TOTAL {money(self.total)}",
                                                layout=False)

    def _locked(self) -> bool:
        if self.busy:
            self.say(f"{self.busy}; one moment.", error=True)
        return self.busy is not None

    # -- scanning ---------------------------------------------------------------

    def on_input_submitted(self, ev: Input.Submitted) -> None:
        if isinstance(ev.input, ScanField):
            try:
                self.scan(ev.value)
            finally:
                ev.input.value = ""
                # Once the screen has the widgets' updates: the line and the emptied field in one frame.
                self.call_after_refresh(ev.input.let_paint)

    def scan(self, value: str) -> None:
        t0 = perf_counter()
        text = value.strip()
        if not text or self._locked():
            return
        till = self.app.till
        try:
            entry = read_entry(text, most=self.limits.max_line_qty)
            item = till.resolve(entry.code)
            balance = till.balance(item.sku)
        except StoreError as err:
            self.say(str(err), error=True)
            return
        qty = item.units * entry.times
        in_cart = sum(ln.qty for ln in self.cart if ln.sku == item.sku and ln.hold_id is None)
        most = self.limits.max_line_qty
        if in_cart + qty > most:
            self.say(f"{item.name}: {in_cart + qty} on one line is more than the {most} allowed; "
                     f"check the quantity.", error=True)
            return
        check = till_check(balance, in_cart + qty, till.policy)  # the rule the sale is written by
        if check.refusal:
            self.say(f"{item.name}: {check.refusal}", error=True)
            if check.refusal_is_quota:  # a walk-in turned away for want of quota: noted apart, never the ledger
                self.app.writer.submit(lambda node, sku, n: node.record_refusal(sku, n, "till"), item.sku, qty,
                                       failed=lambda err: None)
            return
        add = lambda when: self._add(item.sku, item.name, qty, item.unit_price, balance.quota, when)  # noqa: E731
        questions = []
        if qty > self.limits.confirm_line_qty:
            questions.append(f"Sell {qty} of {item.name} on this line? That is a lot for one scan.")
        if check.confirm_found and not self.found_ok:
            questions.append(
                f"{item.name}: the book has {check.book} ({check.book - max(check.free, 0)} held); "
                f"{in_cart + qty} on this sale finds {check.found} more. Are they all really in the customer's hand?")
        elif (check.over_quota or check.found) and item.sku not in self.over_ok:
            questions.append(
                f"{item.name}: this store's quota has {max(balance.quota - in_cart, 0)} left. Is the item in the "
                f"customer's hand? It will be sold over quota and the hub settles it.")
        if not questions:
            add(t0)
            return

        def answered(ok: bool | None) -> None:
            if not ok:
                self.say(f"{item.name} not added.")
                return
            if check.confirm_found:
                self.found_ok = True
            if check.over_quota or check.found:
                self.over_ok.add(item.sku)
            add(perf_counter())  # timed from the clerk's answer: the wait for it is the clerk's
        self.app.push_screen(Confirm("\n\n".join(questions)), answered)

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
        self.cart_changed()

    def add_held(self, hold: dict, name: str, price: int) -> None:
        """Sell units a customer had put aside (from the check-in-the-back screen)."""
        if self._locked() or any(ln.hold_id == hold["hold_id"] for ln in self.cart):
            return
        self._add(hold["sku"], name, hold["qty"], price, 0, hold_id=hold["hold_id"])

    # -- line actions -------------------------------------------------------------

    def _selected(self) -> int | None:
        t = self.query_one("#lines", CartView)
        return t.cursor_row if self.cart and 0 <= t.cursor_row < len(self.cart) else None

    def action_cursor(self, step: int) -> None:
        t = self.query_one("#lines", CartView)
        if self.cart:
            t.move_cursor(row=max(0, min(t.cursor_row + step, len(self.cart) - 1)))

    def action_qty(self) -> None:
        i = self._selected()
        if self._locked():
            return
        if i is None:
            self.say("There is no line to change; scan something first.")
            return
        ln = self.cart[i]
        if ln.hold_id:
            self.say("A held line sells exactly what was put aside.", error=True)
            return

        def chosen(qty: int | None) -> None:
            if qty is not None and qty != ln.qty and ln in self.cart:
                ln.qty = qty
                self.refresh_lines(select=self.cart.index(ln))
                self.say(f"{ln.name}: {qty}.")
                self.cart_changed()
        self.app.push_screen(Quantity(ln.name, ln.qty, self.limits.max_line_qty), chosen)

    def action_void(self) -> None:
        i = self._selected()
        if self._locked():
            return
        if i is None:
            self.say("There is no line to void.")
            return
        ln = self.cart.pop(i)
        self.say(f"Voided {ln.name}.")
        self.refresh_lines(select=i)
        self.cart_changed()

    def _lines(self) -> list:
        return [ln.sale_line() for ln in self.cart]

    def _new_sale(self) -> None:
        self.cart.clear()
        self.over_ok.clear()
        self.found_ok = False
        self.sale_id = uuid.uuid4().hex
        self.refresh_lines(select=0)
        self.focus_scan()
