"""Keeping a sale on the sale screen: the open sale saved in the node file as it changes and brought back
after a crash, and a parked sale recalled.

The open sale is written on the app's writer thread, one autosave at a time
and after the frame that shows the change; a sale being paid, parked or
voided (`SaleScreen.busy`) is not autosaved, since that write is the last
word on it. Parking itself is in `tui.screens.paying`.
"""

from __future__ import annotations

from node.errors import StoreError
from node.present import local_time
from tui.screens.cart import CartLine
from tui.screens.dialogs import Recall


class Keeping:
    """The sale screen's open sale kept in the node file, and recalling a parked sale (mixed into SaleScreen)."""

    def cart_changed(self) -> None:
        """Keep the sale on screen in the node file, so a crash or a kill of this terminal loses nothing."""
        if self.busy:  # the sale is being paid, parked or voided: that write is the last word on it
            return
        if self._saving_open:
            self._open_dirty = True  # one autosave at a time: the next one takes the cart as it is then
            return
        self._saving_open, self._open_dirty = True, False

        def saved(_: object = None) -> None:
            self._saving_open = False
            if self._open_dirty and not self.busy:
                self.cart_changed()

        def save() -> None:
            if self.busy:  # paid or parked since: that write says what becomes of this sale
                self._saving_open = False
                return
            self.app.writer.submit(lambda node, sale_id, lines: node.park_sale(sale_id, lines, open_=True),
                                   self.sale_id, self._lines(), done=saved, failed=saved)
        # After the frame that shows the change: the write's thread then does not compete with the paint.
        self.app.call_after_refresh(save)

    def _bring_back_open_sale(self) -> None:
        found = self.app.till.open_sale()
        if found is None:
            return
        self._take_lines(found["park_id"], found["lines"])
        self.say(f"Your unfinished sale from {local_time(found['parked_at'], '%H:%M')} is back "
                 f"({len(found['lines'])} lines).")

    def _take_lines(self, sale_id: str, lines: list) -> None:
        till = self.app.till
        self.sale_id = sale_id  # the same sale: a retried payment keeps its operation id
        for ln in lines:
            try:
                item, quota = till.resolve(ln.sku, for_sale=False), till.balance(ln.sku).quota
            except StoreError:  # gone from the catalog since: keep the line as it was sold
                item, quota = None, 0
            self.cart.append(CartLine(ln.sku, item.name if item else ln.sku, ln.qty, ln.unit_price, quota,
                                      ln.hold_id))
        self.refresh_lines(select=0)

    def action_recall(self) -> None:
        if self._locked():
            return
        parked = self.app.till.parked_sales()
        if not parked:
            self.say("No parked sales.")
            return
        if self.cart:
            self.say("Park or finish this sale before recalling another.", error=True)
            return

        def chosen(park_id: str | None) -> None:
            if not park_id:
                return
            self.busy = "Recalling the sale"

            def recalled(lines: list) -> None:
                self.busy = None
                self._take_lines(park_id, lines)
                self.say(f"Recalled a sale of {len(lines)} lines.")
                self.cart_changed()

            def refused(err: StoreError) -> None:
                self.busy = None
                self.say(str(err), error=True)
            self.app.writer.submit(lambda node: node.recall_sale(park_id), done=recalled, failed=refused)
        self.app.push_screen(Recall(parked), chosen)

