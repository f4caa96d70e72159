"""The schema's versions, run in order once each; safe to run from several hub processes at once."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine, insert, inspect, select

from hub.db.schema import (
    BALANCER_TABLES, REPORT_EVENT_TABLES, SNAPSHOT_TABLES, metadata, positions, release_requests, reports,
    reservations, schema_migrations, store_entries, transfers,
)
from hub.db.transactions import transact


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


def _m6_order_fulfilment(conn: Connection) -> None:
    """How an order is fulfilled (pickup or ship), and an index for a store's orders to hand over."""
    if "how" not in {c["name"] for c in inspect(conn).get_columns("reservations")}:
        conn.exec_driver_sql("ALTER TABLE reservations ADD COLUMN how VARCHAR(16)")
    if "reservations_to_hand_over" not in {i["name"] for i in inspect(conn).get_indexes("reservations")}:
        next(i for i in reservations.indexes if i.name == "reservations_to_hand_over").create(conn)


def _m7_balancer(conn: Connection) -> None:
    """The balancer's tables (a fresh database has them from _m1), and indexes for what it reads: a SKU's
    positions at every location, and the open release requests (a store's pull reads its own too)."""
    metadata.create_all(conn, tables=[metadata.tables[t] for t in BALANCER_TABLES], checkfirst=True)
    for table, index in ((positions, "positions_sku"), (release_requests, "release_requests_open")):
        if index not in {i["name"] for i in inspect(conn).get_indexes(table.name)}:
            next(i for i in table.indexes if i.name == index).create(conn)


def _m8_reports(conn: Connection) -> None:
    """The nightly report: each store's time zone (its business day), and every issue of a report kept."""
    if "tz" not in {c["name"] for c in inspect(conn).get_columns("locations")}:
        conn.exec_driver_sql("ALTER TABLE locations ADD COLUMN tz VARCHAR(64) NOT NULL DEFAULT 'UTC'")
    reports.create(conn, checkfirst=True)


def _m9_day_snapshots(conn: Connection) -> None:
    """End-of-day snapshots: each store's, its parts and rows until compared, and the differences found
    (a fresh database has them from _m1)."""
    metadata.create_all(conn, tables=[metadata.tables[t] for t in SNAPSHOT_TABLES], checkfirst=True)


def _m10_entries_by_sku(conn: Connection) -> None:
    """An index on store_entries (store_id, sku, seq): a SKU's entries at a store in ledger order, for the nightly
    report's out-of-stock hours (a fresh database has it from _m1)."""
    if "store_entries_sku" not in {i["name"] for i in inspect(conn).get_indexes("store_entries")}:
        next(i for i in store_entries.indexes if i.name == "store_entries_sku").create(conn)


def _m11_refusals_and_resourcings(conn: Connection) -> None:
    """For the nightly report: walk-ins each store turned away for want of quota (from its end-of-day snapshot)
    and each order ops re-sourced (a fresh database has them from _m1)."""
    metadata.create_all(conn, tables=[metadata.tables[t] for t in REPORT_EVENT_TABLES], checkfirst=True)


def _m12_entries_by_time(conn: Connection) -> None:
    """An index on store_entries (store_id, at): the nightly report reads a store's entries from the day before's
    start on, not its whole history (a fresh database has it from _m1)."""
    if "store_entries_at" not in {i["name"] for i in inspect(conn).get_indexes("store_entries")}:
        next(i for i in store_entries.indexes if i.name == "store_entries_at").create(conn)


def _m13_balance_tight(conn: Connection) -> None:
    """The SKUs the balancer's last wide plan found tight (a fresh database has the table from _m1)."""
    metadata.tables["balance_tight"].create(conn, checkfirst=True)


MIGRATIONS: list[Callable[[Connection], None]] = [
    _m1, _m2_transfers, _m3_feed_positions, _m4_wide_figures, _m5_longer_idempotency_keys, _m6_order_fulfilment,
    _m7_balancer, _m8_reports, _m9_day_snapshots, _m10_entries_by_sku, _m11_refusals_and_resourcings,
    _m12_entries_by_time, _m13_balance_tight]


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
