"""A lease per job, so that a job runs in one hub process at a time however many share the database.

A lease is one row: `name`, the `holder` running the job now (None when nobody
is), and `expires_at`, when the holder's claim lapses. Each statement runs
inside the caller's `transact` transaction, so two processes that claim at
once are serialised: on SQLite by its one writer, on PostgreSQL by
SERIALIZABLE (the loser's transaction fails with 40001, is run again, and then
finds the row claimed). A holder that dies stops renewing: its claim lapses at
`expires_at` and the next claim succeeds.

Times are ISO-8601 UTC stamps (`sync.kinds.stamp`): they compare as strings.

- `claim(..., scheduled=True)`: only once `expires_at` has passed. A holder that
  finishes keeps the row until the end of its interval (`let_go(until=...)`),
  so a second process whose timer fires later in the same interval finds it
  claimed: one run per interval, whichever process starts first.
- `claim(..., scheduled=False)` (ops asked for a run now): whenever nobody is
  running the job, whatever interval the last run was in.
"""

from __future__ import annotations

from sqlalchemy import Connection

from hub.db.sql import driver_sql


def claim(conn: Connection, name: str, holder: str, now: str, until: str, *, scheduled: bool) -> str | None:
    """Take the lease until `until`; None if taken, else who holds it (or "" for an interval not yet over)."""
    # A lease never claimed has no row yet: make one, already lapsed (two processes that both make it
    # are serialised like any other claim).
    driver_sql(conn, "INSERT INTO leases (name, holder, expires_at) VALUES (?, NULL, '') ON CONFLICT (name) DO NOTHING",
               (name,))
    free = "expires_at <= ?" if scheduled else "(holder IS NULL OR expires_at <= ?)"
    if driver_sql(conn, f"UPDATE leases SET holder = ?, expires_at = ? WHERE name = ? AND {free}",
                  (holder, until, name, now)).rowcount:
        return None
    return driver_sql(conn, "SELECT holder FROM leases WHERE name = ?", (name,)).scalar() or ""


def renew(conn: Connection, name: str, holder: str, until: str) -> bool:
    """Keep holding the lease until `until`; False if it lapsed and someone else took it."""
    return driver_sql(conn, "UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ?",
                      (until, name, holder)).rowcount > 0


def let_go(conn: Connection, name: str, holder: str, until: str) -> None:
    """Stop running the job; a scheduled claim waits until `until` (the end of this interval)."""
    driver_sql(conn, "UPDATE leases SET holder = NULL, expires_at = ? WHERE name = ? AND holder = ?",
               (until, name, holder))
