"""The floor's own writes: raw sqlite3 and psycopg doing what an ingest must (the entries' rows, one stock
row per entry), one transaction per batch; the tables they write, and PostgreSQL's counters.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import psycopg

from sync.models import LedgerEntry

ENTRY_COLS = ("store_id", "seq", "hash", "kind", "sku", "qty", "on_hand_delta", "quota_delta", "held_delta",
              "over_quota", "amount", "at", "body")
RAW_SQLITE_SCHEMA = """
CREATE TABLE entries (store_id TEXT NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL, kind TEXT NOT NULL,
    sku TEXT NOT NULL, qty INTEGER NOT NULL, on_hand_delta INTEGER NOT NULL, quota_delta INTEGER NOT NULL,
    held_delta INTEGER NOT NULL, over_quota INTEGER NOT NULL, amount INTEGER NOT NULL, at TEXT NOT NULL,
    body TEXT NOT NULL, PRIMARY KEY (store_id, seq));
CREATE TABLE stock (location TEXT NOT NULL, sku TEXT NOT NULL, on_hand INTEGER NOT NULL, quota INTEGER NOT NULL,
    PRIMARY KEY (location, sku));
"""
RAW_PG_SCHEMA = """
CREATE TABLE entries (store_id VARCHAR(32) NOT NULL, seq BIGINT NOT NULL, hash VARCHAR(64) NOT NULL,
    kind VARCHAR(24) NOT NULL, sku VARCHAR(64) NOT NULL, qty INTEGER NOT NULL, on_hand_delta INTEGER NOT NULL,
    quota_delta INTEGER NOT NULL, held_delta INTEGER NOT NULL, over_quota INTEGER NOT NULL, amount BIGINT NOT NULL,
    at VARCHAR(40) NOT NULL, body TEXT NOT NULL, PRIMARY KEY (store_id, seq));
CREATE TABLE stock (location VARCHAR(32) NOT NULL, sku VARCHAR(64) NOT NULL, on_hand INTEGER NOT NULL,
    quota INTEGER NOT NULL, PRIMARY KEY (location, sku));
CREATE TABLE floor_stock (location VARCHAR(32) NOT NULL, sku VARCHAR(64) NOT NULL, hub_share INTEGER NOT NULL,
    reserved INTEGER NOT NULL, safety_buffer INTEGER NOT NULL, PRIMARY KEY (location, sku));
CREATE TABLE floor_reservations (reservation_id VARCHAR(64) PRIMARY KEY, location VARCHAR(32) NOT NULL,
    sku VARCHAR(64) NOT NULL, qty INTEGER NOT NULL, idem_key VARCHAR(200) NOT NULL UNIQUE);
"""
INSERT_ENTRY_SQLITE = f"INSERT INTO entries ({', '.join(ENTRY_COLS)}) VALUES ({', '.join('?' * len(ENTRY_COLS))})"
UPSERT_STOCK_SQLITE = ("INSERT INTO stock (location, sku, on_hand, quota) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT (location, sku) DO UPDATE SET on_hand = stock.on_hand + excluded.on_hand, "
                       "quota = stock.quota + excluded.quota")
INSERT_ENTRY_PG = INSERT_ENTRY_SQLITE.replace("?", "%s")
UPSERT_STOCK_PG = UPSERT_STOCK_SQLITE.replace("?", "%s")


def entry_row(e: LedgerEntry) -> tuple:
    return (e.store_id, e.seq, e.content_hash(), e.kind, e.sku, e.qty, e.on_hand_delta, e.quota_delta,
            e.held_delta, e.over_quota, e.amount, e.at, e.model_dump_json())


def stock_row(e: LedgerEntry) -> tuple:
    return (e.store_id, e.sku, e.on_hand_delta, e.quota_delta)


def raw_sqlite_connect(path: Path) -> sqlite3.Connection:
    """Plain sqlite3 with the hub's settings (hub.db.make_engine): WAL, synchronous=FULL, BEGIN IMMEDIATE."""
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def xact_counts(pg_url: str) -> tuple[int, int]:
    """(commits, rollbacks) of the database so far: rollbacks count the hub's retried 40001 conflicts."""
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("SELECT pg_stat_clear_snapshot()")
        return c.execute("SELECT xact_commit, xact_rollback FROM pg_stat_database "
                         "WHERE datname = current_database()").fetchone()


def pg_checkpoint(pg_url: str) -> None:
    """Write out what PostgreSQL holds dirty, so that its checkpointer does not do it during the next block."""
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("CHECKPOINT")



def load_raw_pg(raw_pg: psycopg.Connection, positions: list[tuple]) -> None:
    """The floor's PostgreSQL tables: ingest's (entries, stock: a copy of the hub's positions) and reserve's."""
    with raw_pg.transaction(), raw_pg.cursor() as cur:
        cur.execute(RAW_PG_SCHEMA)
        cur.executemany("INSERT INTO stock VALUES (%s, %s, %s, %s)", [r[:4] for r in positions])
        cur.executemany("INSERT INTO floor_stock VALUES (%s, %s, %s, %s, %s)",
                        [(r[0], r[1], r[4], r[5], r[6]) for r in positions])
    raw_pg.execute("ANALYZE")
    raw_pg.commit()


def load_raw_sqlite(raw_sq: sqlite3.Connection, positions: list[tuple]) -> None:
    """The floor's SQLite tables for ingest (entries, stock: a copy of the hub's positions)."""
    raw_sq.executescript(RAW_SQLITE_SCHEMA)
    raw_sq.execute("BEGIN IMMEDIATE")
    raw_sq.executemany("INSERT INTO stock VALUES (?, ?, ?, ?)", [r[:4] for r in positions])
    raw_sq.execute("COMMIT")


def raw_sqlite_batches(conn: sqlite3.Connection, batches: list[tuple[list[tuple], list[tuple]]]) -> tuple[list[int], int]:
    clock = time.perf_counter_ns
    execute, executemany = conn.execute, conn.executemany
    lat = []
    start = clock()
    for entries, stock in batches:
        t = clock()
        execute("BEGIN IMMEDIATE")
        try:
            executemany(INSERT_ENTRY_SQLITE, entries)
            for s in stock:
                execute(UPSERT_STOCK_SQLITE, s)
        except BaseException:
            execute("ROLLBACK")
            raise
        execute("COMMIT")
        lat.append(clock() - t)
    return lat, clock() - start


def raw_pg_batches(conn: psycopg.Connection, batches: list[tuple[list[tuple], list[tuple]]]) -> tuple[list[int], int]:
    clock = time.perf_counter_ns
    lat = []
    start = clock()
    for entries, stock in batches:
        t = clock()
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(INSERT_ENTRY_PG, entries)
            cur.executemany(UPSERT_STOCK_PG, stock)
        lat.append(clock() - t)
    return lat, clock() - start
