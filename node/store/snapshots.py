"""The SQL of end-of-day snapshots: taken from the stock table with the ledger's last sequence, kept until sent.

Like `ledger`, every function takes the connection of a transaction the caller opened; `take` must run
inside a write transaction (`immediate`), so the figures and the sequence are read at one instant and
no entry can come between them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

HEADER = "business_date, last_seq, taken_at, terminal, clerk, row_count, status, sent_at, answer"


def get(c: sqlite3.Connection, day: str) -> dict | None:
    row = c.execute(f"SELECT {HEADER} FROM day_snapshots WHERE business_date = ?", (day,)).fetchone()
    return dict(row) if row else None


def last_entry(c: sqlite3.Connection) -> tuple[int, str | None]:
    """The ledger's last sequence and when that entry was written (0, None for an empty ledger)."""
    row = c.execute("SELECT seq, at FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
    return (row[0], row[1]) if row else (0, None)


def take(c: sqlite3.Connection, day: str, last_seq: int, taken_at: str, terminal: str, clerk: str) -> None:
    """Copy every SKU's figures as they stand (they are the ledger's balances after `last_seq`)."""
    c.execute(f"INSERT INTO day_snapshots ({HEADER}) VALUES (?, ?, ?, ?, ?, 0, 'to_send', NULL, NULL)",
              (day, last_seq, taken_at, terminal, clerk))
    c.execute("INSERT INTO day_snapshot_rows (business_date, sku, floor, back, quota, held) "
              "SELECT ?, sku, floor, back, quota, held FROM stock ORDER BY sku", (day,))
    # Walk-ins turned away for want of quota that business date (node.refusals), per SKU.
    c.execute("UPDATE day_snapshot_rows SET refused_units = r.units, refused_times = r.times FROM (SELECT sku, "
              "SUM(qty) AS units, COUNT(*) AS times FROM refused_sales WHERE business_date = ? GROUP BY sku) r "
              "WHERE day_snapshot_rows.business_date = ? AND day_snapshot_rows.sku = r.sku", (day, day))
    c.execute("UPDATE day_snapshots SET row_count = (SELECT count(*) FROM day_snapshot_rows WHERE business_date = ?) "
              "WHERE business_date = ?", (day, day))


def to_send(c: sqlite3.Connection) -> list[dict]:
    """Snapshots the hub has not acknowledged yet, oldest date first."""
    return [dict(r) for r in c.execute(
        f"SELECT {HEADER} FROM day_snapshots WHERE status = 'to_send' ORDER BY business_date")]


def rows(c: sqlite3.Connection, day: str) -> Iterator[tuple[str, int, int, int, int, int, int]]:
    """(sku, floor, back, quota, held, units and times turned away for want of quota) by SKU."""
    for r in c.execute("SELECT sku, floor, back, quota, held, refused_units, refused_times FROM day_snapshot_rows "
                       "WHERE business_date = ? ORDER BY sku", (day,)):
        yield (r[0], r[1], r[2], r[3], r[4], r[5], r[6])


def settle(c: sqlite3.Connection, day: str, status: str, at: str, answer: str) -> None:
    """The hub acknowledged it (`sent`: its rows are no longer kept here) or refused it for good
    (`refused`: kept, for ops to look at; not sent again)."""
    c.execute("UPDATE day_snapshots SET status = ?, sent_at = ?, answer = ? WHERE business_date = ?",
              (status, at, answer, day))
    if status == "sent":
        c.execute("DELETE FROM day_snapshot_rows WHERE business_date = ?", (day,))


def recent(c: sqlite3.Connection, limit: int) -> list[dict]:
    return [dict(r) for r in c.execute(
        f"SELECT {HEADER} FROM day_snapshots ORDER BY business_date DESC LIMIT ?", (limit,))]
