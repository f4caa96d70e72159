"""Web orders to hand over: the ones the hub asked this store for, and handing one over.

The list is as of the store's last pull (the sync runner brings it); it is read
again every few seconds. Enter on an order asks "hand it over?", and the
hand-over is written on the app's writer thread: one ledger entry out of the
hub's share, never the store's quota. A refusal (withdrawn, handed over by
another terminal, units gone) is said in the message line.
"""

from __future__ import annotations

import uuid

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label

from node.errors import StoreError
from tui import keys
from tui.screens.dialogs import Confirm

HOW = {"pickup": "pick-up", "ship": "send off"}
REFRESH_S = 3.0


class HandOverScreen(Screen):
    BINDINGS = keys.screen_bindings((keys.HELP, keys.LOOKUP, keys.STOCK, keys.QUIT), (keys.BACK,))

    def __init__(self) -> None:
        super().__init__()
        self.orders: dict[str, dict] = {}
        self._shown: dict[str, dict] | None = None  # what the table shows; None: draw it again
        self.saving = False

    def compose(self) -> ComposeResult:
        yield Label("Web orders to hand over · Enter on one hands it over", id="title")
        yield DataTable(id="orders", cursor_type="row")
        yield Label("", id="message")
        yield self.app.make_status_bar()
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        t = self.query_one("#orders", DataTable)
        for label, width in (("Order", 24), ("Item", 30), ("Units", 5), ("How", 9)):
            t.add_column(label, width=width)
        self.refresh_orders()
        self.set_interval(REFRESH_S, self.refresh_orders)
        t.focus()

    def focus_scan(self) -> None:
        self.query_one("#orders", DataTable).focus()

    def on_screen_resume(self) -> None:
        self.focus_scan()

    def say(self, text: str, *, error: bool = False) -> None:
        m = self.query_one("#message", Label)
        m.update(text)
        m.set_class(error, "-error")
        if error:
            self.app.bell()

    def refresh_orders(self) -> None:
        orders = {o["order_id"]: o for o in self.app.till.orders_to_hand_over()}
        if orders == self._shown:
            return
        self.orders = self._shown = orders
        t = self.query_one("#orders", DataTable)
        keep = t.cursor_row
        t.clear()
        for o in orders.values():
            t.add_row(o["order_id"], f"{o['sku']} {o['name']}"[:30], str(o["qty"]), HOW.get(o["how"], o["how"]),
                      key=o["order_id"])
        if orders:
            t.move_cursor(row=min(keep, len(orders) - 1))
        elif not str(self.query_one("#message", Label).content):
            self.say("No web orders to hand over (as of the last sync).")

    def on_data_table_row_selected(self, ev: DataTable.RowSelected) -> None:
        o = self.orders.get(str(ev.row_key.value))
        if o is None or self.saving:
            return
        what = "picked up by the customer" if o["how"] == "pickup" else "given to the carrier"
        self.app.push_screen(Confirm(f"Hand over order {o['order_id']}: {o['qty']} × {o['name'] or o['sku']}, "
                                     f"{what}?"), lambda ok: self._hand_over(o) if ok else self.focus_scan())

    def _hand_over(self, o: dict) -> None:
        self.saving = True
        op_id = uuid.uuid4().hex
        self.app.writer.submit(lambda node: node.hand_over(op_id, o["order_id"]),
                               done=lambda _: self._done(o), failed=self._refused)

    def _done(self, o: dict) -> None:
        self.saving = False
        self.say(f"Order {o['order_id']} handed over: {o['qty']} × {o['name'] or o['sku']}.")
        self._shown = None  # read the list again
        self.refresh_orders()
        self.focus_scan()

    def _refused(self, err: StoreError) -> None:
        self.saving = False
        self.say(str(err), error=True)
        self._shown = None
        self.refresh_orders()
        self.focus_scan()
