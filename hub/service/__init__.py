"""The hub's operations: load state, call hub.rules, write the result in one transaction.

HTTP routes, the CLI and the scheduler call this layer only. Every write
runs through `db.transact`, so it is retried whole on a serialization
failure; every write that a client may repeat takes an idempotency key.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import asdict, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from hub import db, rules
from hub.db import RowWriter, driver_sql, one_of
from hub.db import (
    changefeed, grants, idempotency, incidents, items, locations, opening_stock, positions, release_requests,
    reservations, store_entries, tokens, transact, transfers,
)
from hub.rules import EntryFacts, Position, Principal, Reservation
from sync import models as wire

# The figures of a position, as the positions table holds them (after location and sku).
POSITION_FIGURES = tuple(f.name for f in fields(Position))[2:]


def utcnow() -> datetime:
    return datetime.now(UTC)


def stamp(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="microseconds")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_POSITION_COLS = "location, sku, " + ", ".join(POSITION_FIGURES)
_WRITE_POSITIONS = RowWriter(
    "positions", [("location", "varchar"), ("sku", "varchar"), *((f, "bigint") for f in POSITION_FIGURES)],
    "ON CONFLICT (location, sku) DO UPDATE SET " + ", ".join(f"{f} = excluded.{f}" for f in POSITION_FIGURES))
_WRITE_FEED = RowWriter("changefeed", [("location", "varchar"), ("sku", "varchar"), ("kind", "varchar"),
                                       ("on_hand", "bigint"), ("available", "bigint"), ("at", "varchar")])
_WRITE_ENTRIES = RowWriter("store_entries", [
    ("store_id", "varchar"), ("seq", "bigint"), ("hash", "varchar"), ("kind", "varchar"), ("sku", "varchar"),
    ("qty", "integer"), ("on_hand_delta", "integer"), ("quota_delta", "integer"), ("held_delta", "integer"),
    ("over_quota", "integer"), ("amount", "bigint"), ("at", "varchar"), ("body", "text")], unnest=False)


_TOKEN = "SELECT role, store_id FROM tokens WHERE token_hash = ? AND revoked_at IS NULL"

# rules.reserve as one PostgreSQL statement, run on its own (autocommit): one round trip,
# where BEGIN, statement, COMMIT would be three. The guarded UPDATE is `qty <= promisable`,
# re-checked by PostgreSQL after it takes the row lock, so READ COMMITTED (the default
# outside a transaction) is safe: concurrent carts queue on the row instead of failing
# serialization. The reservation and the changefeed row are written only if the UPDATE
# matched; a repeated key fails the reservation's primary key, which undoes the whole
# statement. Data-modifying CTEs always run to completion, so `f` runs though nothing
# reads it. Availability always drops (the guard leaves at least the buffer), so the feed
# row is "sold_out" or "level". With a token, `t` is the caller's check: a web or ops token,
# live; without one (in-process callers) it is always true.
_RESERVE_PG = """
WITH t AS ({token_check}),
u AS (
    UPDATE positions SET hub_share = hub_share - %(q)s, reserved = reserved + %(q)s
    WHERE location = %(loc)s AND sku = %(sku)s AND hub_share - safety_buffer >= %(q)s AND EXISTS (SELECT 1 FROM t)
    RETURNING location, sku, on_hand, hub_share, safety_buffer),
r AS (
    INSERT INTO reservations (reservation_id, location, sku, qty, status, expires_at, at_risk, created_at)
    SELECT %(rid)s, location, sku, %(q)s, 'held', %(exp)s, false, %(at)s FROM u),
f AS (
    INSERT INTO changefeed (location, sku, kind, on_hand, available, at)
    SELECT location, sku, CASE WHEN hub_share - safety_buffer = 0 THEN 'sold_out' ELSE 'level' END,
           on_hand, hub_share - safety_buffer, %(at)s FROM u)
