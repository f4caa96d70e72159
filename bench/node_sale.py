"""How fast a node commits a sale, beside raw SQLite, and how fast the till looks things up.

    python bench/node_sale.py            # 100,000-SKU catalog, 20,000 sales (about a minute)
    python bench/node_sale.py --quick    # a few seconds; the test suite runs this

One run builds, in a temporary folder, a node file for one store of
`fixtures.chain.generate_chain(skus, 1)` and a raw SQLite file with the same
durability (WAL, synchronous=FULL, checked) holding `stock(sku, quota)` with
the node's opening quota and a `ledger`. Both then make the same sales, one
unit of the same SKU each, in the same order, in alternating rounds:

- node: `node.sell(op_id, [SaleLine(sku, 1, price)])`, in-hand policy, every
  sale within the SKU's quota;
- raw floor: `BEGIN IMMEDIATE; UPDATE stock SET quota = quota - 1 WHERE sku = ?
  AND quota >= 1; INSERT INTO ledger ...; COMMIT`.

SKUs are drawn uniformly from the store's SKUs with quota, never past a SKU's
quota. Each call is timed with perf_counter_ns; sales per second is sales
over the loop's wall time. Then `node.lookup(scan)` (random valid scans from
`Chain.sample_scan`), `node.resolve(scan)` and `node.search(prefix)` (3-5
letter prefixes of words of real item names) are timed on the same file.

The table is for people; the last line is one JSON object for scripts
(`sale_p99_ms`, `sales_per_s`, `raw_per_s`, `ratio`, `lookup_p99_ms`, ...).
Aims (reported, not enforced): sale p99 <= 2 ms, ratio >= 0.6, lookup p99 <= 5 ms.
`--profile` also prints a cProfile of the node's sales to stderr.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_repo_to_path, draw_within, emit_json, print_table, summary_ms  # noqa: E402

add_repo_to_path()

from fixtures.chain import Chain, generate_chain  # noqa: E402
from node.rules import Policy, SaleLine  # noqa: E402
from node.service import Node, initialise_from_chain  # noqa: E402
from node.store import BUSY_TIMEOUT_MS  # noqa: E402

STORE = "S001"
AIM_SALE_P99_MS = 2.0
AIM_RATIO = 0.6
AIM_LOOKUP_P99_MS = 5.0

RAW_SCHEMA = """
CREATE TABLE stock (sku TEXT PRIMARY KEY, quota INTEGER NOT NULL CHECK (quota >= 0));
CREATE TABLE ledger (
    seq INTEGER PRIMARY KEY,
    sku TEXT NOT NULL,
    qty INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    at INTEGER NOT NULL
);
"""
RAW_DECREMENT = "UPDATE stock SET quota = quota - 1 WHERE sku = ? AND quota >= 1"
RAW_INSERT = "INSERT INTO ledger (sku, qty, amount, at) VALUES (?, 1, ?, ?)"


# -- setting up -------------------------------------------------------------


def raw_connect(path: Path) -> sqlite3.Connection:
    """Plain sqlite3 with the node file's settings (see node.store.connect)."""
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def durability(conn: sqlite3.Connection) -> tuple[str, int]:
    return (conn.execute("PRAGMA journal_mode").fetchone()[0].lower(),
            conn.execute("PRAGMA synchronous").fetchone()[0])


def setup(folder: Path, chain: Chain) -> tuple[Node, sqlite3.Connection, dict[str, int], dict[str, int]]:
    """The node file and the raw file, with the same SKUs and quota; also prices and quota by SKU."""
    node = Node(folder / "node.db", terminal="T1", clerk="bench")
    initialise_from_chain(node, chain, STORE, policy=Policy.IN_HAND)
    quota = {sku: q for sku, q in node.conn.execute("SELECT sku, quota FROM stock")}
    prices = {it.sku: it.price for it in chain.catalog}

    raw = raw_connect(folder / "raw.db")
    raw.executescript(RAW_SCHEMA)
    raw.execute("BEGIN IMMEDIATE")
    raw.executemany("INSERT INTO stock (sku, quota) VALUES (?, ?)", quota.items())
    raw.execute("COMMIT")

    if durability(node.conn) != durability(raw) or durability(raw) != ("wal", 2):
        raise SystemExit(f"Durability differs: node {durability(node.conn)}, raw {durability(raw)}; "
                         "the bench compares like with like only at WAL + synchronous=FULL (2).")
    return node, raw, prices, quota


def plan_sales(quota: dict[str, int], n: int, rng: random.Random) -> list[str]:
    """n SKUs drawn uniformly from those with quota left, never past a SKU's quota."""
    out = draw_within(quota, n, rng)
    if len(out) < n:
        raise SystemExit(f"The store has quota for only {len(out)} sales; ask for fewer.")
    return out


