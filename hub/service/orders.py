"""Web orders after checkout: how one stands, fulfilled (shipped, or asked of a store), cancelled, re-sourced.

Each write is one transaction over the order and the positions it moves, retried whole
on a serialization failure, so of two racing requests (two cancels, a cancel and the
push that hands the order over) exactly one changes the order and the other sees what
it did. A repeat under the same idempotency key answers as the first time.
"""

from __future__ import annotations

from sqlalchemy import Connection, insert, update

from hub import rules
from hub.db import driver_sql, reservations, transact
from hub.db.schema import order_resourcings
from hub.rules import Position, Reservation
from hub.service.common import _POSITION_COLS
from sync.kinds import stamp

BEST = "best"  # re-source to whichever other location can promise most


def order_view(r: Reservation) -> dict:
    """An order as the web shop and ops see it."""
    return {"order_id": r.reservation_id, "status": r.status, "location": r.location, "sku": r.sku, "qty": r.qty,
            "at_risk": r.at_risk, "how": r.how}


def at_risk_view(row: dict) -> dict:
    """A reservation at risk as ops sees it. An order never expires: the `expires_at` its cart had is
    no deadline any more, so only a cart hold shows one."""
    return {**row, "expires_at": row["expires_at"] if row["status"] == "held" else None}


class OrderOps:
    """Orders after checkout (a part of Hub; `_reservation` is WebOps')."""

    def order(self, rid: str) -> dict:
        with self.reads.connect() as conn:  # one statement
            return order_view(self._reservation(conn, rid))

    def fulfil(self, rid: str, how: str, key: str | None = None) -> dict:
        """Ship the order (from the warehouse now; from a store, asked of it) or have it picked up at its store."""
        if how not in rules.FULFILMENTS:
            raise rules.BadRequest(f"An order is fulfilled by pickup or ship, not {how!r}.")

        def work(conn: Connection) -> dict:
            r = self._reservation(conn, rid)
            loc = self._location(conn, r.location)
            ps = self._positions(conn, r.location, [r.sku])
            before = self._snapshot(ps)
            if rules.fulfil(ps[r.sku], r, how, at_store=loc.kind == "store"):
                if r.status == "done":  # the units left the hub's own location
                    self._save(conn, before, ps.values(), stamp(self.clock()))
                self._write_order(conn, r)
            return order_view(r)
        return transact(self.engine, lambda conn: self._once(conn, key and f"{how}:{key}", work, rid))

    def cancel_order(self, rid: str, key: str | None = None) -> dict:
        """The customer cancels: the units return to the hub's share. Cancelling again changes nothing."""
        def work(conn: Connection) -> dict:
            r = self._reservation(conn, rid)
            ps = self._positions(conn, r.location, [r.sku])
            before = self._snapshot(ps)
            if rules.cancel_order(ps[r.sku], r):
                self._save(conn, before, ps.values(), stamp(self.clock()))
                self._write_order(conn, r)
            return order_view(r)
        return transact(self.engine, lambda conn: self._once(conn, key and f"cancel_order:{key}", work, rid))

    def resource(self, rid: str, location: str = BEST, key: str | None = None) -> dict:
        """Move an at-risk order to another location's hub share (`best`: the one that can promise most)."""
        if not location or len(location) > 32:
            raise rules.BadRequest("A location is 1 to 32 characters, or 'best'.")

        def work(conn: Connection) -> dict:
            r = self._reservation(conn, rid)
            rules.may_resource(r)
            if location == BEST:
                cands = [Position(*row) for row in driver_sql(
                    conn, f"SELECT {_POSITION_COLS} FROM positions WHERE sku = ?", (r.sku,))]
                where = rules.best_elsewhere(cands, r).location
            else:
                where = self._location(conn, location).id
            old, new = self._positions(conn, r.location, [r.sku]), self._positions(conn, where, [r.sku])
            before_old, before_new = self._snapshot(old), self._snapshot(new)
            left = r.location
            rules.resource(old[r.sku], new[r.sku], r)
            now = stamp(self.clock())
            self._save(conn, before_old, old.values(), now)
            self._save(conn, before_new, new.values(), now)
            self._write_order(conn, r)
            # Kept for the nightly report's web section (re-sourced, counted at the location the order left).
            conn.execute(insert(order_resourcings).values(reservation_id=r.reservation_id, from_location=left,
                                                          to_location=r.location, qty=r.qty, at=now))
            return order_view(r)
        return transact(self.engine, lambda conn: self._once(conn, key and f"resource:{key}", work,
                                                             (rid, location)))

    @staticmethod
    def _write_order(conn: Connection, r: Reservation) -> None:
        conn.execute(update(reservations).where(reservations.c.reservation_id == r.reservation_id).values(
            status=r.status, how=r.how, location=r.location, at_risk=r.at_risk))
