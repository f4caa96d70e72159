"""How long a balancer pass takes at chain scale, beside the time to read every position from the same database.

    python bench/balance_pass.py            # 500 stores x 20,000 SKUs (builds for a few minutes)
    python bench/balance_pass.py --quick    # 40 stores x 2,000 SKUs, under a minute; the test suite runs this

One run, in a temporary folder, on SQLite (the hub's default):

1. A hub database holding `fixtures.chain.generate_chain(skus, stores)`: the
   catalog, the locations, and a position for every SKU each location stocks
   (a store's on-hand from the chain's stock lines). Fixture making, written
   straight into the tables, not measured.
2. Four weeks of walk-in sales as the balancer keeps them (`balance_sales`,
   units per store, SKU and hour): each store sells `--rate` units an open
   hour (8:00-20:00, busier at noon and at five, Saturdays a third more), over
   its stocked SKUs by a Zipf popularity of its own. Each store was heard from
   all along but for a few outages of one to six hours (`store_contacts`).
   The web shop's orders of the same four weeks (`--web` of the chain's
   demand, over the whole catalog by a Zipf popularity of its own, in the same
   rhythm) as the hub keeps them: committed reservations at the warehouse, one
   per SKU and hour; the balancer folds them in itself (hub/service/balance_web.py).
3. Every forecast made once (`Hub.rebalance` with every store's turn at once and
   the balancer switched off for every store, so it moves nothing), timed as
   "every forecast"; then a full plan's grants and releases applied to the
   positions at once: a chain as balanced as the balancer leaves it.
4. The floor: every position read from the same database, on the hub's own
   connection straight from the driver's cursor (`SELECT ... FROM positions`,
   every row fetched as a tuple), best of two.
5. A full pass (every SKU planned with every spot), timed.
6. `--rounds` times: five minutes of sales arrive (each store's `--rate` share,
   as its ledger entries, positions and changefeed rows, the way a push leaves
   them), the clock moves five minutes, and one scheduled pass runs, timed: the
   pass the hub runs every `balance_every_s`.
7. One more round, in which an hour of web orders has just settled (the web's
   read position set an hour back): the pass that reads the web's new hour and
   makes every SKU's web forecast again, once an hour, timed.

The table is for people; the last line is one JSON object: `pass_s` (the
median scheduled pass), `web_hour_pass_s` (step 7), `floor_s`, `ratio` (pass / floor), `full_pass_s`,
`full_ratio`, `forecast_all_s`, and the chain's size.
"""

from __future__ import annotations

import argparse
import bisect
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_repo_to_path, emit_json, print_table  # noqa: E402

add_repo_to_path()

from fixtures.chain import generate_chain  # noqa: E402
from hub.db import RowWriter, driver_sql  # noqa: E402
from hub.rules.forecasts import WEB  # noqa: E402
from hub.service import Hub  # noqa: E402
from hub.service.balance_inputs import fetch  # noqa: E402
from hub.service.balance_pass import Pass  # noqa: E402
from hub.service.common import _POSITION_COLS, _WRITE_ENTRIES, _WRITE_POSITIONS  # noqa: E402
from sync.kinds import stamp  # noqa: E402

NOW = datetime(2025, 3, 31, 14, 0, tzinfo=UTC)  # a Monday afternoon
HISTORY_DAYS = 28
OPEN = range(8, 20)
HOUR_SHAPE = {h: 1.0 + 0.6 * max(0.0, 1 - abs(h - 12) / 2) + 0.8 * max(0.0, 1 - abs(h - 17) / 2) for h in OPEN}
STEP = timedelta(minutes=5)
_SALES = RowWriter("balance_sales", [("store_id", "varchar"), ("sku", "varchar"), ("hour", "varchar"),
                                     ("units", "integer")])


