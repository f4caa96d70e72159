"""What the hub does for the web shop: availability, reservations, orders, expiry."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from hub import rules
from hub.db import driver_sql
from hub.db import reservations, transact
from hub.rules import Position, Reservation
from hub.service.common import _feed_row, hash_token, _POSITION_COLS, _reservation, _write_feed
from sync.kinds import stamp

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


_DUE = "SELECT reservation_id FROM reservations WHERE status = 'held' AND expires_at <= ? LIMIT 500"


class _Repeat(Exception):
    """The idempotency key was used before: roll back and answer with the first reservation."""


class WebOps:
    """The web shop's operations (a part of Hub)."""

    def availability(self, sku: str) -> dict:
        with self.reads.connect() as conn:
            rows = self._sku_positions(conn, sku)
        per = {p.location: p.promisable for p in rows}
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
        if location is not None and not location.strip():
            raise rules.BadRequest("A location cannot be blank; leave it out to reserve wherever most can be "
                                   "promised.")
        rid = f"W-{hashlib.sha256(key.encode()).hexdigest()[:20]}"
        web = ("web", "ops")

        def answer(where: str, exp: str) -> dict:
            return {"reservation_id": rid, "location": where, "sku": sku, "qty": qty, "status": "held",
                    "expires_at": exp}

        def on_postgres(conn: Connection) -> dict:
            now = self.clock()
            if location is None:
                self._authorize(conn, token, web)  # before picking: a stranger learns nothing of the stock
            where = self._pick(conn, sku, qty) if location is None else location
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
            where = self._pick(conn, sku, qty) if location is None else location
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
        with self.reads.connect() as conn:  # one statement: no transaction around it
            listed = [r[0] for r in driver_sql(conn, _DUE, (stamp(self.clock()),))]

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