def name_prefixes(chain: Chain, n: int, rng: random.Random) -> list[str]:
    """n prefixes, 3 to 5 letters, of words (3+ letters) of random real item names."""
    out: list[str] = []
    while len(out) < n:
        item = chain.catalog[rng.randrange(len(chain.catalog))]
        words = [w for w in item.name.split() if w.isalpha() and len(w) >= 3]
        if words:
            w = rng.choice(words)
            out.append(w[: rng.randint(3, min(5, len(w)))])
    return out


# -- measuring --------------------------------------------------------------


def node_sales(node: Node, sales: list[tuple[str, list[SaleLine]]]) -> tuple[list[int], int]:
    """Per-sale latencies (ns) and the loop's wall time (ns)."""
    clock = time.perf_counter_ns
    sell = node.sell
    lat = []
    start = clock()
    for op_id, lines in sales:
        t = clock()
        sell(op_id, lines)
        lat.append(clock() - t)
    return lat, clock() - start


def raw_sales(conn: sqlite3.Connection, sales: list[tuple[str, int]]) -> tuple[list[int], int]:
    clock = time.perf_counter_ns
    execute = conn.execute
    now = time.time_ns
    lat = []
    start = clock()
    for sku, price in sales:
        t = clock()
        execute("BEGIN IMMEDIATE")
        try:
            if execute(RAW_DECREMENT, (sku,)).rowcount != 1:
                raise RuntimeError(f"raw floor: no quota left for {sku}")
            execute(RAW_INSERT, (sku, price, now()))
        except BaseException:
            execute("ROLLBACK")
            raise
        execute("COMMIT")
        lat.append(clock() - t)
    return lat, clock() - start


def timed(fn, args: list) -> list[int]:  # type: ignore[no-untyped-def]
    clock = time.perf_counter_ns
    lat = []
    for a in args:
        t = clock()
        fn(a)
        lat.append(clock() - t)
    return lat