def build(hub: Hub, skus: int, stores: int, rate: float, web: float, rng: random.Random) -> dict:
    chain = generate_chain(skus, stores)
    now = stamp(NOW)
    stocked: dict[str, list[str]] = {}
    with hub.engine.begin() as conn:
        driver_sql(conn, "INSERT INTO items (sku, gtin, name, price, perishable, shelf_life_days, case_gtin, pack_qty, "
                         "in_store, safety_buffer, feed_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                   [(i.sku, i.gtin, i.name, i.price, i.perishable, i.shelf_life_days, i.case_gtin, i.pack_qty,
                     i.in_store, i.safety_buffer) for i in chain.catalog])
        driver_sql(conn, "INSERT INTO locations (id, name, kind, policy, next_seq, next_grant_no, last_seen, blocked) "
                         "VALUES (?, ?, ?, 'in-hand', 1, 1, ?, ?)",
                   [(loc.id, loc.name, loc.kind, now if loc.kind == "store" else None, False)
                    for loc in chain.locations])
    n_pos = n_sales = 0
    for loc in chain.locations:
        on_hand: Counter[str] = Counter()
        for line in chain.stock(loc.id):
            on_hand[line.sku] += line.qty
        buffers = {k: chain.item(k).safety_buffer for k in on_hand}
        with hub.engine.begin() as conn:
            _WRITE_POSITIONS.write(conn, [(loc.id, k, q, 0, 0, 0, q, 0, 0, buffers[k]) for k, q in on_hand.items()])
        n_pos += len(on_hand)
        if loc.kind != "store":
            continue
        stocked[loc.id] = list(on_hand)
        n_sales += _history(hub, loc.id, stocked[loc.id], rate, rng)
    web_rate = rate * len(stocked) * web / (1 - web)
    n_web = _web_orders(hub, [i.sku for i in chain.catalog], chain.locations[-1].id, web_rate, rng)
    return {"chain": chain, "positions": n_pos, "sales_rows": n_sales, "stocked": stocked, "web_rows": n_web}


