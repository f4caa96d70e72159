"""The bench's figures: hub over floor for ingest and reserve, the backlog and the reads; the tables for
people, and the JSON line with the aims met."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time

from _common import emit_json, print_table, summary_ms
from ingest import BATCH
from ingest.rounds import Side

AIM_SQLITE_RATIO = 0.5
AIM_BACKLOG_S = 2.0
AIM_RESERVE_RATIO = 0.5


def report(a: argparse.Namespace, *, skus: int, n_batches: int, rounds: int, warm_batches: int, uvloop: bool,
           httptools: bool, pg_ver: str, setup_s: float, gen_s: float, sides: dict[str, Side],
           rsides: dict[str, Side], backlog: dict[str, float], reads: dict[str, dict[str, float]],
           hub_rollbacks: int, reserve_errors: dict[str, int], profile_text: str, phases: dict[str, float],
           t0: float) -> None:
    """Print the tables, then the JSON line (`total_s` counts from `t0` to now)."""
    q = a.quick
    s = sides
    floor_sq_ms = s["bare_http"].per_batch_ms + s["raw_sqlite"].per_batch_ms
    floor_pg_ms = s["bare_http_pg"].per_batch_ms + s["raw_pg"].per_batch_ms
    sqlite_ratio = floor_sq_ms / s["hub_sqlite"].per_batch_ms
    pg_ratio = floor_pg_ms / s["hub_pg"].per_batch_ms
    hub_r, floor_r = rsides["hub_pg"], rsides["floor"]
    reserve_per_s = hub_r.n / (hub_r.wall / 1e9)
    floor_reserve_per_s = floor_r.n / (floor_r.wall / 1e9)
    reserve_ratio = reserve_per_s / floor_reserve_per_s
    rh, rf = summary_ms(hub_r.lat), summary_ms(floor_r.lat)
    backlog_s = backlog["sqlite"] * 10_000 / a.backlog
    meets = {"sqlite_ratio": sqlite_ratio >= AIM_SQLITE_RATIO, "backlog": backlog_s < AIM_BACKLOG_S,
             "reserve_ratio": reserve_ratio >= AIM_RESERVE_RATIO}

    title = (f"Backroom hub ingest bench{' (quick)' if q else ''}: {skus:,} SKUs, {n_batches} batches of {BATCH} "
             f"per side in {rounds} alternating rounds after {warm_batches} warm-up; uvicorn "
             f"(uvloop {'yes' if uvloop else 'NO'}, httptools {'yes' if httptools else 'NO'}), "
             f"SQLite {sqlite3.sqlite_version} WAL+FULL, PostgreSQL {pg_ver} "
             f"(pgserver, fsync on, synchronous_commit on), {os.cpu_count()} cores; setup {setup_s:.1f} s "
             f"(entries made in {gen_s:.1f} s)")

    def row(label: str, side: Side) -> list:
        m = summary_ms(side.lat)
        return [label, m["p50_ms"], m["p99_ms"], side.per_batch_ms, side.entries_per_s]

    print_table(
        ["ingest, 100-entry batches", "p50 ms", "p99 ms", "ms/batch", "entries/s"],
        [
            row("hub on SQLite (HTTP)", s["hub_sqlite"]),
            row("hub on PostgreSQL (HTTP)", s["hub_pg"]),
            row("floor: bare FastAPI parse", s["bare_http"]),
            row("floor: bare FastAPI parse (PG block)", s["bare_http_pg"]),
            row("floor: raw sqlite3 txn", s["raw_sqlite"]),
            row("floor: raw psycopg txn", s["raw_pg"]),
            ["floor SQLite = parse + sqlite3", None, None, floor_sq_ms, BATCH / floor_sq_ms * 1e3],
            ["floor PostgreSQL = parse + psycopg", None, None, floor_pg_ms, BATCH / floor_pg_ms * 1e3],
        ],
        title=title,
    )
    print()
    print_table(
        ["backlog, node to hub", "entries", "seconds", "entries/s", "s per 10k"],
        [[f"runner.push, batch=1000, hub on {'SQLite' if k == 'sqlite' else 'PostgreSQL'}", a.backlog, v,
          a.backlog / v, v * 10_000 / a.backlog] for k, v in backlog.items()],
    )
    print()
    print_table(
        ["store pull and expiry sweep, in-process", "SQLite ms", "PostgreSQL ms"],
        [["Hub.pull, store caught up with the feed", reads["sqlite"]["pull_ms"], reads["pg"]["pull_ms"]],
         ["Hub.expire_due, nothing due", reads["sqlite"]["expire_due_ms"], reads["pg"]["expire_due_ms"]]],
    )
    print()
    print_table(
        [f"web reserve, {a.clients} clients, {a.workers} workers", "p50 ms", "p99 ms", "max ms", "reserves/s"],
        [["hub on PostgreSQL", rh["p50_ms"], rh["p99_ms"], rh["max_ms"], reserve_per_s],
         [f"  (hub database: {hub_rollbacks:,} transactions rolled back, mostly 40001 retries; "
          f"{reserve_errors['hub_pg']} requests failed)", None, None, None, None],
         ["floor: FastAPI + raw psycopg", rf["p50_ms"], rf["p99_ms"], rf["max_ms"], floor_reserve_per_s]],
    )
    print()
    print_table(
        ["aim", "target", "measured", "met"],
        [["hub / floor entries per s, SQLite", f">= {AIM_SQLITE_RATIO}", sqlite_ratio, meets["sqlite_ratio"]],
         ["hub / floor entries per s, PostgreSQL", "(reported)", pg_ratio, None],
         ["10,000-entry backlog, SQLite hub, s", f"< {AIM_BACKLOG_S}", backlog_s, meets["backlog"]],
         ["hub / floor reserves per s", f">= {AIM_RESERVE_RATIO}", reserve_ratio, meets["reserve_ratio"]]],
    )
    if profile_text:
        print(profile_text, file=sys.stderr)
    print()
    emit_json({
        "sqlite_ratio": sqlite_ratio,
        "pg_ratio": pg_ratio,
        "backlog_10k_s": backlog_s,
        "backlog_10k_pg_s": backlog["pg"] * 10_000 / a.backlog if "pg" in backlog else None,
        "reserve_ratio": reserve_ratio,
        "reserve_p99_ms": rh["p99_ms"],
        "reserve_p50_ms": rh["p50_ms"],
        "reserve_per_s": reserve_per_s,
        "reserve_hub_rollbacks": hub_rollbacks,
        "reserve_errors": reserve_errors,
        "reserves_measured": hub_r.n,
        "floor_reserve_per_s": floor_reserve_per_s,
        "floor_reserve_p50_ms": rf["p50_ms"],
        "floor_reserve_p99_ms": rf["p99_ms"],
        "hub_sqlite_entries_per_s": s["hub_sqlite"].entries_per_s,
        "hub_pg_entries_per_s": s["hub_pg"].entries_per_s,
        "hub_sqlite_ms_per_batch": s["hub_sqlite"].per_batch_ms,
        "hub_pg_ms_per_batch": s["hub_pg"].per_batch_ms,
        "floor_sqlite_entries_per_s": BATCH / floor_sq_ms * 1e3,
        "floor_pg_entries_per_s": BATCH / floor_pg_ms * 1e3,
        "floor_http_ms_per_batch": s["bare_http"].per_batch_ms,
        "floor_http_pg_block_ms_per_batch": s["bare_http_pg"].per_batch_ms,
        "floor_raw_sqlite_ms_per_batch": s["raw_sqlite"].per_batch_ms,
        "floor_raw_pg_ms_per_batch": s["raw_pg"].per_batch_ms,
        "batches": n_batches,
        "batch_size": BATCH,
        "skus": skus,
        "backlog_entries": a.backlog,
        "clients": a.clients,
        "workers": a.workers,
        "uvloop": uvloop,
        "httptools": httptools,
        "aims": {"sqlite_ratio": AIM_SQLITE_RATIO, "backlog_10k_s": AIM_BACKLOG_S, "reserve_ratio": AIM_RESERVE_RATIO},
        "meets_aims": all(meets.values()),
        "phase_s": phases,
        "total_s": time.perf_counter() - t0,
        "quick": q,
        "pull_sqlite_ms": reads["sqlite"]["pull_ms"],
        "pull_pg_ms": reads["pg"]["pull_ms"],
        "expire_due_sqlite_ms": reads["sqlite"]["expire_due_ms"],
        "expire_due_pg_ms": reads["pg"]["expire_due_ms"],
    })