# -- the run ----------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python bench/node_sale.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a short run of a few seconds (10,000 SKUs, 1,000 sales)")
    p.add_argument("--skus", type=int, help="catalog size (default 100,000; quick 10,000)")
    p.add_argument("--sales", type=int, help="measured sales per side (default 20,000; quick 1,000)")
    p.add_argument("--rounds", type=int, help="alternating node/raw rounds (default 5; quick 2)")
    p.add_argument("--lookups", type=int, help="timed calls per lookup kind (default 5,000; quick 300)")
    p.add_argument("--warmup", type=int, help="unmeasured sales per side first (default 500; quick 100)")
    p.add_argument("--seed", type=int, default=1, help="random seed for sales and lookups (default 1)")
    p.add_argument("--dir", type=Path, help="make the temporary folder here (default: the system's temp folder); "
                                            "fsync cost depends on the disk")
    p.add_argument("--profile", action="store_true", help="also cProfile the node's measured sales, to stderr")
    a = p.parse_args(argv)
    q = a.quick
    skus = a.skus or (10_000 if q else 100_000)
    n_sales = a.sales or (1_000 if q else 20_000)
    rounds = max(1, min(a.rounds or (2 if q else 5), n_sales))
    n_lookups = a.lookups or (300 if q else 5_000)
    warmup = a.warmup if a.warmup is not None else (100 if q else 500)

    t0 = time.perf_counter()
    rng = random.Random(a.seed)
    chain = generate_chain(skus=skus, stores=1)
    with tempfile.TemporaryDirectory(prefix="backroom-bench-", dir=a.dir) as tmp:
        folder = Path(tmp)
        node, raw = None, None
        try:
            node, raw, prices, quota = setup(folder, chain)
            setup_s = time.perf_counter() - t0
            plan = plan_sales(quota, warmup + n_sales, rng)
            node_work = [(f"bench-sale-{i:07d}", [SaleLine(sku, 1, prices[sku])]) for i, sku in enumerate(plan)]
            raw_work = [(sku, prices[sku]) for sku in plan]
            seq_before = node.last_seq()

            node_sales(node, node_work[:warmup])
            raw_sales(raw, raw_work[:warmup])

            node_lat: list[int] = []
            raw_lat: list[int] = []
            node_wall = raw_wall = 0
            profiler = cProfile.Profile() if a.profile else None
            bounds = [warmup + n_sales * r // rounds for r in range(rounds + 1)]
            for r in range(rounds):
                lo, hi = bounds[r], bounds[r + 1]
                sides = ["node", "raw"] if r % 2 == 0 else ["raw", "node"]
                for side in sides:
                    if side == "node":
                        if profiler:
                            profiler.enable()
                        lat, wall = node_sales(node, node_work[lo:hi])
                        if profiler:
                            profiler.disable()
                        node_lat += lat
                        node_wall += wall
                    else:
                        lat, wall = raw_sales(raw, raw_work[lo:hi])
                        raw_lat += lat
                        raw_wall += wall

            # every sale is in both ledgers, and no more
            node_entries = node.last_seq() - seq_before
            raw_entries = raw.execute("SELECT count(*) FROM ledger").fetchone()[0]
            if node_entries != warmup + n_sales or raw_entries != warmup + n_sales:
                raise SystemExit(f"Expected {warmup + n_sales} ledger entries on each side; "
                                 f"node wrote {node_entries}, raw {raw_entries}.")

            scans = [chain.sample_scan(rng) for _ in range(n_lookups + 100)]
            prefixes = name_prefixes(chain, n_lookups + 100, rng)
            for s in scans[:100]:  # warm up
                node.lookup(s)
            for s in prefixes[:100]:
                node.search(s)
            lookup_lat = timed(node.lookup, scans[100:])
            resolve_lat = timed(node.resolve, scans[100:])
            search_lat = timed(node.search, prefixes[100:])
        finally:
            if node is not None:
                node.close()
            if raw is not None:
                raw.close()

    sale, floor = summary_ms(node_lat), summary_ms(raw_lat)
    lookup, resolve, search = summary_ms(lookup_lat), summary_ms(resolve_lat), summary_ms(search_lat)
    sales_per_s = n_sales / (node_wall / 1e9)
    raw_per_s = n_sales / (raw_wall / 1e9)
    ratio = sales_per_s / raw_per_s
    lookup_p99 = max(lookup["p99_ms"], search["p99_ms"])
    meets = {
        "sale_p99": sale["p99_ms"] <= AIM_SALE_P99_MS,
        "ratio": ratio >= AIM_RATIO,
        "lookup_p99": lookup_p99 <= AIM_LOOKUP_P99_MS,
    }

    title = (f"Backroom node sale bench{' (quick)' if q else ''}: {skus:,} SKUs, {n_sales:,} sales per side in "
             f"{rounds} alternating rounds after {warmup:,} warm-up, WAL + synchronous=FULL, "
             f"SQLite {sqlite3.sqlite_version}, setup {setup_s:.1f} s")
    print_table(
        ["", "p50 ms", "p99 ms", "max ms", "mean ms", "per s"],
        [
            ["node.sell, 1 line", sale["p50_ms"], sale["p99_ms"], sale["max_ms"], sale["mean_ms"], sales_per_s],
            ["raw SQLite floor", floor["p50_ms"], floor["p99_ms"], floor["max_ms"], floor["mean_ms"], raw_per_s],
            ["node.lookup(scan)", lookup["p50_ms"], lookup["p99_ms"], lookup["max_ms"], lookup["mean_ms"], None],
            ["node.resolve(scan)", resolve["p50_ms"], resolve["p99_ms"], resolve["max_ms"], resolve["mean_ms"], None],
            ["node.search(prefix)", search["p50_ms"], search["p99_ms"], search["max_ms"], search["mean_ms"], None],
        ],
        title=title,
    )
    print()
    print_table(
        ["aim", "target", "measured", "met"],
        [
            ["sale p99 ms", f"<= {AIM_SALE_P99_MS}", sale["p99_ms"], meets["sale_p99"]],
            ["node / raw sales per s", f">= {AIM_RATIO}", ratio, meets["ratio"]],
            ["lookup p99 ms (max of lookup, search)", f"<= {AIM_LOOKUP_P99_MS}", lookup_p99, meets["lookup_p99"]],
        ],
    )
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(30)
        print(out.getvalue(), file=sys.stderr)
    print()

    emit_json({
        "sale_p50_ms": sale["p50_ms"],
        "sale_p99_ms": sale["p99_ms"],
        "sale_max_ms": sale["max_ms"],
        "sales_per_s": sales_per_s,
        "raw_p50_ms": floor["p50_ms"],
        "raw_p99_ms": floor["p99_ms"],
        "raw_per_s": raw_per_s,
        "ratio": ratio,
        "lookup_p99_ms": lookup_p99,
        "barcode_lookup_p50_ms": lookup["p50_ms"],
        "barcode_lookup_p99_ms": lookup["p99_ms"],
        "resolve_p50_ms": resolve["p50_ms"],
        "resolve_p99_ms": resolve["p99_ms"],
        "name_search_p50_ms": search["p50_ms"],
        "name_search_p99_ms": search["p99_ms"],
        "skus": skus,
        "sales": n_sales,
        "rounds": rounds,
        "lookups": n_lookups,
        "durability": "wal+synchronous=full",
        "sqlite_version": sqlite3.sqlite_version,
        "aims": {"sale_p99_ms": AIM_SALE_P99_MS, "ratio": AIM_RATIO, "lookup_p99_ms": AIM_LOOKUP_P99_MS},
        "meets_aims": all(meets.values()),
        "quick": q,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
