"""The sale's lines and how they are shown.

The columns are as wide as the largest figure they may hold (a line of the
store's maximum quantity at the dearest price a unit may have), so no figure
is ever cut; the item's name takes the rest of the width.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from node.bounds import MAX_UNIT_PRICE, MAX_UNITS
from node.present import money
from node.rules import SaleLine
from tui.widgets.cartview import CartView

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

    def sale_line(self) -> SaleLine:
        return SaleLine(self.sku, self.qty, self.unit_price, self.hold_id)


def columns(width: int, max_line_qty: int) -> list[tuple[str, int]]:
    """(label, width) of each column for a table `width` cells wide."""
    qty = max(3, len(str(max_line_qty)))
    each = len(money(MAX_UNIT_PRICE))
    amount = len(money(MAX_UNIT_PRICE * max_line_qty))
    quota = len(f"-{max_line_qty} OVER") if max_line_qty < MAX_UNITS else len(str(MAX_UNITS))
    fixed = qty + each + amount + quota
    # Each column pads one cell either side; two more for the table's scrollbar.
    item = max(12, width - fixed - 2 * 5 - 2)
    return [("Item", item), ("Qty", qty), ("Each", each), ("Amount", amount), ("Quota", quota)]


class CartTable:
    """Shows the cart in a CartView: one row per line, as wide as `columns` says."""

    def __init__(self, view: CartView, width: int, max_line_qty: int) -> None:
        self.view = view
        self.cols = columns(width, max_line_qty)
        view.columns = self.cols

    def cells(self, ln: CartLine, sold: dict[str, int]) -> tuple[str, ...]:
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
        return (name[: self.cols[0][1]], str(ln.qty), money(ln.unit_price), money(ln.qty * ln.unit_price), quota)

    def show(self, cart: list[CartLine], select: int | None = None) -> None:
        row = self.view.cursor_row if select is None else select
        sold: dict[str, int] = {}
        for ln in cart:
            if ln.hold_id is None:
                sold[ln.sku] = sold.get(ln.sku, 0) + ln.qty
        self.view.show([self.cells(ln, sold) for ln in cart], max(0, min(row, len(cart) - 1)))