def _web_orders(hub: Hub, skus: list[str], warehouse: str, rate: float, rng: random.Random) -> int:
    """The web shop's orders over the history: committed reservations at the warehouse, one per SKU and hour."""
    order, cum = _popularity(skus, rng)
    rows = []
    day0 = (NOW - timedelta(days=HISTORY_DAYS)).replace(hour=0)
    for d in range(HISTORY_DAYS + 1):
        day = day0 + timedelta(days=d)
        weekly = 1.33 if day.weekday() == 5 else 0.0 if day.weekday() == 6 else 1.0
        for h in OPEN:
            t = day.replace(hour=h)
            if t >= NOW.replace(minute=0) or not weekly:
                break
            units = Counter(order[bisect.bisect_left(cum, rng.random() * cum[-1])]
                            for _ in range(max(0, int(rng.gauss(rate * HOUR_SHAPE[h] * weekly, 3) + 0.5))))
            at = stamp(t + timedelta(minutes=30))
            rows += [(f"W-{len(rows) + i}", warehouse, k, u, "done", None, False, at, "ship")
                     for i, (k, u) in enumerate(units.items())]
    with hub.engine.begin() as conn:
        driver_sql(conn, "INSERT INTO reservations (reservation_id, location, sku, qty, status, expires_at, at_risk, "
                         "created_at, how) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return len(rows)


def _popularity(skus: list[str], rng: random.Random) -> tuple[list[str], list[float]]:
    order = skus[:]
    rng.shuffle(order)
    return order, list(accumulate(1.0 / (r + 1) ** 1.1 for r in range(len(order))))


def _history(hub: Hub, store: str, skus: list[str], rate: float, rng: random.Random) -> int:
    order, cum = _popularity(skus, rng)
    total = cum[-1]
    units: Counter[tuple[str, str]] = Counter()
    day0 = (NOW - timedelta(days=HISTORY_DAYS)).replace(hour=0)
    for d in range(HISTORY_DAYS + 1):
        day = day0 + timedelta(days=d)
        weekly = 1.33 if day.weekday() == 5 else 0.0 if day.weekday() == 6 else 1.0
        for h in OPEN:
            t = day.replace(hour=h)
            if t >= NOW.replace(minute=0):
                break
            hour = stamp(t)
            n = int(rng.gauss(rate * HOUR_SHAPE[h] * weekly, 3) + 0.5) if weekly else 0
            for _ in range(max(0, n)):
                units[(order[bisect.bisect_left(cum, rng.random() * total)], hour)] += 1
    rows = [(store, k, h, u) for (k, h), u in units.items()]
    outages = []
    for _ in range(rng.randint(0, 3)):
        a = NOW - timedelta(hours=rng.uniform(6, 24 * HISTORY_DAYS))
        outages.append((a, a + timedelta(hours=rng.uniform(1, 6))))
    spans, t = [], NOW - timedelta(days=HISTORY_DAYS + 1)
    for a, b in sorted(outages):
        if a > t:
            spans.append((stamp(t), stamp(a)))
        t = max(t, b)
    spans.append((stamp(t), stamp(NOW)))
    with hub.engine.begin() as conn:
        _SALES.write(conn, rows)
        driver_sql(conn, "INSERT INTO store_contacts (store_id, since, until) VALUES (?, ?, ?)",
                   [(store, a, b) for a, b in spans])
        driver_sql(conn, "INSERT INTO balance_stores (store_id, seq, refreshed_at) VALUES (?, 0, '')", (store,))
    return len(rows)


def settle(hub: Hub) -> int:
    """Where the balancer leaves the chain: a full plan's grants and releases applied to the positions
    at once (as if every store had pulled and answered). Returns the moves it took."""
    with hub.consistent_reads.connect() as conn:
        planned = Pass(conn, hub.clock(), hub.balance_settings, hub.cadence).run(full=True)
    delta: Counter[tuple[str, str]] = Counter()
    for m in planned.moves:
        if m.kind in ("grant", "release"):
            delta[(m.location, m.sku)] += m.qty if m.kind == "grant" else -m.qty
    by_store: dict[str, list[str]] = {}
    for loc, sku in delta:
        by_store.setdefault(loc, []).append(sku)
    with hub.engine.begin() as conn:
        for loc, skus in by_store.items():
            ps = hub._positions(conn, loc, skus)
            for p in ps.values():
                p.quota += delta[(loc, p.sku)]
                p.hub_share -= delta[(loc, p.sku)]
            _WRITE_POSITIONS.write(conn, [p.row() for p in ps.values()])
    return len(planned.moves)


def five_minutes_of_sales(hub: Hub, stocked: dict[str, list[str]], rate: float, now: datetime,
                          rng: random.Random) -> int:
    """Each store's sales of five minutes, as a push leaves them: entries, positions, changefeed rows."""
    n = 0
    with hub.engine.begin() as conn:
        seqs = dict(driver_sql(conn, "SELECT id, next_seq FROM locations WHERE kind = 'store'").all())
        for store, skus in stocked.items():
            order, cum = _popularity(skus, random.Random(store))
            sold = Counter(order[bisect.bisect_left(cum, rng.random() * cum[-1])]
                           for _ in range(max(0, int(rng.gauss(rate / 12, 1) + 0.5))))
            if not sold:
                continue
            ps = hub._positions(conn, store, sold)
            before = hub._snapshot(ps)
            seq, entries = seqs[store], []
            for sku, q in sold.items():
                p = ps[sku]
                from_quota = min(p.quota, q)
                p.on_hand -= q
                p.quota -= from_quota
                p.hub_share -= q - from_quota
                at = stamp(now - timedelta(seconds=rng.uniform(0, 300)))
                entries.append((store, seq, "", "sale", sku, q, -q, -from_quota, 0, q - from_quota, 500 * q, at, "{}"))
                seq += 1
            _WRITE_ENTRIES.write(conn, entries)
            hub._save(conn, before, ps.values(), stamp(now))
            driver_sql(conn, "UPDATE locations SET next_seq = ?, last_seen = ? WHERE id = ?", (seq, stamp(now), store))
            n += len(entries)
    return n


def floor(hub: Hub) -> tuple[float, int]:
    """Every position, read on the hub's connection straight from the driver's cursor (no SQLAlchemy rows)."""
    best, n = float("inf"), 0
    for _ in range(2):
        t = time.perf_counter()
        with hub.reads.connect() as conn:
            n = len(fetch(conn, f"SELECT {_POSITION_COLS} FROM positions"))
        best = min(best, time.perf_counter() - t)
    return best, n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="40 stores x 2,000 SKUs, under a minute")
    p.add_argument("--stores", type=int, help="stores (default 500; quick 40)")
    p.add_argument("--skus", type=int, help="catalog size (default 20,000; quick 2,000)")
    p.add_argument("--rate", type=float, help="walk-in units a store sells an open hour (default 60; quick 30)")
    p.add_argument("--web", type=float, default=0.3, help="the web shop's share of the chain's demand (0.3)")
    p.add_argument("--rounds", type=int, help="scheduled passes timed (default 3; quick 2)")
    p.add_argument("--dir", help="where to keep the temporary database (default: a new temp dir)")
    a = p.parse_args(argv)
    q = a.quick
    stores, skus = a.stores or (40 if q else 500), a.skus or (2_000 if q else 20_000)
    rate, rounds = a.rate or (30.0 if q else 60.0), a.rounds or (2 if q else 3)
    work = Path(tempfile.mkdtemp(prefix="backroom-balance-", dir=a.dir))
    rng = random.Random(11)
    clock = [NOW]
    try:
        hub = Hub.open(f"sqlite:///{work / 'hub.sqlite'}", clock=lambda: clock[0])
        t = time.perf_counter()
        built = build(hub, skus, stores, rate, a.web, rng)
        build_s = time.perf_counter() - t
        every_store = replace(hub.cadence, refresh_rows=10**12)
        hub.cadence = every_store
        with hub.engine.begin() as conn:  # forecasts only: the balancer off for every store meanwhile
            driver_sql(conn, "INSERT INTO balance_off (scope, key, at) VALUES ('store', ?, '')",
                       [(s,) for s in built["stocked"]])
        t = time.perf_counter()
        hub.rebalance(full=True)
        forecast_all_s = time.perf_counter() - t
        with hub.engine.begin() as conn:
            driver_sql(conn, "DELETE FROM balance_off")
        hub.cadence = replace(every_store, refresh_rows=0)
        settled = settle(hub)
        floor_s, n_positions = floor(hub)
        clock[0] += STEP
        t = time.perf_counter()
        full = hub.rebalance(full=True)
        full_s = time.perf_counter() - t
        passes = []
        for _ in range(rounds):
            sold = five_minutes_of_sales(hub, built["stocked"], rate, clock[0], rng)
            clock[0] += STEP
            t = time.perf_counter()
            done = hub.rebalance(scheduled=True)
            passes.append((time.perf_counter() - t, sold, done))
        sold = five_minutes_of_sales(hub, built["stocked"], rate, clock[0], rng)
        clock[0] += STEP
        with hub.engine.begin() as conn:  # as if an hour of web orders had just settled (its orders read again)
            driver_sql(conn, "UPDATE balance_stores SET seq = seq - 3600 WHERE store_id = ?", (WEB,))
        t = time.perf_counter()
        web_hour = hub.rebalance(scheduled=True)
        web_hour_s = time.perf_counter() - t
        hub.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    pass_s = sorted(s for s, _, _ in passes)[len(passes) // 2]
    print_table(["step", "seconds", "spots planned", "moves", "entries since"], [
        ("build the chain (not timed)", build_s, "", "", ""),
        ("every forecast made (cold start)", forecast_all_s, "", "", ""),
        ("settle: a full plan applied (not timed)", "", "", settled, ""),
        ("floor: read every position", floor_s, n_positions, "", ""),
        ("full pass (every SKU)", full_s, full["spots"], len(full["moves"]), ""),
        *((f"scheduled pass {i + 1}", s, d["spots"], len(d["moves"]), sold) for i, (s, sold, d) in enumerate(passes)),
        ("scheduled pass, a web hour settled", web_hour_s, web_hour["spots"], len(web_hour["moves"]), sold),
    ], title=(f"Balancer pass{' (quick)' if q else ''}: {stores} stores x {skus:,} SKUs, {n_positions:,} positions, "
              f"{built['sales_rows']:,} hours of sales kept, {rate:g} units an open hour a store, "
              f"{built['web_rows']:,} web orders ({a.web:.0%} of demand) (SQLite)"))
    emit_json({"quick": q, "stores": stores, "skus": skus, "positions": n_positions, "sales_rows": built["sales_rows"],
               "pass_s": pass_s, "web_hour_pass_s": web_hour_s, "web_rows": built["web_rows"], "floor_s": floor_s,
               "ratio": pass_s / floor_s, "full_pass_s": full_s,
               "full_ratio": full_s / floor_s, "forecast_all_s": forecast_all_s,
               "pass_moves": [len(d["moves"]) for _, _, d in passes], "pass_spots": [d["spots"] for _, _, d in passes]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