SELECT (SELECT count(*) FROM t), (SELECT count(*) FROM u)
"""
_RESERVE_PG_AS = _RESERVE_PG.format(token_check="SELECT 1 FROM tokens WHERE token_hash = %(th)s "
                                                "AND revoked_at IS NULL AND role IN ('web', 'ops')")
_RESERVE_PG_TRUSTED = _RESERVE_PG.format(token_check="SELECT 1")


def _write_feed(conn: Connection, rows: list[tuple]) -> None:
    if rows:
        _WRITE_FEED.write(conn, rows)
        if conn.dialect.name == "sqlite":  # one writer: its commit order is the order it numbers in
            db.assign_feed_positions(conn)


def _feed_row(location: str, sku: str, old: tuple[int, int] | None, on_hand: int, avail: int,
              now: str) -> tuple | None:
    """The changefeed's row for a position whose picture moved, or None if it did not."""
    if old == (on_hand, avail):
        return None
    kind = "level"
    if old is not None and old[1] and not avail:
        kind = "sold_out"
    elif old is not None and not old[1] and avail:
        kind = "back_in_stock"
    return (location, sku, kind, on_hand, avail, now)


def _canonical(e: wire.LedgerEntry) -> tuple[str, str]:
    """An entry's stored body and its content hash, from one serialisation."""
    body = e.canonical_json()
    return body, hashlib.sha256(body.encode()).hexdigest()


def _facts(e: wire.LedgerEntry) -> EntryFacts:
    d = e.detail
    request_id = d.get("request_id") if e.kind == "quota_released" else None
    counterpart = d.get("to") if e.kind == "transfer_out" else d.get("from") if e.kind == "transfer_in" else None
    return EntryFacts(e.seq, e.kind, e.sku, e.qty, e.on_hand_delta, e.quota_delta, e.held_delta, e.over_quota,
                      e.ref, d.get("hub_ordered") is True, e.quota_after,
                      str(request_id) if request_id else None, str(counterpart) if counterpart else None)


def _position(row: Any) -> Position:
    return Position(row.location, row.sku, *(getattr(row, f) for f in POSITION_FIGURES))


def _reservation(row: Any) -> Reservation:
    exp = datetime.fromisoformat(row.expires_at) if row.expires_at else None
    return Reservation(row.reservation_id, row.location, row.sku, row.qty, row.status, exp, row.at_risk)


class _OpenReservations:
    """The open reservations at a store for a batch's SKUs, newest first, read on first use.

    Only an entry that takes more than the hub's share (rare) looks at them; most pushes
    need not run the query at all.
    """

    def __init__(self, conn: Connection, store_id: str, skus: set[str]) -> None:
        self.conn, self.store_id, self.skus = conn, store_id, skus
        self.by_sku: dict[str, list[Reservation]] | None = None

    def _load(self) -> dict[str, list[Reservation]]:
        if self.by_sku is None:
            self.by_sku = {}
            any_sku, skus = one_of(self.conn, list(self.skus))
            for r in driver_sql(
                    self.conn, "SELECT reservation_id, location, sku, qty, status, expires_at, at_risk "
                    f"FROM reservations WHERE location = ? AND sku {any_sku} "
                    "AND status IN ('held', 'ordered', 'transfer') ORDER BY created_at DESC, reservation_id DESC",
                    (self.store_id, *skus)):
                self.by_sku.setdefault(r.sku, []).append(_reservation(r))
        return self.by_sku

    def at(self, sku: str) -> Iterator[Reservation]:
        """The ones at `sku`, for one `rules.apply_entry` (a generator: nothing is read until it is used)."""
        yield from self._load().get(sku, ())

    def at_risk(self) -> list[str]:
        """The ones settling marked at risk (none if nothing needed them)."""
        if self.by_sku is None:
            return []
        return [r.reservation_id for rs in self.by_sku.values() for r in rs if r.at_risk]


class _Repeat(Exception):
    """The idempotency key was used before: roll back and answer with the first reservation."""


