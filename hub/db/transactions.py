"""The hub's engines and the one way it runs a transaction.

The same SQL runs on SQLite (the default: one file, `BEGIN IMMEDIATE`) and on
PostgreSQL (SERIALIZABLE). Under SERIALIZABLE, and on CockroachDB, a
conflicting transaction fails with SQLSTATE 40001 and must be run again
whole: `transact` does that with jittered backoff, so callers write plain
transactions and never see the retry.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError

from hub.rules import Busy


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
    roll back after `fn`: `before_commit` is called before `fn` instead. `f.before_begin()`
    runs before each attempt begins, outside any transaction: where another hub process
    may do its own work between two of this one's transactions. Without the option the
    cost is one dictionary look-up.
    """
    delay = 0.002
    options = engine.get_execution_options()
    no_wait = options.get("no_wait", False)
    faults = options.get("faults")
    autocommit = options.get("isolation_level") == "AUTOCOMMIT"
    for attempt in range(attempts):
        if faults is not None:
            faults.before_begin()
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
