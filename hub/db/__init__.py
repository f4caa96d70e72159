"""The hub's database: its schema, migrations, engines and transactions, and the plain SQL of its hot paths.

The same SQL runs on SQLite (the default: one file, `BEGIN IMMEDIATE`) and on
PostgreSQL (SERIALIZABLE), where a conflicting transaction is run again whole
by `transact`.

- `schema`: the tables (SQLAlchemy Core);
- `migrations`: the schema's versions and `migrate`;
- `transactions`: `make_engine`, `transact` and its retry, the fault hook's errors;
- `sql`: `driver_sql`, `one_of`, `RowWriter` (the hot paths skip SQLAlchemy's
  compiler) and `assign_feed_positions`.

Callers use `db.X` or `from hub.db import X`, whichever part X lives in.
"""

from __future__ import annotations

from hub.db.migrations import (
    MIGRATIONS, _m1, _m2_transfers, _m3_feed_positions, _m4_wide_figures, _m5_longer_idempotency_keys,
    _m6_order_fulfilment, _m7_balancer, _m8_reports, _m9_day_snapshots, migrate,
)
from hub.db.schema import (
    BALANCER_TABLES, balance_demand, balance_dirty, balance_moves, balance_off, balance_pins, balance_runs,
    balance_sales, balance_stores, balance_watch, leases, promos, store_contacts, transfer_proposals,
    changefeed, grants, idempotency, incidents, items, locations, metadata, opening_stock, positions,
    release_requests, reports, reservations, schema_migrations, store_entries, tokens, transfers,
    SNAPSHOT_TABLES, day_snapshots, snapshot_differences, snapshot_parts, snapshot_rows,
)
from hub.db.sql import FEED_LOCK, RowWriter, assign_feed_positions, driver_sql, one_of
from hub.db.transactions import (
    BUSY_TIMEOUT_MS, RETRYABLE_SQLSTATES, AmbiguousCommit, InjectedSerializationFailure, WouldWait, is_retryable,
    make_engine, transact,
)

__all__ = [
    "BALANCER_TABLES", "_m7_balancer", "_m8_reports", "reports",
    "SNAPSHOT_TABLES", "_m9_day_snapshots", "day_snapshots", "snapshot_differences", "snapshot_parts", "snapshot_rows", "balance_demand", "balance_dirty", "balance_moves", "balance_off",
    "balance_pins", "balance_runs", "balance_sales", "balance_stores", "balance_watch", "leases", "promos",
    "store_contacts", "transfer_proposals",
    "BUSY_TIMEOUT_MS", "FEED_LOCK", "MIGRATIONS", "RETRYABLE_SQLSTATES", "AmbiguousCommit",
    "InjectedSerializationFailure", "RowWriter", "WouldWait", "_m1", "_m2_transfers", "_m3_feed_positions",
    "_m4_wide_figures", "_m5_longer_idempotency_keys", "_m6_order_fulfilment", "assign_feed_positions",
    "changefeed", "driver_sql", "grants", "idempotency", "incidents", "is_retryable", "items", "locations",
    "make_engine", "metadata", "migrate", "one_of", "opening_stock", "positions", "release_requests", "reservations", "schema_migrations",
    "store_entries", "tokens", "transact", "transfers",
]
