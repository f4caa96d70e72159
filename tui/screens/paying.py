"""Finishing a sale on the sale screen: paying, parking, and what quitting does with an open sale.

Each of these writes, so each runs on the app's writer thread while the cart
is locked (`SaleScreen.busy`); the answer comes back to the screen, which
then starts the next customer's sale or says why it could not.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from node.errors import ConfirmFound, StoreError
from node.present import money, receipt_text
from node.service import Node
from tui.screens.dialogs import Confirm, Receipt, Tender

_CLI_HINT = " (at the command line: --confirm-found)"


def _sell_and_file(node: Node, sale_id: str, lines: list, tender: str, tendered: int, confirm_found: bool,
                   names: dict[str, str], store_name: str, receipts: Path, width: int) -> tuple[dict, str, str]:
    """Runs on the writer thread: the sale, its receipt on disk, and the open sale no longer kept."""
    result = node.sell(sale_id, lines, tender, confirm_found=confirm_found)
    text = receipt_text(result, names, store_name, clerk=node.clerk, tendered=tendered, width=width)
    node.drop_open_sale(sale_id)
    path = receipts / f"{result['receipt']}.txt"
    try:
        path.write_text(text)
    except OSError as err:  # the sale stands; the screen shows its receipt and why no copy was filed
        return result, text, f"nowhere ({err.strerror})"
    return result, text, path.name


class Paying:
    """The sale screen's payment, park and quit (mixed into SaleScreen)."""

    def action_pay(self) -> None:
        if self._locked():
            return
        if not self.cart:
            self.say("Scan something first.")
            return
        self.app.push_screen(Tender(self.total), self._pay)

    def _pay(self, how: tuple[str, int] | None) -> None:
        if how is None:
            self.focus_scan()
            return
        tender, tendered = how
        self.busy = "Saving the sale"
        self._open_dirty = False  # the sale itself is written now: no autosave of it may follow
        names = {ln.sku: ln.name for ln in self.cart}

        def paid(out: tuple[dict, str, str]) -> None:
            self.busy = None
            result, text, saved_to = out
            change = f" Change due {money(tendered - result['total'])}." if tendered > result["total"] else ""
            self._new_sale()
            self.say(f"Sold: receipt {result['receipt']}, total {money(result['total'])}.{change}")
            self.app.push_screen(Receipt(text, saved_to, self.limits.receipt_width))

        def refused(err: StoreError) -> None:
            self.busy = None
            if isinstance(err, ConfirmFound):
                # the book moved since the scan (another till): the clerk answers, then it is paid
                def confirmed(ok: bool | None) -> None:
                    if ok:
                        self.found_ok = True
                        self._pay(how)
                    else:
                        self.say("Not paid: change the quantities, or confirm the units found.", error=True)
                self.app.push_screen(Confirm(str(err).replace(_CLI_HINT, "")), confirmed)
                return
            self.say(f"Not paid: {err}", error=True)

        self.app.writer.submit(_sell_and_file, self.sale_id, self._lines(), tender, tendered, self.found_ok,
                               names, self.app.store_name, self.app.receipts_dir, self.limits.receipt_width,
                               done=paid, failed=refused)

    def action_park(self, then: Callable[[], None] | None = None) -> None:
        if self._locked():
            return
        if not self.cart:
            self.say("There is nothing to park.")
            return
        self.busy = "Parking the sale"
        self._open_dirty = False
        n = len(self.cart)

        def parked(_: None) -> None:
            self.busy = None
            self._new_sale()
            self.say(f"Sale parked ({n} lines). F9 recalls it on any terminal.")
            if then is not None:
                then()

        def refused(err: StoreError) -> None:
            self.busy = None
            self.say(f"Not parked: {err}", error=True)
        self.app.writer.submit(lambda node, sale_id, lines: node.park_sale(sale_id, lines), self.sale_id,
                               self._lines(), done=parked, failed=refused)

    def void_sale(self, then: Callable[[], None]) -> None:
        """Void the whole open sale (asked for on quitting): nothing of it is kept."""
        self.busy = "Voiding the sale"
        self._open_dirty = False

        def voided(_: None) -> None:
            self.busy = None
            self._new_sale()
            then()
        self.app.writer.submit(lambda node, sale_id: node.drop_open_sale(sale_id), self.sale_id,
                               done=voided, failed=lambda err: voided(None))
