"""What the hub's service modules share: time stamps, row writers, the changefeed's rows,
and conversions between rows, wire models and the rules' types."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import fields
from typing import Any

from sqlalchemy import Connection

from hub import db
from hub.db import driver_sql, one_of, RowWriter
from hub.rules import EntryFacts, Position, Reservation
from sync import models as wire
from sync.kinds import Kind, parse_stamp

# The figures of a position, as the positions table holds them (after location and sku).
POSITION_FIGURES = tuple(f.name for f in fields(Position))[2:]


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
# The columns of `db.locations`, as select(locations) gives them.
_LOCATION = "SELECT id, name, kind, policy, next_seq, next_grant_no, last_seen, blocked FROM locations WHERE id = ?"


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
    request_id = d.get("request_id") if e.kind == Kind.QUOTA_RELEASED else None
    counterpart = (d.get("to") if e.kind == Kind.TRANSFER_OUT
                   else d.get("from") if e.kind == Kind.TRANSFER_IN else None)
    return EntryFacts(e.seq, e.kind, e.sku, e.qty, e.on_hand_delta, e.quota_delta, e.held_delta, e.over_quota,
                      e.ref, d.get("hub_ordered") is True, e.quota_after,
                      str(request_id) if request_id else None, str(counterpart) if counterpart else None)


def _position(row: Any) -> Position:
    return Position(row.location, row.sku, *(getattr(row, f) for f in POSITION_FIGURES))


def _reservation(row: Any) -> Reservation:
    exp = parse_stamp(row.expires_at) if row.expires_at else None
    return Reservation(row.reservation_id, row.location, row.sku, row.qty, row.status, exp, bool(row.at_risk),
                       getattr(row, "how", None))


class _OpenReservations:
    """The open reservations at a store for a batch's SKUs, newest first, read on first use.

    Only an entry that takes more than the hub's share (rare) looks at them; most pushes
    need not run the query at all. `shared` are reservations the batch's entries name (orders
    handed over), already read: the same objects stand in for their rows, so that what one
    entry did to them the next one sees.
    """

    def __init__(self, conn: Connection, store_id: str, skus: set[str],
                 shared: dict[str, Reservation] | None = None) -> None:
        self.conn, self.store_id, self.skus = conn, store_id, skus
        self.shared = shared or {}
        self.by_sku: dict[str, list[Reservation]] | None = None

    def _load(self) -> dict[str, list[Reservation]]:
        if self.by_sku is None:
            self.by_sku = {}
            any_sku, skus = one_of(self.conn, list(self.skus))
            for r in driver_sql(
                    self.conn, "SELECT reservation_id, location, sku, qty, status, expires_at, at_risk "
                    f"FROM reservations WHERE location = ? AND sku {any_sku} "
                    "AND status IN ('held', 'ordered', 'to_hand_over', 'transfer') "
                    "ORDER BY created_at DESC, reservation_id DESC", (self.store_id, *skus)):
                self.by_sku.setdefault(r.sku, []).append(self.shared.get(r.reservation_id) or _reservation(r))
        return self.by_sku

    def at(self, sku: str) -> Iterator[Reservation]:
        """The ones at `sku`, for one `rules.apply_entry` (a generator: nothing is read until it is used)."""
        yield from self._load().get(sku, ())

    def at_risk(self) -> list[str]:
        """The ones settling marked at risk (none if nothing needed them)."""
        if self.by_sku is None:
            return []
        return [r.reservation_id for rs in self.by_sku.values() for r in rs if r.at_risk]
