"""The hub's schema (SQLAlchemy Core) and the one way it runs a transaction.

The same SQL runs on SQLite (the default: one file, `BEGIN IMMEDIATE`) and on
PostgreSQL (SERIALIZABLE). Under SERIALIZABLE, and on CockroachDB, a
conflicting transaction fails with SQLSTATE 40001 and must be run again
whole: `transact` does that with jittered backoff, so callers write plain
transactions and never see the retry.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger, Boolean, Column, Connection, Engine, Index, Integer, MetaData, String, Table, Text,
    UniqueConstraint, create_engine, event, insert, inspect, select,
)
from sqlalchemy.exc import DBAPIError

from hub.rules import Busy

metadata = MetaData()

locations = Table(
    "locations", metadata,
    Column("id", String(32), primary_key=True),
    Column("name", Text, nullable=False),
    Column("kind", String(16), nullable=False),  # store | warehouse
    Column("policy", String(16), nullable=False, default="in-hand"),
    Column("next_seq", BigInteger, nullable=False, default=1),  # the store entry the hub expects next
    Column("next_grant_no", BigInteger, nullable=False, default=1),
    Column("last_seen", String(40)),
    Column("blocked", Boolean, nullable=False, default=False),  # open divergence: no grants
)

items = Table(
    "items", metadata,
    Column("sku", String(64), primary_key=True),
    Column("gtin", String(14), nullable=False),
    Column("name", Text, nullable=False),
    Column("price", Integer, nullable=False),
    Column("perishable", Boolean, nullable=False, default=False),
    Column("shelf_life_days", Integer),
    Column("case_gtin", String(14)),
    Column("pack_qty", Integer, nullable=False, default=1),
    Column("in_store", Boolean, nullable=False, default=False),
    Column("safety_buffer", Integer, nullable=False, default=0),
    Column("feed_id", BigInteger, nullable=False, default=0),  # changefeed id of its last change
)

positions = Table(
    "positions", metadata,
    Column("location", String(32), primary_key=True),
    Column("sku", String(64), primary_key=True),
    Column("on_hand", BigInteger, nullable=False, default=0),
    Column("quota", BigInteger, nullable=False, default=0),
    Column("held", BigInteger, nullable=False, default=0),
    Column("in_flight", BigInteger, nullable=False, default=0),
    Column("hub_share", BigInteger, nullable=False, default=0),
    Column("reserved", BigInteger, nullable=False, default=0),
    Column("shortfall", BigInteger, nullable=False, default=0),
    Column("safety_buffer", BigInteger, nullable=False, default=0),
)

opening_stock = Table(
    "opening_stock", metadata,
    Column("location", String(32), primary_key=True),
    Column("sku", String(64), primary_key=True),
    Column("bin", String(16), primary_key=True),
    Column("qty", Integer, nullable=False),
    Column("quota", Integer, nullable=False),
)

store_entries = Table(
    "store_entries", metadata,
    Column("store_id", String(32), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("hash", String(64), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("qty", Integer, nullable=False),
    Column("on_hand_delta", Integer, nullable=False),
    Column("quota_delta", Integer, nullable=False),
    Column("held_delta", Integer, nullable=False),
    Column("over_quota", Integer, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("at", String(40), nullable=False),
    Column("body", Text, nullable=False),  # the entry as the store sent it (JSON)
)

grants = Table(
    "grants", metadata,
    Column("grant_id", String(64), primary_key=True),
    Column("store_id", String(32), nullable=False),
    Column("grant_no", BigInteger, nullable=False),
    Column("sku", String(64), nullable=False),
    Column("qty", Integer, nullable=False),
    Column("status", String(16), nullable=False, default="in_flight"),  # in_flight | applied
    Column("created_at", String(40), nullable=False),
    UniqueConstraint("store_id", "grant_no"),
)

release_requests = Table(
    "release_requests", metadata,
    Column("request_id", String(64), primary_key=True),
    Column("store_id", String(32), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("qty", Integer, nullable=False),
    Column("status", String(16), nullable=False, default="open"),  # open | answered
    Column("released", Integer),
    Column("created_at", String(40), nullable=False),
)

reservations = Table(
    "reservations", metadata,
    Column("reservation_id", String(64), primary_key=True),
    Column("location", String(32), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("qty", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("expires_at", String(40)),
    Column("at_risk", Boolean, nullable=False, default=False),
    Column("created_at", String(40), nullable=False),
    Index("reservations_open", "status", "expires_at"),
    Index("reservations_at", "location", "sku"),
)

incidents = Table(
    "incidents", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("store_id", String(32), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("seq", BigInteger),
    Column("message", Text, nullable=False),
    Column("at", String(40), nullable=False),
    Column("cleared_at", String(40)),
)

# An ordered, resumable feed of stock changes: written in the same
# transaction as the change itself (a transactional outbox). Readers page by
# `position`, not `id`: an id is drawn before its transaction commits, so on
# PostgreSQL a row can commit after a higher id was read and a cursor would
# pass it by. Rows are written without a position; `assign_feed_positions`
# numbers committed rows, one step at a time, so positions follow commits.
changefeed = Table(
    "changefeed", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("position", BigInteger, unique=True),
    Column("location", String(32), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # level | sold_out | back_in_stock | catalog
    Column("on_hand", BigInteger, nullable=False),
    Column("available", BigInteger, nullable=False),
    Column("at", String(40), nullable=False),
)

tokens = Table(
    "tokens", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("role", String(16), nullable=False),  # store | ops | web
    Column("store_id", String(32)),
    Column("created_at", String(40), nullable=False),
    Column("revoked_at", String(40)),
)

idempotency = Table(
    "idempotency", metadata,
    Column("key", String(220), primary_key=True),  # the caller's key (up to 200) after its purpose
    Column("response", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
)

# Units on their way between two stores: the sender's transfer_out entry opens one,
# the receiver's transfer_in entry (same id) closes it; the receiver's pull lists it.
transfers = Table(
    "transfers", metadata,
    Column("transfer_id", String(128), primary_key=True),  # a store's id (the wire's Id)
    Column("from_location", String(32), nullable=False),
    Column("to_location", String(32), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("qty", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # in_transit | received
    Column("sent_at", String(40), nullable=False),
    Index("transfers_to", "to_location", "status"),
)

schema_migrations = Table(
    "schema_migrations", metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", String(40), nullable=False),
)


def _m1(conn: Connection) -> None:
    metadata.create_all(conn, tables=[t for t in metadata.sorted_tables
                                      if t.name not in ("schema_migrations", "transfers")])


def _m2_transfers(conn: Connection) -> None:
    transfers.create(conn)


def _m3_feed_positions(conn: Connection) -> None:
    if "position" not in {c["name"] for c in inspect(conn).get_columns("changefeed")}:
        conn.exec_driver_sql("ALTER TABLE changefeed ADD COLUMN position BIGINT")
        conn.exec_driver_sql("CREATE UNIQUE INDEX changefeed_position ON changefeed (position)")
    # Rows from before had only ids: they are all committed now, so their order stands.
    conn.exec_driver_sql("UPDATE changefeed SET position = id WHERE position IS NULL")


def _m4_wide_figures(conn: Connection) -> None:
    """A position's figures add up a store's entries (each within a billion): 64-bit, so a sum
    cannot overflow; a transfer's id is the store's, as long as the wire allows. SQLite's
    integers are 64-bit and its strings unbounded already."""
    if conn.dialect.name != "postgresql":
        return
    figures = ("on_hand", "quota", "held", "in_flight", "hub_share", "reserved", "shortfall", "safety_buffer")
    conn.exec_driver_sql("ALTER TABLE positions " + ", ".join(f"ALTER COLUMN {f} TYPE BIGINT" for f in figures))
    conn.exec_driver_sql("ALTER TABLE changefeed ALTER COLUMN on_hand TYPE BIGINT, "
                         "ALTER COLUMN available TYPE BIGINT")
    conn.exec_driver_sql("ALTER TABLE transfers ALTER COLUMN transfer_id TYPE VARCHAR(128)")


def _m5_longer_idempotency_keys(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ALTER TABLE idempotency ALTER COLUMN key TYPE VARCHAR(220)")


MIGRATIONS: list[Callable[[Connection], None]] = [
    _m1, _m2_transfers, _m3_feed_positions, _m4_wide_figures, _m5_longer_idempotency_keys]

FEED_LOCK = 424243  # the PostgreSQL advisory lock that makes numbering the changefeed one step at a time


def assign_feed_positions(conn: Connection) -> None:
    """Number the changefeed's committed rows that have no position yet, after the highest one.

    One step at a time: on PostgreSQL under an advisory lock, on a READ COMMITTED
    connection (each statement sees every commit before it, including the previous
    step's; a SERIALIZABLE snapshot would be taken before the lock is granted). SQLite
    has one writer, so there a writer runs this in its own transaction.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({FEED_LOCK})")
    base = conn.exec_driver_sql("SELECT coalesce(max(position), 0) FROM changefeed").scalar()
    driver_sql(conn, "UPDATE changefeed SET position = CAST(? AS BIGINT) + r.rn FROM (SELECT id, row_number() "
                     "OVER (ORDER BY id) AS rn FROM changefeed WHERE position IS NULL) AS r "
                     "WHERE changefeed.id = r.id", (base,))


BUSY_TIMEOUT_MS = 30_000  # how long a SQLite write waits for another writer before giving up


class WouldWait(Exception):
    """A `no_wait` transaction could not start without waiting for another writer (SQLite's
    write lock) or would have been retried: run it again where waiting blocks no one."""


def make_engine(url: str, pool_size: int = 10) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # pysqlite's own transaction handling would BEGIN lazily (DEFERRED); we want IMMEDIATE.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):  # type: ignore[no-untyped-def]
            # Autocommit connections (Hub.reads) run single statements: no lock to take.
            # Read-only work (Hub.consistent_reads) takes a snapshot; writes take the write lock up
            # front, so two writers never both read and then fail to upgrade.
            options = conn.get_execution_options()
            if options.get("isolation_level") == "AUTOCOMMIT":
                return
            if options.get("read_only"):
                conn.exec_driver_sql("BEGIN")
            elif options.get("no_wait"):
                # Take the write lock now or not at all (see WouldWait); once held, nothing in
                # a WAL transaction waits on another connection.
                conn.exec_driver_sql("PRAGMA busy_timeout=0")
                try:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                finally:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # No pre-ping: it costs every checkout a round trip; a dropped connection fails one
    # transaction, which the client retries.
    return create_engine(url, isolation_level="SERIALIZABLE", pool_size=pool_size, max_overflow=2 * pool_size)


def migrate(engine: Engine, now: str) -> int:
    """Bring the schema to the newest version; safe to run from several hub processes at once."""
    def step(conn: Connection) -> int:
        schema_migrations.create(conn, checkfirst=True)
        done = set(conn.scalars(select(schema_migrations.c.version)))
        for version, fn in enumerate(MIGRATIONS, start=1):
            if version not in done:
                fn(conn)
                conn.execute(insert(schema_migrations).values(version=version, applied_at=now))
        return len(MIGRATIONS)
    if engine.dialect.name == "postgresql":
        # DDL under SERIALIZABLE from two processes: serialise on an advisory lock.
        with engine.begin() as conn:
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(424242)")
            return step(conn)
    return transact(engine, step)


T = TypeVar("T")

RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock


class InjectedSerializationFailure(Exception):
    """A fault hook's stand-in for SQLSTATE 40001: the transaction is rolled back and run again."""


class AmbiguousCommit(Exception):
    """Raised after the transaction committed: the caller sees an error although the work is done,
    as when a connection drops between COMMIT and its answer. Never retried by `transact`."""


def is_retryable(err: BaseException) -> bool:
    if isinstance(err, InjectedSerializationFailure):
        return True
    orig = getattr(err, "orig", None)
    if getattr(orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
        return True
    return "database is locked" in str(orig)


def transact(engine: Engine, fn: Callable[[Connection], T], *, attempts: int = 12) -> T:
    """Run `fn` in one transaction; run it again whole on a serialization failure.

    On an engine with the `no_wait` execution option nothing waits: where it would
    wait for the lock or sleep before a retry, it raises WouldWait instead.

    Fault injection (the simulation's): an engine with the `faults` execution option
    (`engine.execution_options(faults=f)`, inherited by every engine derived from it)
    calls `f.before_commit(conn)` after `fn` and before COMMIT, and `f.after_commit()`
    once COMMIT returned. `before_commit` may raise InjectedSerializationFailure: the
    transaction rolls back and runs again whole, as on 40001. `after_commit` may raise
    AmbiguousCommit: the work is committed and the error reaches the caller unretried.
    On an autocommit engine each statement commits as it runs, so there is nothing to
    roll back after `fn`: `before_commit` is called before `fn` instead. Without the
    option the cost is one dictionary look-up.
    """
    delay = 0.002
    options = engine.get_execution_options()
    no_wait = options.get("no_wait", False)
    faults = options.get("faults")
    autocommit = options.get("isolation_level") == "AUTOCOMMIT"
    for attempt in range(attempts):
        try:
            with engine.begin() as conn:
                if faults is not None and autocommit:
                    faults.before_commit(conn)
                result = fn(conn)
                if faults is not None and not autocommit:
                    faults.before_commit(conn)
        except (DBAPIError, InjectedSerializationFailure) as err:
            if not is_retryable(err):
                raise
            if no_wait:
                raise WouldWait() from err
            if attempt == attempts - 1:
                raise Busy("The hub is too busy to finish this now; try again in a moment.") from err
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.25)
        else:
            if faults is not None:
                faults.after_commit()
            return result
    raise AssertionError("unreachable")


class RowWriter:
    """Writes many rows into one table with one statement shape, on either database.

    SQLite: `executemany` of a one-row INSERT (a loop inside the driver). PostgreSQL:
    one INSERT ... SELECT over `unnest` of one array per column, so the server parses,
    plans and runs one statement instead of one per row (pipelined executemany spends
    most of a 100-row push in per-row round trips and executions). `columns` are
    (name, PostgreSQL type) pairs; `tail` is what follows, such as an ON CONFLICT clause.
    `unnest=False` keeps executemany on PostgreSQL too: long text columns (a ledger
    entry's JSON body) cost more to quote into an array literal and parse back than
    the per-row executions they save.
    """

    def __init__(self, table: str, columns: Sequence[tuple[str, str]], tail: str = "", *,
                 unnest: bool = True) -> None:
        names = ", ".join(n for n, _ in columns)
        self.one_row = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))}) {tail}".strip()
        arrays = ", ".join(f"%s::{t}[]" for _, t in columns)
        self.unnest = f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) {tail}".strip() if unnest else None

    def write(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self.unnest and conn.dialect.name == "postgresql":
            conn.exec_driver_sql(self.unnest, tuple(list(col) for col in zip(*rows, strict=True)))
        else:
            driver_sql(conn, self.one_row, list(rows))


def one_of(conn: Connection, values: Sequence[Any]) -> tuple[str, tuple]:
    """`column <this>` matching any of `values`, with its parameters, for `driver_sql`.

    On PostgreSQL one array parameter (`= ANY(?)`): the statement's text stays the same
    whatever the count, so the server prepares and plans it once. SQLite has no arrays.
    """
    if conn.dialect.name == "postgresql":
        return "= ANY(?)", (list(values),)
    return f"IN ({', '.join('?' * len(values))})", tuple(values)


def driver_sql(conn: Connection, sql: str, params: Sequence[Any] | Sequence[Sequence[Any]] = ()) -> Any:
    """Plain SQL with `?` marks, straight to the driver: the hot paths skip SQLAlchemy's compiler."""
    if conn.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    return conn.exec_driver_sql(sql, params)
