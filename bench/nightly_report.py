"""The nightly report over a day of ledger entries, beside reading those entries once (the floor).

A hub database is filled straight through its driver: STORES stores, SKUS SKUs, ENTRIES ledger entries of one
business day (a tenth of them the stores' openings the day before, the rest the day's sales, returns,
receipts, counts, write-offs and transfers, spread over each store's day; stores in three time zones). Then,
on SQLite and on PostgreSQL: the floor, one read of every entry's figures the report uses (store, sequence,
kind, SKU, quantities, amount, time) fetched into Python; and the report, `Hub.make_report` for the chain
(the SQL sums, the figures, the HTML page with its charts, kept in the reports table). Last line: JSON.

    python bench/nightly_report.py            # 1,000,000 entries, 500 stores, 20,000 SKUs
    python bench/nightly_report.py --quick    # 20,000 entries, 20 stores, 2,000 SKUs; SQLite only unless --pg
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from _common import add_repo_to_path, emit_json, print_table  # noqa: E402

add_repo_to_path()

from hub.report.days import day_bounds  # noqa: E402
from hub.service import Hub  # noqa: E402
from sync.kinds import stamp  # noqa: E402

DAY = date(2025, 6, 2)
ZONES = ("UTC", "Europe/Paris", "America/New_York")
KINDS = (("sale", -1, 70), ("return", 1, 5), ("receive", 1, 6), ("count", 0, 5), ("damaged", -1, 2),
         ("lost", -1, 1), ("expired", -1, 1), ("transfer_out", -1, 2), ("transfer_in", 1, 2), ("hold", 0, 6))
COLS = "store_id, seq, hash, kind, sku, qty, on_hand_delta, quota_delta, held_delta, over_quota, amount, at, body"


def entries(stores: int, skus: int, total: int, seed: int = 7):
    """Rows for store_entries, store by store in sequence order."""
    rng = random.Random(seed)
    names = [k for k, _, _ in KINDS]
    weights = [w for _, _, w in KINDS]
    sign = {k: s for k, s, _ in KINDS}
    per = total // stores
    for s in range(stores):
        sid = f"S{s + 1:04d}"
        lo, _ = day_bounds(DAY, ZONES[s % len(ZONES)])
        start = datetime.fromisoformat(lo)
        opening = per // 10
        mine = rng.sample(range(skus), min(skus, opening))
        for i in range(per):
            if i < opening:
                kind, sku, qty, at = "receive", mine[i], rng.randint(5, 40), start - timedelta(hours=12, seconds=-i)
                delta = qty
            else:
                kind = rng.choices(names, weights)[0]
                sku, qty = rng.choice(mine), rng.randint(1, 3)
                at = start + timedelta(seconds=int((i - opening) * 86_000 / (per - opening)))
                delta = sign[kind] * qty if kind != "count" else rng.randint(-2, 1)
            over = qty if kind == "sale" and rng.random() < 0.02 else 0
            amount = qty * 500 if kind == "sale" else -qty * 500 if kind == "return" else 0
            yield (sid, i + 1, f"{s:x}-{i:x}", kind, f"SKU{sku:06d}", qty, delta, 0 if kind == "hold" else delta,
                   qty if kind == "hold" else 0, over, amount, stamp(at), "{}")


def fill(url: str, stores: int, skus: int, total: int) -> Hub:
    hub = Hub.open(url, clock=lambda: datetime(2025, 6, 4, 3, tzinfo=UTC))
    with hub.engine.begin() as conn:
        raw = conn.connection.driver_connection
        locs = [(f"S{s + 1:04d}", f"Store {s + 1}", "store", "in-hand", total // stores + 1, 1,
                 "2025-06-04T01:00:00.000000+00:00", False, ZONES[s % len(ZONES)]) for s in range(stores)]
        locs.append(("W01", "Warehouse", "warehouse", "in-hand", 1, 1, None, False, "UTC"))
        items = [(f"SKU{n:06d}", f"4{n:012d}", f"Item {n}", 100 + n % 900, False, None, None, 1, False, 0, 0)
                 for n in range(skus)]
        if url.startswith("postgresql"):
            cur = raw.cursor()
            with cur.copy("COPY locations (id, name, kind, policy, next_seq, next_grant_no, last_seen, blocked, tz) "
                          "FROM STDIN") as cp:
                for r in locs:
                    cp.write_row(r)
            with cur.copy("COPY items (sku, gtin, name, price, perishable, shelf_life_days, case_gtin, pack_qty, "
                          "in_store, safety_buffer, feed_id) FROM STDIN") as cp:
                for r in items:
                    cp.write_row(r)
            with cur.copy(f"COPY store_entries ({COLS}) FROM STDIN") as cp:
                for r in entries(stores, skus, total):
                    cp.write_row(r)
        else:
            raw.executemany("INSERT INTO locations (id, name, kind, policy, next_seq, next_grant_no, last_seen, "
                            "blocked, tz) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", locs)
            raw.executemany("INSERT INTO items (sku, gtin, name, price, perishable, shelf_life_days, case_gtin, "
                            "pack_qty, in_store, safety_buffer, feed_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            items)
            raw.executemany(f"INSERT INTO store_entries ({COLS}) VALUES ({', '.join('?' * 13)})",
                            entries(stores, skus, total))
    if url.startswith("postgresql"):
        with hub.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    return hub


def read_floor(hub: Hub) -> tuple[float, int]:
    with hub.engine.connect() as conn:
        cur = conn.connection.driver_connection.cursor()
        t = time.perf_counter()
        cur.execute("SELECT store_id, seq, kind, sku, qty, on_hand_delta, quota_delta, held_delta, over_quota, "
                    "amount, at FROM store_entries")
        n = len(cur.fetchall())
        return time.perf_counter() - t, n


def measure(url: str, stores: int, skus: int, total: int) -> dict:
    t = time.perf_counter()
    hub = fill(url, stores, skus, total)
    fill_s = time.perf_counter() - t
    floor, n = read_floor(hub)
    floor2, _ = read_floor(hub)
    t = time.perf_counter()
    done = hub.make_report(DAY)
    report_s = time.perf_counter() - t
    r, html = hub.report(DAY.isoformat())
    hub.close()
    return {"entries": n, "fill_s": fill_s, "read_floor_s": min(floor, floor2), "report_s": report_s,
            "revision": done["revision"], "ties": all(x.ties for x in r.roll_forward), "html_kb": len(html) / 1024,
            "sold_out": len(r.sold_out)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python bench/nightly_report.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="20,000 entries, 20 stores, 2,000 SKUs")
    p.add_argument("--pg", action=argparse.BooleanOptionalAction, default=None,
                   help="also on PostgreSQL (default: yes, except with --quick)")
    a = p.parse_args(argv)
    stores, skus, total = (20, 2000, 20_000) if a.quick else (500, 20_000, 1_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        lite = measure(f"sqlite:///{Path(tmp) / 'hub.sqlite'}", stores, skus, total)
    pg = None
    if a.pg if a.pg is not None else not a.quick:
        sys.path.insert(0, str(Path(__file__).parent))
        from _pg import throwaway_postgres  # noqa: PLC0415

        with throwaway_postgres() as server:
            pg = measure(server.create_database("report"), stores, skus, total)
    rows = [("sqlite", lite["entries"], lite["read_floor_s"], lite["report_s"], lite["report_s"] / lite["read_floor_s"],
             lite["ties"])]
    if pg:
        rows.append(("postgresql", pg["entries"], pg["read_floor_s"], pg["report_s"],
                     pg["report_s"] / pg["read_floor_s"], pg["ties"]))
    print_table(("database", "entries", "read floor s", "report s", "ratio", "ties out"), rows,
                title=f"Nightly report, {stores} stores, {skus:,} SKUs, one day (aim: under 10 s, at most 3x the floor)")
    emit_json({"stores": stores, "skus": skus, "entries": lite["entries"], "report_s": lite["report_s"],
               "read_floor_s": lite["read_floor_s"], "ratio": lite["report_s"] / lite["read_floor_s"],
               "fill_s": lite["fill_s"], "html_kb": lite["html_kb"],
               "pg_report_s": pg and pg["report_s"], "pg_read_floor_s": pg and pg["read_floor_s"],
               "pg_ratio": pg and pg["report_s"] / pg["read_floor_s"], "ties": lite["ties"] and (not pg or pg["ties"])})
    return 0


if __name__ == "__main__":
    sys.exit(main())
