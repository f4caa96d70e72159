"""What the hub does for store nodes: opening, push (ingest), pull (grants, release requests, transfers,
web orders to hand over, the chain picture) and the ledger tail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from hub import rules
from hub.db import WouldWait, driver_sql, one_of
from hub.db import (
    grants, incidents, items, locations, opening_stock, release_requests, reservations, store_entries, transact,
    transfers,
)
from hub.rules import Principal
from hub.service.balance_inputs import fetch
from hub.service.common import _canonical, _facts, _OpenReservations, _reservation, _WRITE_ENTRIES
from sync import models as wire
from sync.kinds import stamp


# The pull's statements (see StoreOps.pull).
_PULL_GRANTS = "SELECT grant_id, grant_no, sku, qty FROM grants WHERE store_id = ? AND status = 'in_flight' " \
               "ORDER BY grant_no"
_PULL_TRANSFERS = "SELECT transfer_id, sku, qty, from_location FROM transfers WHERE to_location = ? " \
                  "AND status = 'in_transit' ORDER BY sent_at"
_PULL_RELEASES = "SELECT request_id, sku, qty FROM release_requests WHERE store_id = ? AND status = 'open'"
_PULL_ORDERS = ("SELECT reservation_id, sku, qty, how FROM reservations WHERE location = ? AND status = 'to_hand_over' "
                f"ORDER BY created_at, reservation_id LIMIT {wire.MAX_ORDERS}")
_PULL_CATALOG = ("SELECT sku, gtin, name, price, perishable, shelf_life_days, case_gtin, pack_qty, in_store, "
                 "safety_buffer FROM items WHERE sku")


class StoreOps:
    """The stores' operations (a part of Hub)."""

    rcn_country: str | None = None  # told to each store in its opening (hub.settings.Settings.rcn_country)

    def opening(self, store_id: str) -> wire.StoreOpening:
        with self.consistent_reads.connect() as conn:
            loc = self._location(conn, store_id, "store")
            catalog = [wire.CatalogItem(**{k: v for k, v in r._mapping.items() if k != "feed_id"})
                       for r in conn.execute(select(items).order_by(items.c.sku))]
            locs = [wire.LocationInfo(id=r.id, name=r.name, kind=r.kind)
                    for r in conn.execute(select(locations).order_by(locations.c.id))]
            ledger = [wire.LedgerEntry.model_validate_json(b) for b in conn.scalars(
                select(store_entries.c.body).where(store_entries.c.store_id == store_id).order_by(store_entries.c.seq))]
            stock = [] if ledger else [(r.sku, r.bin, r.qty, r.quota) for r in conn.execute(
                select(opening_stock).where(opening_stock.c.location == store_id)
                .order_by(opening_stock.c.sku, opening_stock.c.bin))]
        return wire.StoreOpening(store_id=store_id, name=loc.name, policy=loc.policy, catalog=catalog,
                                 locations=locs, stock=stock, ledger=ledger, rcn_country=self.rcn_country)

    def ingest(self, store_id: str, batch: wire.PushBatch, *, token: str | None = None,
               no_wait: bool = False) -> wire.PushResult:
        """Apply a store's batch in one transaction: idempotent, gapless, never refused for business reasons.

        `token`, when given, must be that store's own. With `no_wait`, raises db.WouldWait
        (having written nothing) instead of waiting for another writer."""
        engine = self._no_wait if no_wait else self.engine
        canon = [_canonical(e) for e in batch.entries]
        hashes = [(e.seq, h) for e, (_, h) in zip(batch.entries, canon, strict=True)]
        snapshot_due = [False]

        def tx(conn: Connection) -> wire.PushResult:
            snapshot_due[0] = False  # this attempt's, not a rolled-back one's
            self._authorize(conn, token, ("store",), store_id)
            if batch.store_id != store_id or any(e.store_id != store_id for e in batch.entries):
                raise rules.WrongStore(f"This push is for store {store_id}; the batch names another store.")
            now = stamp(self.clock())
            loc = driver_sql(conn, "SELECT next_seq FROM locations WHERE id = ? AND kind = 'store'",
                             (store_id,)).first()
            if loc is None:
                raise rules.Unknown(f"There is no store {store_id}.")
            next_seq = loc[0]
            low = [s for s, _ in hashes if s < next_seq]
            if low:
                any_seq, params = one_of(conn, low)
                held = dict(driver_sql(conn, f"SELECT seq, hash FROM store_entries WHERE store_id = ? AND seq {any_seq}",
                                       (store_id, *params)).all())
            else:
                held = {}
            plan = rules.plan_batch(hashes, next_seq, held)
            driver_sql(conn, "UPDATE locations SET next_seq = ?, last_seen = ? WHERE id = ?",
                       (plan.next_seq, now, store_id))
            if not plan.new:
                return wire.PushResult(accepted=0, duplicates=plan.duplicates, next_seq=plan.next_seq)
            new = [batch.entries[i] for i in plan.new]
            skus = {e.sku for e in new}
            ps = self._positions(conn, store_id, skus)
            before = self._snapshot(ps)
            facts = [_facts(e) for e in new]
            records = self._records(conn, rules.wanted(facts))
            open_res = _OpenReservations(conn, store_id, skus, records.orders)
            notes = []
            for f in facts:
                s = rules.apply_store_entry(ps[f.sku], store_id, f, records, open_res.at(f.sku))
                notes += [{"store_id": store_id, "kind": kind, "seq": f.seq, "message": message, "at": now}
                          for kind, message in s.problems]
            _WRITE_ENTRIES.write(conn, [
                (store_id, e.seq, h, e.kind, e.sku, e.qty, e.on_hand_delta, e.quota_delta, e.held_delta,
                 e.over_quota, e.amount, e.at, body)
                for e, (body, h) in ((batch.entries[i], canon[i]) for i in plan.new)])
            self._save(conn, before, ps.values(), now)
            risky = open_res.at_risk()
            if risky:
                conn.execute(update(reservations).where(reservations.c.reservation_id.in_(risky)).values(at_risk=True))
            if records.changed:
                self._write_records(conn, records, now)
            if notes:
                conn.execute(insert(incidents), notes)
            # A snapshot waiting for these entries is compared once they are in, after this commits; not
            # inline on the event loop (no_wait), where the comparison would hold every other request up.
            snapshot_due[0] = self.snapshot_due(conn, store_id, plan.next_seq - 1)
            if snapshot_due[0] and no_wait:
                raise WouldWait(f"store {store_id}'s push completes a waiting snapshot: compared off the loop")
            return wire.PushResult(accepted=len(new), duplicates=plan.duplicates, next_seq=plan.next_seq)

        try:
            result = transact(engine, tx)
        except rules.Divergence as d:
            self._record_divergence(store_id, d, engine)
            raise
        except (rules.Gap, rules.Busy):
            raise  # a gap the node mends by itself; busy is the hub's, not the store's
        except rules.HubError as err:
            self.record_push_refusal(store_id, err.message, token=token, engine=engine)
            raise
        if snapshot_due[0]:
            self.compare_after_push(store_id)
        return result

    def record_push_refusal(self, store_id: str, reason: str, *, token: str | None = None,
                            engine: Engine | None = None) -> None:
        """Show ops that a store's push was refused (a store whose sync has stopped tells no one).

        Attributed to the store the token belongs to (no token: `store_id`, an in-process caller);
        a stranger's refused push records nothing. One open incident per store: a repeat updates it.
        """
        who = Principal("store", store_id) if token is None else self.authenticate(token)
        if who is None or who.role != "store" or who.store_id is None:
            return
        store = who.store_id
        where = "" if store == store_id else f" to {store_id[:40]!r}"
        message = f"a push{where} was refused: {reason}"[:2000]

        def tx(conn: Connection) -> None:
            self._note_incident(conn, store, "push_refused", None, message)
        transact(engine or self.engine, tx)

    @staticmethod
    def _records(conn: Connection, want: rules.Wanted) -> rules.Records:
        """The grants, release requests and transfers a batch names, whichever store's they are."""
        rec = rules.Records()
        if want.grants:
            rec.grants = {r.grant_id: rules.GrantRecord(r.grant_id, r.store_id, r.sku, r.qty, r.status)
                          for r in conn.execute(select(grants).where(grants.c.grant_id.in_(want.grants)))}
        if want.releases:
            rec.releases = {r.request_id: rules.ReleaseRecord(r.request_id, r.store_id, r.sku, r.status, r.released)
                            for r in conn.execute(select(release_requests).where(
                                release_requests.c.request_id.in_(want.releases)))}
        if want.transfers:
            rec.transfers = {r.transfer_id: rules.TransferRecord(r.transfer_id, r.from_location, r.to_location,
                                                                 r.sku, r.qty, r.status)
                             for r in conn.execute(select(transfers).where(
                                 transfers.c.transfer_id.in_(want.transfers)))}
            rec.locations = set(conn.scalars(select(locations.c.id)))
        if want.orders:
            rec.orders = {r.reservation_id: _reservation(r) for r in conn.execute(
                select(reservations).where(reservations.c.reservation_id.in_(want.orders)))}
        return rec

    @staticmethod
    def _write_records(conn: Connection, rec: rules.Records, now: str) -> None:
        for gid in rec.changed & rec.grants.keys():
            conn.execute(update(grants).where(grants.c.grant_id == gid).values(status=rec.grants[gid].status))
        for rid in rec.changed & rec.releases.keys():
            r = rec.releases[rid]
            conn.execute(update(release_requests).where(release_requests.c.request_id == rid)
                         .values(status=r.status, released=r.released))
        for tid in rec.changed & rec.transfers.keys():
            t = rec.transfers[tid]
            if tid in rec.made:
                conn.execute(insert(transfers).values(
                    transfer_id=tid, from_location=t.from_location, to_location=t.to_location, sku=t.sku,
                    qty=t.qty, status=t.status, sent_at=now))
            else:
                conn.execute(update(transfers).where(transfers.c.transfer_id == tid).values(status=t.status))
        for oid in rec.changed & rec.orders.keys():
            o = rec.orders[oid]
            conn.execute(update(reservations).where(reservations.c.reservation_id == oid)
                         .values(status=o.status, at_risk=o.at_risk))

    def _record_divergence(self, store_id: str, d: rules.Divergence, engine: Engine) -> None:
        def tx(conn: Connection) -> None:
            self._note_incident(conn, store_id, "divergence", d.extra.get("seq"), d.message)
            conn.execute(update(locations).where(locations.c.id == store_id).values(blocked=True))
        transact(engine, tx)

    @staticmethod
    def _catalog(conn: Connection, skus: set[str]) -> list[wire.CatalogItem]:
        any_sku, params = one_of(conn, sorted(skus))
        return [wire.CatalogItem(sku=r[0], gtin=r[1], name=r[2], price=r[3], perishable=bool(r[4]),
                                 shelf_life_days=r[5], case_gtin=r[6], pack_qty=r[7], in_store=bool(r[8]),
                                 safety_buffer=r[9])
                for r in driver_sql(conn, f"{_PULL_CATALOG} {any_sku}", params)]

    def ledger_tail(self, store_id: str, after: int = 0, limit: int = 500) -> wire.LedgerTail:
        """The hub's copy of a store's entries after `after`: a node restored from an old copy
        recovers the entries it lost before it writes new ones under their sequences."""
        with self.consistent_reads.connect() as conn:
            loc = self._location(conn, store_id, "store")
            bodies = list(conn.scalars(select(store_entries.c.body).where(
                store_entries.c.store_id == store_id, store_entries.c.seq > after)
                .order_by(store_entries.c.seq).limit(limit + 1)))
        return wire.LedgerTail(entries=[wire.LedgerEntry.model_validate_json(b) for b in bodies[:limit]],
                               next_seq=loc.next_seq, more=len(bodies) > limit)

    def pull(self, store_id: str, cursor: int = 0, limit: int = 2000) -> wire.PullResponse:
        """What the hub has for a store after `cursor`. Every store's runner calls this on an
        interval, so it is the hub's main read: plain statements (`_PULL_*`), no SQLAlchemy
        compiling, and catalog and locations only when the page needs them. A store running low on a
        spot the balancer watches is topped up first, so its grant comes back in this pull: the check
        is the first read of the pull's snapshot, and only a pull that tops up (rare) reads its page on
        a second snapshot, after the top-up's grants are made."""
        now = self._note_at_pull(store_id)
        self._number_feed()
        with self.consistent_reads.connect() as conn:
            low = self._low_at_pull(conn, store_id)
            if low == []:  # nothing to top up: the page is read on this same snapshot
                return self._pull_page(conn, store_id, cursor, limit)
        if low:
            self._top_up_at_pull(store_id, low, now)
            self._number_feed()
        with self.consistent_reads.connect() as conn:
            return self._pull_page(conn, store_id, cursor, limit)

    def _pull_page(self, conn: Connection, store_id: str, cursor: int, limit: int) -> wire.PullResponse:
        """The pull's page, on the snapshot `conn` reads (begun by `_low_at_pull`'s statement, or by
        `_location`'s): rows read by position come straight from the driver's cursor (`fetch`)."""
        loc = self._location(conn, store_id, "store")
        gs = [wire.Grant(grant_id=r[0], grant_no=r[1], sku=r[2], qty=r[3])
              for r in fetch(conn, _PULL_GRANTS, (store_id,))]
        incoming = [wire.TransferOrder(transfer_id=r[0], sku=r[1], qty=r[2], from_location=r[3],
                                       to_location=store_id) for r in fetch(conn, _PULL_TRANSFERS, (store_id,))]
        rs = [wire.ReleaseRequest(request_id=r[0], sku=r[1], qty=r[2])
              for r in fetch(conn, _PULL_RELEASES, (store_id,))]
        orders = [wire.OrderToHandOver(order_id=r[0], sku=r[1], qty=r[2], how=r[3])
                  for r in fetch(conn, _PULL_ORDERS, (store_id,))]
        start, feed, new_cursor, more = self._feed_page(conn, cursor, limit)
        latest: dict[tuple[str, str], Any] = {}
        for r in feed:
            if r.location != store_id and r.kind != "catalog":
                latest[(r.location, r.sku)] = r
        chain = [wire.ChainStock(location=r.location, sku=r.sku, on_hand=r.on_hand, available=r.available,
                                 as_of=r.at) for r in latest.values()]
        catalog_skus = {r.sku for r in feed if r.kind == "catalog"}
        catalog = self._catalog(conn, catalog_skus) if catalog_skus else []
        locs = [wire.LocationInfo(id=r[0], name=r[1], kind=r[2])
                for r in driver_sql(conn, "SELECT id, name, kind FROM locations")] if start == 0 else []
        return wire.PullResponse(cursor=new_cursor, next_seq=loc.next_seq, grants=gs, release_requests=rs,
                                 transfers=incoming, catalog=catalog, locations=locs, chain_stock=chain, more=more,
                                 orders_to_hand_over=orders)
