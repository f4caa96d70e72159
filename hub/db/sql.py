"""Plain SQL straight to the driver, for the hot paths: statements with `?` marks, many rows in
one statement, "any of these" as one parameter, and numbering the changefeed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection


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
