"""Walk-ins turned away for want of quota: a strict store's sale refused, or the till refusing a scan.

Nothing of a refused sale reaches the ledger (no stock, quota or sequence moves), so the hub would never
hear of it. The node keeps a small record apart instead: one row per refusal (business date in the
store's zone, SKU, units, when, terminal and clerk, and where: `sale` or `till`), written in its own
transaction after the refusal. A refused sale is kept under its operation id, once: a terminal that crashes
and retries it under the same id turned one walk-in away, not two. The end-of-day snapshot carries each SKU's
units and times turned away that business date, and the nightly report counts them.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import TYPE_CHECKING

from node.bounds import MAX_TERMINAL, check_qty, check_text
from node.errors import StoreError
from node.rules import closing
from node.store import immediate
from sync.kinds import stamp

if TYPE_CHECKING:
    from node.service import Node

log = logging.getLogger("backroom.node.refusals")
SOURCES = ("sale", "till")


class Refusals:
    """`Node`'s record of walk-ins turned away for want of quota."""

    def record_refusal(self: Node, sku: str, qty: int, source: str = "till", *, op_id: str | None = None) -> None:
        """Record that `qty` units of `sku` were refused for want of quota; never the ledger. Under an `op_id`
        already recorded, nothing more (a retry of the same refused sale)."""
        check_text(sku, "A SKU")
        if op_id is not None:
            check_text(op_id, "An operation id")
        check_qty(qty, most=self.limits.max_line_qty)
        check_text(self.terminal, "A terminal id", most=MAX_TERMINAL)
        check_text(self.clerk, "A clerk's name")
        if source not in SOURCES:
            raise ValueError(f"a refusal comes from one of {SOURCES}, not {source!r}")
        now = self.clock()
        day = closing.business_date(now, self.meta().get("tz")).isoformat()
        with immediate(self.conn) as c:
            # ON CONFLICT on the op id alone: OR IGNORE would also drop a row that breaks a CHECK, in silence
            c.execute("INSERT INTO refused_sales (business_date, sku, qty, at, terminal, clerk, source, op_id) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (op_id) WHERE op_id IS NOT NULL DO NOTHING",
                      (day, sku, qty, stamp(now), self.terminal, self.clerk, source, op_id))

    def note_refusal(self: Node, sku: str, qty: int, source: str, *, op_id: str | None = None) -> None:
        """record_refusal for a refusal already being raised: a failure to record is logged, never raised
        over the refusal itself (the clerk must see why the sale was refused)."""
        try:
            self.record_refusal(sku, qty, source, op_id=op_id)
        except (StoreError, sqlite3.Error) as err:
            log.warning("a refused sale of %s x %s was not recorded: %s", qty, sku, err)

    def refused_sales(self: Node, day: str) -> dict[str, tuple[int, int]]:
        """SKU -> (units, times) turned away on business date `day`."""
        return {r[0]: (r[1], r[2]) for r in self.conn.execute(
            "SELECT sku, SUM(qty), COUNT(*) FROM refused_sales WHERE business_date = ? GROUP BY sku ORDER BY sku",
            (day,))}
