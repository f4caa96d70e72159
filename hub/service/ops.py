"""What the hub does for central ops: setting up the chain, quota moves, views, incidents, the changefeed."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from hub import db, rules
from hub.db import driver_sql
from hub.db import (
    grants, incidents, items, locations, opening_stock, release_requests, reservations,
    store_contacts, store_entries, transact, transfers,
)
from hub.rules import Position
from hub.service.common import POSITION_FIGURES
from sync.kinds import Policy, parse_stamp, stamp


# The changefeed's columns, as select(changefeed) gives them, from a position on.
_FEED_PAGE = ("SELECT id, position, location, sku, kind, on_hand, available, at FROM changefeed "
              "WHERE position >= ? ORDER BY position LIMIT ?")


class OpsOps:
    """Central ops' operations (a part of Hub)."""

    def load_chain(self, chain: Any, *, quota_share: float = 0.7, policy: str = Policy.IN_HAND) -> dict:
        """Load a fixtures chain: catalog, locations, the warehouse's stock, each store's opening split."""
        now = stamp(self.clock())

        def tx(conn: Connection) -> dict:
            if conn.execute(select(func.count()).select_from(locations)).scalar():
                raise rules.BadRequest("This hub already holds a chain; use a new database.")
            conn.execute(insert(items), [
                {**{k: v for k, v in asdict(it).items()}, "feed_id": 0} for it in chain.catalog])
            conn.execute(insert(locations), [
                {"id": loc.id, "name": loc.name, "kind": loc.kind, "policy": policy, "next_seq": 1,
                 "next_grant_no": 1, "blocked": False} for loc in chain.locations])
            n_open = 0
            for loc in chain.locations:
                rows = list(chain.stock(loc.id))
                if loc.kind == "warehouse":
                    totals: dict[str, int] = {}
                    for ln in rows:
                        totals[ln.sku] = totals.get(ln.sku, 0) + ln.qty
                    ps = [Position(loc.id, sku, on_hand=q, hub_share=q, safety_buffer=chain.item(sku).safety_buffer)
                          for sku, q in totals.items()]
                    self._save(conn, {}, ps, now)
                    continue
                per_sku: dict[str, list] = {}
                for ln in rows:
                    per_sku.setdefault(ln.sku, []).append(ln)
                opening = []
                for sku, lns in per_sku.items():
                    total = sum(ln.qty for ln in lns)
                    quota = int(max(0, total - chain.item(sku).safety_buffer) * quota_share)
                    for ln in sorted(lns, key=lambda x: x.bin):
                        q = min(ln.qty, quota)
                        quota -= q
                        opening.append({"location": loc.id, "sku": sku, "bin": ln.bin, "qty": ln.qty, "quota": q})
                if opening:
                    conn.execute(insert(opening_stock), opening)
                n_open += len(opening)
            return {"items": len(chain.catalog), "locations": len(chain.locations), "opening_lines": n_open}

        return transact(self.engine, tx)

    def grant(self, store_id: str, sku: str, qty: int, key: str | None = None) -> dict:
        """Hub -> store: the hub's share goes down in the same transaction that records the grant."""
        def work(conn: Connection) -> dict:
            return self._grant_in(conn, store_id, sku, qty)
        return transact(self.engine, lambda conn: self._once(conn, key and f"grant:{key}", work, (store_id, sku, qty)))

    def _grant_in(self, conn: Connection, store_id: str, sku: str, qty: int) -> dict:
        """A grant, in the caller's transaction."""
        loc = self._location(conn, store_id, "store")
        ps = self._positions(conn, store_id, [sku])
        before = self._snapshot(ps)
        rules.grant(ps[sku], qty, blocked=loc.blocked)
        # Unique for ever: a hub restored from a backup rewinds next_grant_no, and a node that
        # already applied the old grant of that number must not take a new one for a repeat.
        grant_id = f"G-{store_id}-{loc.next_grant_no}-{self.unique(4)}"
        conn.execute(insert(grants).values(grant_id=grant_id, store_id=store_id, grant_no=loc.next_grant_no,
                                           sku=sku, qty=qty, status="in_flight", created_at=stamp(self.clock())))
        conn.execute(update(locations).where(locations.c.id == store_id).values(next_grant_no=loc.next_grant_no + 1))
        self._save(conn, before, ps.values(), stamp(self.clock()))
        return {"grant_id": grant_id, "grant_no": loc.next_grant_no, "store_id": store_id, "sku": sku, "qty": qty}

    def request_release(self, store_id: str, sku: str, qty: int, key: str | None = None) -> dict:
        """Store -> hub: the hub only asks; units join its share when the store's release entry arrives."""
        if qty <= 0:
            raise rules.BadRequest(f"A release request must be of at least 1 unit, not {qty}.")

        def work(conn: Connection) -> dict:
            self._location(conn, store_id, "store")
            self._positions(conn, store_id, [sku])
            rid = f"RR-{store_id}-{self.unique(6)}"
            conn.execute(insert(release_requests).values(request_id=rid, store_id=store_id, sku=sku, qty=qty,
                                                         status="open", created_at=stamp(self.clock())))
            return {"request_id": rid, "store_id": store_id, "sku": sku, "qty": qty}
        return transact(self.engine,
                        lambda conn: self._once(conn, key and f"release:{key}", work, (store_id, sku, qty)))

    def stock(self, sku: str) -> dict:
        """Every location's figures of `sku`, and the transfers on their way (on no location's hand:
        the sender's entry took them off, the receiver's has not yet put them on)."""
        with self.consistent_reads.connect() as conn:
            rows = self._sku_positions(conn, sku)
            moving = [dict(r._mapping) for r in conn.execute(
                select(transfers.c.transfer_id, transfers.c.from_location, transfers.c.to_location, transfers.c.qty,
                       transfers.c.sent_at).where(transfers.c.sku == sku, transfers.c.status == "in_transit")
                .order_by(transfers.c.sent_at))]
        per = [{"location": p.location, **{f: getattr(p, f) for f in POSITION_FIGURES}, "promisable": p.promisable}
               for p in rows]
        totals = {f: sum(x[f] for x in per) for f in (*POSITION_FIGURES, "promisable")}
        return {"sku": sku, "locations": per, "total": {**totals, "in_transit": sum(t["qty"] for t in moving)},
                "in_transit": moving}

    def sync_state(self) -> list[dict]:
        now = self.clock()
        with self.consistent_reads.connect() as conn:
            open_inc = dict(conn.execute(select(incidents.c.store_id, func.count()).where(
                incidents.c.cleared_at.is_(None)).group_by(incidents.c.store_id)).all())
            in_flight = dict(conn.execute(select(grants.c.store_id, func.count()).where(
                grants.c.status == "in_flight").group_by(grants.c.store_id)).all())
            # A pull is contact too: a quiet store that only pulls is online (noted by BalanceOps._note_at_pull).
            pulled = dict(conn.execute(select(store_contacts.c.store_id, func.max(store_contacts.c.until))
                                       .group_by(store_contacts.c.store_id)).all())
            out = []
            for r in conn.execute(select(locations).where(locations.c.kind == "store").order_by(locations.c.id)):
                seen = max((t for t in (r.last_seen, pulled.get(r.id)) if t), key=parse_stamp, default=None)
                lag = (now - parse_stamp(seen)).total_seconds() if seen else None
                out.append({"store_id": r.id, "name": r.name, "last_seq": r.next_seq - 1, "last_seen": seen,
                            "lag_s": lag, "last_push": r.last_seen, "open_incidents": open_inc.get(r.id, 0),
                            "blocked": r.blocked, "grants_in_flight": in_flight.get(r.id, 0)})
        return out

    def at_risk(self) -> list[dict]:
        with self.consistent_reads.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(reservations).where(
                reservations.c.at_risk.is_(True), reservations.c.status.in_(("held", "ordered", "to_hand_over"))))]

    def incidents(self, include_cleared: bool = False) -> list[dict]:
        q = select(incidents).order_by(incidents.c.id)
        if not include_cleared:
            q = q.where(incidents.c.cleared_at.is_(None))
        with self.consistent_reads.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def clear_incident(self, incident_id: int) -> dict:
        def tx(conn: Connection) -> dict:
            row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).one_or_none()
            if row is None:
                raise rules.Unknown(f"There is no incident {incident_id}.")
            conn.execute(update(incidents).where(incidents.c.id == incident_id).values(cleared_at=stamp(self.clock())))
            still = conn.execute(select(func.count()).select_from(incidents).where(
                incidents.c.store_id == row.store_id, incidents.c.kind == "divergence",
                incidents.c.cleared_at.is_(None))).scalar()
            if not still:
                conn.execute(update(locations).where(locations.c.id == row.store_id).values(blocked=False))
            return {"id": incident_id, "store_id": row.store_id, "blocked": bool(still)}
        return transact(self.engine, tx)

    def _number_feed(self) -> None:
        """Give committed changefeed rows their positions before a reader pages by them (PostgreSQL;
        on SQLite each writer numbers its own rows)."""
        if self._feed_numbering is None:
            return
        with self.reads.connect() as conn:
            pending = conn.exec_driver_sql("SELECT 1 FROM changefeed WHERE position IS NULL LIMIT 1").first()
        if pending:
            transact(self._feed_numbering, db.assign_feed_positions)

    @staticmethod
    def _feed_page(conn: Connection, after: int, limit: int) -> tuple[int, list[Any], int, bool]:
        """The changefeed rows after position `after`: (start, rows, cursor, more). A cursor past the
        newest position (the hub was restored from a backup) starts again from 0, so the cursor goes back."""
        # One statement in the usual case: the rows from `after` itself on; none at all means
        # the newest position is below `after`, and the page starts again from 0.
        rows = driver_sql(conn, _FEED_PAGE, (after, limit + 2)).all()
        if not rows and after:
            after = 0
            rows = driver_sql(conn, _FEED_PAGE, (1, limit + 1)).all()
        if rows and rows[0].position == after:
            rows = rows[1:]
        more = len(rows) > limit
        rows = rows[:limit]
        return after, rows, rows[-1].position if rows else after, more

    def feed(self, after: int = 0, limit: int = 500) -> dict:
        """Stock changes in commit order after cursor `after`; give back `cursor` for the next page."""
        self._number_feed()
        with self.consistent_reads.connect() as conn:
            _, rows, cursor, _ = self._feed_page(conn, after, min(limit, 5000))
        return {"events": [{**{k: v for k, v in r._mapping.items() if k not in ("id", "position")},
                            "id": r.position} for r in rows], "cursor": cursor}

    def store_ledger(self, store_id: str, after: int = 0, limit: int = 1000) -> list[dict]:
        with self.consistent_reads.connect() as conn:
            return [json.loads(b) for b in conn.scalars(select(store_entries.c.body).where(
                store_entries.c.store_id == store_id, store_entries.c.seq > after)
                .order_by(store_entries.c.seq).limit(limit))]
