"""Opening a node file, and the one way writes happen: one `BEGIN IMMEDIATE` transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from node.store.schema import migrations

BUSY_TIMEOUT_MS = 10_000


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection in autocommit mode: transactions are opened explicitly."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def open_node_file(path: str | Path) -> sqlite3.Connection:
    """Open (creating if need be) and migrate a node file."""
    conn = connect(path)
    db = Database(conn)
    # Two terminals starting at once must not both migrate.
    conn.execute("BEGIN IMMEDIATE")
    try:
        pending = migrations.pending(db)
    finally:
        conn.execute("ROLLBACK")
    if pending:
        # Inside our IMMEDIATE transaction each step runs as a savepoint.
        with immediate(conn):
            migrations.apply(db)
    return conn


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: commits on success, rolls back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def backup(conn: sqlite3.Connection, dest: str | Path) -> Path:
    """A consistent copy taken in one read transaction: terminals keep selling meanwhile."""
    dest = Path(dest)
    if dest.exists():
        raise FileExistsError(f"Backup target {dest} already exists; choose a new file name.")
    conn.execute("VACUUM INTO ?", (str(dest),))
    return dest
