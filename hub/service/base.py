"""The hub service's core: its engines, idempotency keys, positions, credentials, incidents."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from hub import db, rules
from hub.db import driver_sql, one_of
from hub.db import idempotency, incidents, tokens, transact
from hub.rules import Position, Principal
from hub.service.common import (
    _feed_row, hash_token, _LOCATION, _POSITION_COLS, _TOKEN, _write_feed, _WRITE_POSITIONS,
)
from sync.kinds import stamp, utcnow


class HubBase:
    """Engines and the pieces every audience's operations share."""

    def __init__(self, engine: Engine, clock: Any = utcnow, unique: Callable[[int], str] = secrets.token_hex) -> None:
        self.engine = engine
        # The random part of the ids the hub makes (grants, release requests), so that a
        # restored hub never reissues one; a simulation passes a seeded source to replay exactly.
        self.unique = unique
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
    def open(cls, url: str, clock: Any = utcnow, pool_size: int = 10) -> HubBase:
        engine = db.make_engine(url, pool_size)
        db.migrate(engine, stamp(clock()))
        return cls(engine, clock)

    def close(self) -> None:
        self.engine.dispose()

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

    @staticmethod
    def _sku_positions(conn: Connection, sku: str) -> list[Position]:
        """Every location's position of `sku`, by location; Unknown if the catalog has no such SKU.
        Each is one statement: positions and items only grow, so they need no transaction around them."""
        rows = [Position(*r) for r in driver_sql(
            conn, f"SELECT {_POSITION_COLS} FROM positions WHERE sku = ? ORDER BY location", (sku,))]
        if not rows and driver_sql(conn, "SELECT 1 FROM items WHERE sku = ?", (sku,)).first() is None:
            raise rules.Unknown(f"SKU {sku} is not in the chain's catalog.")
        return rows

    def _location(self, conn: Connection, location: str, kind: str | None = None) -> Any:
        loc = driver_sql(conn, _LOCATION, (location,)).first()
        if loc is None or (kind and loc.kind != kind):
            raise rules.Unknown(f"There is no {kind or 'location'} {location}.")
        return loc

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