class Hub:
    def __init__(self, engine: Engine, clock: Any = utcnow) -> None:
        self.engine = engine
        # Single statements need no transaction around them: one round trip instead of three.
        self.reads = engine.execution_options(isolation_level="AUTOCOMMIT")
        # Several statements that must agree (a pull, an ops view) but write nothing: on
        # SQLite a plain BEGIN, a snapshot that does not take the write lock, so pushes and
        # reservations go on meanwhile (db.make_engine's `begin` hook reads this option).
        self.consistent_reads = engine.execution_options(read_only=True)
        # SQLite runs one writer at a time, so a write gains nothing from a thread of its own
        # and pays two hand-offs between threads; the HTTP edge runs the hot writes (push,
        # reserve) in place with `no_wait=True` and hands them to a thread only if another
        # writer holds the lock (db.WouldWait).
        self.writes_inline = engine.dialect.name == "sqlite"
        self._no_wait = engine.execution_options(no_wait=True)
        # Numbering the changefeed on PostgreSQL: see db.assign_feed_positions.
        self._feed_numbering = (engine.execution_options(isolation_level="READ COMMITTED")
                                if engine.dialect.name == "postgresql" else None)
        self.clock = clock

    @classmethod
    def open(cls, url: str, clock: Any = utcnow, pool_size: int = 10) -> Hub:
        engine = db.make_engine(url, pool_size)
        db.migrate(engine, stamp(clock()))
        return cls(engine, clock)

    def close(self) -> None:
        self.engine.dispose()

    # -- shared pieces ------------------------------------------------------

    def _once(self, conn: Connection, key: str | None, work: Any, request: object = None) -> dict:
        """Run `work(conn)` once per idempotency key; a repeat returns the first answer.

        The key is stored with a fingerprint of the request, so the same key
        sent with a different request is refused rather than answered wrongly.
        """
        if key is None:
            return work(conn)
        if not key or len(key.split(":", 1)[-1]) > 200:
            raise rules.BadRequest("An idempotency key must be 1 to 200 characters.")
        fingerprint = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()[:16]
        done = conn.execute(select(idempotency.c.response).where(idempotency.c.key == key)).scalar()
        if done is not None:
            stored = json.loads(done)
            if stored["request"] != fingerprint:
                raise rules.KeyReused(f"Idempotency key {key.split(':', 1)[-1]!r} was already used for a "
                                      "different request; use a new key for a new request.")
            return stored["response"]
        result = work(conn)
        conn.execute(insert(idempotency).values(key=key, response=json.dumps({"request": fingerprint,
                                                                               "response": result}),
                                                created_at=stamp(self.clock())))
        return result

    def _positions(self, conn: Connection, location: str, skus: Iterable[str]) -> dict[str, Position]:
        skus = list(set(skus))
        any_sku, params = one_of(conn, skus)
        got = {r[1]: Position(*r) for r in driver_sql(
            conn, f"SELECT {_POSITION_COLS} FROM positions WHERE location = ? AND sku {any_sku}",
            (location, *params)).all()}
        missing = [s for s in skus if s not in got]
        if missing:
            any_sku, params = one_of(conn, missing)
            buffers = dict(driver_sql(conn, f"SELECT sku, safety_buffer FROM items WHERE sku {any_sku}",
                                      params).all())
            for sku in missing:
                if sku not in buffers:
                    raise rules.Unknown(f"SKU {sku} is not in the chain's catalog.")
                got[sku] = Position(location, sku, safety_buffer=buffers[sku])
        return got

    def _save(self, conn: Connection, before: dict[str, tuple[int, int]], changed: Iterable[Position], now: str) -> None:
        """Write positions back, with a changefeed row for each whose picture changed."""
        changed = list(changed)
        _WRITE_POSITIONS.write(conn, [p.row() for p in changed])
        feed = []
        for p in changed:
            old = before.get(p.sku)
            row = _feed_row(p.location, p.sku, old, p.on_hand, p.promisable, now)
            if row:
                feed.append(row)
        _write_feed(conn, feed)

    @staticmethod
    def _snapshot(ps: dict[str, Position]) -> dict[str, tuple[int, int]]:
        return {k: (p.on_hand, p.promisable) for k, p in ps.items()}

    def _location(self, conn: Connection, location: str, kind: str | None = None) -> Any:
        loc = conn.execute(select(locations).where(locations.c.id == location)).one_or_none()
        if loc is None or (kind and loc.kind != kind):
            raise rules.Unknown(f"There is no {kind or 'location'} {location}.")
        return loc

    # -- setting up ---------------------------------------------------------

    def load_chain(self, chain: Any, *, quota_share: float = 0.7, policy: str = "in-hand") -> dict:
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

    # -- credentials --------------------------------------------------------

    def issue_token(self, role: str, store_id: str | None = None) -> str:
        if role not in ("store", "ops", "web"):
            raise rules.BadRequest(f"A token's role is store, ops or web, not {role!r}.")
        if (role == "store") != (store_id is not None):
            raise rules.BadRequest("A store token names its store; ops and web tokens name none.")
        token = f"br_{role}_{secrets.token_urlsafe(24)}"

        def tx(conn: Connection) -> None:
            if store_id is not None:
                self._location(conn, store_id, "store")
            conn.execute(insert(tokens).values(token_hash=hash_token(token), role=role, store_id=store_id,
                                               created_at=stamp(self.clock())))
        transact(self.engine, tx)
        return token

    def revoke_token(self, token: str) -> bool:
        def tx(conn: Connection) -> bool:
            r = conn.execute(update(tokens).where(tokens.c.token_hash == hash_token(token),
                                                  tokens.c.revoked_at.is_(None))
                             .values(revoked_at=stamp(self.clock())))
            return r.rowcount > 0
        return transact(self.engine, tx)

    def authenticate(self, token: str) -> Principal | None:
        """Who a token belongs to. Not cached: a revoked token must stop working at once."""
        with self.reads.connect() as conn:
            return self._principal(conn, token)

    @staticmethod
    def _principal(conn: Connection, token: str) -> Principal | None:
        row = driver_sql(conn, _TOKEN, (hash_token(token),)).first()
        return Principal(row[0], row[1]) if row else None

    def _authorize(self, conn: Connection, token: str | None, roles: tuple[str, ...],
                   store_id: str | None = None) -> None:
        """Check the caller inside the transaction it acts in: no extra round trip, and a
        refusal rolls back with everything else. `None`: an in-process caller, trusted."""
        if token is not None:
            rules.authorize(self._principal(conn, token), roles, store_id)

    # -- stores: opening, push, pull ----------------------------------------

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
                                 locations=locs, stock=stock, ledger=ledger)

    def ingest(self, store_id: str, batch: wire.PushBatch, *, token: str | None = None,
               no_wait: bool = False) -> wire.PushResult:
        """Apply a store's batch in one transaction: idempotent, gapless, never refused for business reasons.

        `token`, when given, must be that store's own. With `no_wait`, raises db.WouldWait
        (having written nothing) instead of waiting for another writer."""
        engine = self._no_wait if no_wait else self.engine
        canon = [_canonical(e) for e in batch.entries]
        hashes = [(e.seq, h) for e, (_, h) in zip(batch.entries, canon, strict=True)]

        def tx(conn: Connection) -> wire.PushResult:
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
            open_res = _OpenReservations(conn, store_id, skus)
            facts = [_facts(e) for e in new]
            records = self._records(conn, rules.wanted(facts))
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
            return wire.PushResult(accepted=len(new), duplicates=plan.duplicates, next_seq=plan.next_seq)

        try:
            return transact(engine, tx)
        except rules.Divergence as d:
            self._record_divergence(store_id, d, engine)
            raise
        except (rules.Gap, rules.Busy):
            raise  # a gap the node mends by itself; busy is the hub's, not the store's
        except rules.HubError as err:
            self.record_push_refusal(store_id, err.message, token=token, engine=engine)
            raise

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

    def _note_incident(self, conn: Connection, store_id: str, kind: str, seq: int | None, message: str) -> None:
        """An incident for ops, without flooding: while one of this store and kind is open, it is
        updated (message, sequence, time) instead of another being added."""
        now = stamp(self.clock())
        open_id = conn.execute(select(incidents.c.id).where(
            incidents.c.store_id == store_id, incidents.c.kind == kind, incidents.c.cleared_at.is_(None))
            .order_by(incidents.c.id).limit(1)).scalar()
        if open_id is None:
            conn.execute(insert(incidents).values(store_id=store_id, kind=kind, seq=seq, message=message, at=now))
        else:
            conn.execute(update(incidents).where(incidents.c.id == open_id).values(seq=seq, message=message, at=now))

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

    def _record_divergence(self, store_id: str, d: rules.Divergence, engine: Engine) -> None:
        def tx(conn: Connection) -> None:
            self._note_incident(conn, store_id, "divergence", d.extra.get("seq"), d.message)
            conn.execute(update(locations).where(locations.c.id == store_id).values(blocked=True))
        transact(engine, tx)

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
        self._number_feed()
        with self.consistent_reads.connect() as conn:
            loc = self._location(conn, store_id, "store")
            gs = [wire.Grant(grant_id=r.grant_id, grant_no=r.grant_no, sku=r.sku, qty=r.qty) for r in conn.execute(
                select(grants).where(grants.c.store_id == store_id, grants.c.status == "in_flight")
                .order_by(grants.c.grant_no))]
            incoming = [wire.TransferOrder(transfer_id=r[0], sku=r[1], qty=r[2], from_location=r[3],
                                           to_location=store_id) for r in driver_sql(
                conn, "SELECT transfer_id, sku, qty, from_location FROM transfers WHERE to_location = ? "
                "AND status = 'in_transit' ORDER BY sent_at", (store_id,))]
            rs = [wire.ReleaseRequest(request_id=r.request_id, sku=r.sku, qty=r.qty) for r in conn.execute(
                select(release_requests).where(release_requests.c.store_id == store_id,
                                               release_requests.c.status == "open"))]
            start, feed, new_cursor, more = self._feed_page(conn, cursor, limit)
            latest: dict[tuple[str, str], Any] = {}
            for r in feed:
                if r.location != store_id and r.kind != "catalog":
                    latest[(r.location, r.sku)] = r
            chain = [wire.ChainStock(location=r.location, sku=r.sku, on_hand=r.on_hand, available=r.available,
                                     as_of=r.at) for r in latest.values()]
            catalog_skus = {r.sku for r in feed if r.kind == "catalog"}
            catalog = [wire.CatalogItem(**{k: v for k, v in r._mapping.items() if k != "feed_id"})
                       for r in conn.execute(select(items).where(items.c.sku.in_(catalog_skus)))] if catalog_skus else []
            locs = [wire.LocationInfo(id=r.id, name=r.name, kind=r.kind)
                    for r in conn.execute(select(locations))] if start == 0 else []
        return wire.PullResponse(cursor=new_cursor, next_seq=loc.next_seq, grants=gs, release_requests=rs,
                                 transfers=incoming, catalog=catalog, locations=locs, chain_stock=chain, more=more)

    # -- ops: quota moves -----------------------------------------------------

    def grant(self, store_id: str, sku: str, qty: int, key: str | None = None) -> dict:
        """Hub -> store: the hub's share goes down in the same transaction that records the grant."""
        def work(conn: Connection) -> dict:
            loc = self._location(conn, store_id, "store")
            ps = self._positions(conn, store_id, [sku])
            before = self._snapshot(ps)
            rules.grant(ps[sku], qty, blocked=loc.blocked)
            # Unique for ever: a hub restored from a backup rewinds next_grant_no, and a node that
            # already applied the old grant of that number must not take a new one for a repeat.
            grant_id = f"G-{store_id}-{loc.next_grant_no}-{secrets.token_hex(4)}"
            conn.execute(insert(grants).values(grant_id=grant_id, store_id=store_id, grant_no=loc.next_grant_no,
                                               sku=sku, qty=qty, status="in_flight", created_at=stamp(self.clock())))
            conn.execute(update(locations).where(locations.c.id == store_id)
                         .values(next_grant_no=loc.next_grant_no + 1))
            self._save(conn, before, ps.values(), stamp(self.clock()))
            return {"grant_id": grant_id, "grant_no": loc.next_grant_no, "store_id": store_id, "sku": sku, "qty": qty}
        return transact(self.engine, lambda conn: self._once(conn, key and f"grant:{key}", work, (store_id, sku, qty)))

    def request_release(self, store_id: str, sku: str, qty: int, key: str | None = None) -> dict:
        """Store -> hub: the hub only asks; units join its share when the store's release entry arrives."""
        if qty <= 0:
            raise rules.BadRequest(f"A release request must be of at least 1 unit, not {qty}.")

        def work(conn: Connection) -> dict:
            self._location(conn, store_id, "store")
            self._positions(conn, store_id, [sku])
            rid = f"RR-{store_id}-{secrets.token_hex(6)}"
            conn.execute(insert(release_requests).values(request_id=rid, store_id=store_id, sku=sku, qty=qty,
                                                         status="open", created_at=stamp(self.clock())))
            return {"request_id": rid, "store_id": store_id, "sku": sku, "qty": qty}
        return transact(self.engine,
                        lambda conn: self._once(conn, key and f"release:{key}", work, (store_id, sku, qty)))

    # -- web shop -------------------------------------------------------------

    def availability(self, sku: str) -> dict:
        with self.consistent_reads.connect() as conn:
            rows = conn.execute(select(positions).where(positions.c.sku == sku)).all()
            if not rows and conn.execute(select(items.c.sku).where(items.c.sku == sku)).scalar() is None:
                raise rules.Unknown(f"SKU {sku} is not in the chain's catalog.")
        per = {r.location: _position(r).promisable for r in rows}
        return {"sku": sku, "total": sum(per.values()), "locations": per}

    def reserve(self, key: str, sku: str, qty: int, *, location: str | None = None, ttl_s: int = 900,
                token: str | None = None, no_wait: bool = False) -> dict:
        """A web cart hold against the hub share, released by itself after `ttl_s`.

        This is the web shop's hot path. The promise is one guarded UPDATE
        (`hub_share - safety_buffer >= qty` is rules.reserve's `qty <=
        promisable`); on PostgreSQL the caller's check, the promise, the
        reservation and the changefeed row are one statement (`_RESERVE_PG`),
        on SQLite one short BEGIN IMMEDIATE transaction. The reservation's id
        comes from the idempotency key, so a repeat finds the first answer by
        primary key. `token`, when given, must be a web or ops token.
        """
        if not 1 <= ttl_s <= 7 * 24 * 3600:
            raise rules.BadRequest(f"A reservation lasts 1 s to 7 days, not {ttl_s} s.")
        if isinstance(qty, bool) or not isinstance(qty, int) or qty <= 0:
            raise rules.BadRequest(f"A reservation must be of at least 1 unit, not {qty!r}.")
        if not key or len(key) > 200:
            raise rules.BadRequest("An idempotency key must be 1 to 200 characters.")
        rid = f"W-{hashlib.sha256(key.encode()).hexdigest()[:20]}"
        web = ("web", "ops")

        def answer(where: str, exp: str) -> dict:
            return {"reservation_id": rid, "location": where, "sku": sku, "qty": qty, "status": "held",
                    "expires_at": exp}

        def on_postgres(conn: Connection) -> dict:
            now = self.clock()
            if location is None:
                self._authorize(conn, token, web)  # before picking: a stranger learns nothing of the stock
            where = location or self._pick(conn, sku, qty)
            exp, at = stamp(now + timedelta(seconds=ttl_s)), stamp(now)
            args = {"q": qty, "loc": where, "sku": sku, "rid": rid, "exp": exp, "at": at}
            if token is not None:
                args["th"] = hash_token(token)
            try:
                authorized, promised = conn.exec_driver_sql(
                    _RESERVE_PG_AS if token is not None else _RESERVE_PG_TRUSTED, args).first()
            except IntegrityError as err:
                if getattr(err.orig, "sqlstate", None) == "23505":  # the key's reservation exists
                    raise _Repeat() from err
                raise
            if not authorized:
                self._authorize(conn, token, web)  # says 401 or 403
                raise rules.Busy("That token changed while reserving; try again.")
            if not promised:
                self._why_not(conn, where, sku, qty)
            return answer(where, exp)

        def on_sqlite(conn: Connection) -> dict:
            self._authorize(conn, token, web)
            now = self.clock()
            where = location or self._pick(conn, sku, qty)
            exp, at = stamp(now + timedelta(seconds=ttl_s)), stamp(now)
            if driver_sql(conn, "INSERT INTO reservations (reservation_id, location, sku, qty, status, expires_at, "
                                "at_risk, created_at) VALUES (?, ?, ?, ?, 'held', ?, ?, ?) "
                                "ON CONFLICT (reservation_id) DO NOTHING RETURNING reservation_id",
                          (rid, where, sku, qty, exp, False, at)).first() is None:
                raise _Repeat()
            got = driver_sql(conn, "UPDATE positions SET hub_share = hub_share - ?, reserved = reserved + ? "
                                   "WHERE location = ? AND sku = ? AND hub_share - safety_buffer >= ? "
                                   "RETURNING on_hand, hub_share, safety_buffer",
                             (qty, qty, where, sku, qty)).first()
            if got is None:
                self._why_not(conn, where, sku, qty)
            on_hand, share, buffer = got
            row = _feed_row(where, sku, (on_hand, max(0, share + qty - buffer)), on_hand, max(0, share - buffer), at)
            if row:
                _write_feed(conn, [row])
            return answer(where, exp)

        try:
            if self.engine.dialect.name == "postgresql":
                return transact(self.reads, on_postgres)  # autocommit: each statement its own transaction
            return transact(self._no_wait if no_wait else self.engine, on_sqlite)
        except (_Repeat, rules.NotEnough):
            # A repeat may also meet "not enough" first (its own units are gone from the share).
            with self.reads.connect() as conn:
                first = driver_sql(conn, "SELECT location, sku, qty, status, expires_at FROM reservations "
                                         "WHERE reservation_id = ?", (rid,)).first()
            if first is None:
                raise
            return self._repeat(key, rid, first, sku, qty, location)

    @staticmethod
    def _repeat(key: str, rid: str, first: Any, sku: str, qty: int, location: str | None) -> dict:
        if first.sku != sku or first.qty != qty or (location is not None and location != first.location):
            raise rules.KeyReused(f"Idempotency key {key!r} was already used for a different request; "
                                  "use a new key for a new request.")
        return {"reservation_id": rid, "location": first.location, "sku": first.sku, "qty": first.qty,
                "status": first.status, "expires_at": first.expires_at}

    def _pick(self, conn: Connection, sku: str, qty: int) -> str:
        cands = [Position(*r) for r in driver_sql(conn, f"SELECT {_POSITION_COLS} FROM positions WHERE sku = ?",
                                                  (sku,))]
        if not cands:
            self._positions(conn, "", [sku])  # an unknown SKU says so
        return rules.pick_location(cands, qty).location

    def _why_not(self, conn: Connection, location: str, sku: str, qty: int) -> None:
        """The guarded UPDATE found nothing: say which of location, SKU or stock is the reason."""
        self._location(conn, location)
        rules.reserve(self._positions(conn, location, [sku])[sku], qty)  # raises NotEnough
        raise rules.Busy("The hub's share moved while reserving; try again.")

    def _close_reservation(self, rid: str, status: str, key: str | None) -> dict:
        def work(conn: Connection) -> dict:
            r = self._reservation(conn, rid)
            now = self.clock()
            if status == "ordered":
                rules.commit(r, now)
            else:
                ps = self._positions(conn, r.location, [r.sku])
                before = self._snapshot(ps)
                rules.unreserve(ps[r.sku], r, status)
                self._save(conn, before, ps.values(), stamp(now))
            conn.execute(update(reservations).where(reservations.c.reservation_id == rid).values(status=r.status))
            return {"reservation_id": rid, "location": r.location, "sku": r.sku, "qty": r.qty, "status": r.status,
                    "at_risk": r.at_risk}
        return transact(self.engine, lambda conn: self._once(conn, key and f"{status}:{key}", work, rid))

    @staticmethod
    def _reservation(conn: Connection, rid: str) -> Reservation:
        row = conn.execute(select(reservations).where(reservations.c.reservation_id == rid)).one_or_none()
        if row is None:
            raise rules.Unknown(f"There is no reservation {rid}.")
        return _reservation(row)

    def commit(self, rid: str, key: str | None = None) -> dict:
        return self._close_reservation(rid, "ordered", key)

    def cancel(self, rid: str, key: str | None = None) -> dict:
        return self._close_reservation(rid, "cancelled", key)

    def expire_due(self) -> int:
        """Return the units of every cart hold past its time. The scheduler calls this.

        The listing is only a hint: each hold is expired in its own transaction on the row's
        state and the clock as of then, so one committed or cancelled meanwhile (by another
        hub process, whose clock may differ) is left alone.
        """
        with self.consistent_reads.connect() as conn:
            listed = list(conn.scalars(select(reservations.c.reservation_id).where(
                reservations.c.status == "held", reservations.c.expires_at <= stamp(self.clock())).limit(500)))

        def expire_one(conn: Connection, rid: str) -> bool:
            r = self._reservation(conn, rid)
            now = self.clock()
            ps = self._positions(conn, r.location, [r.sku])
            before = self._snapshot(ps)
            if not rules.expire(ps[r.sku], r, now):
                return False
            self._save(conn, before, ps.values(), stamp(now))
            conn.execute(update(reservations).where(reservations.c.reservation_id == rid,
                                                    reservations.c.status == "held").values(status=r.status))
            return True
        return sum(transact(self.engine, lambda conn, rid=rid: expire_one(conn, rid)) for rid in listed)

    # -- ops views --------------------------------------------------------------

    def stock(self, sku: str) -> dict:
        with self.consistent_reads.connect() as conn:
            rows = [_position(r) for r in conn.execute(
                select(positions).where(positions.c.sku == sku).order_by(positions.c.location))]
            if not rows and conn.execute(select(items.c.sku).where(items.c.sku == sku)).scalar() is None:
                raise rules.Unknown(f"SKU {sku} is not in the chain's catalog.")
        per = [{"location": p.location, **{f: getattr(p, f) for f in POSITION_FIGURES}, "promisable": p.promisable}
               for p in rows]
        totals = {f: sum(x[f] for x in per) for f in (*POSITION_FIGURES, "promisable")}
        return {"sku": sku, "locations": per, "total": totals}

    def sync_state(self) -> list[dict]:
        now = self.clock()
        with self.consistent_reads.connect() as conn:
            open_inc = dict(conn.execute(select(incidents.c.store_id, func.count()).where(
                incidents.c.cleared_at.is_(None)).group_by(incidents.c.store_id)).all())
            in_flight = dict(conn.execute(select(grants.c.store_id, func.count()).where(
                grants.c.status == "in_flight").group_by(grants.c.store_id)).all())
            out = []
            for r in conn.execute(select(locations).where(locations.c.kind == "store").order_by(locations.c.id)):
                lag = (now - datetime.fromisoformat(r.last_seen)).total_seconds() if r.last_seen else None
                out.append({"store_id": r.id, "name": r.name, "last_seq": r.next_seq - 1, "last_seen": r.last_seen,
                            "lag_s": lag, "open_incidents": open_inc.get(r.id, 0), "blocked": r.blocked,
                            "grants_in_flight": in_flight.get(r.id, 0)})
        return out

    def at_risk(self) -> list[dict]:
        with self.consistent_reads.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(reservations).where(
                reservations.c.at_risk.is_(True), reservations.c.status.in_(("held", "ordered"))))]

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
        if after and conn.execute(select(func.coalesce(func.max(changefeed.c.position), 0))).scalar() < after:
            after = 0
        rows = conn.execute(select(changefeed).where(changefeed.c.position > after)
                            .order_by(changefeed.c.position).limit(limit + 1)).all()
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
