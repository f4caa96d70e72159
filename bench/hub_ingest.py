"""How fast the hub takes store ledgers and web reservations, beside floors measured in the same run.

    python bench/hub_ingest.py            # full run (about two minutes)
    python bench/hub_ingest.py --quick    # under ~40 s; the test suite runs this
    python bench/hub_ingest.py --profile  # also cProfile Hub.ingest in-process (SQLite), to stderr
    python bench/hub_ingest.py --verbose  # also each ingest round's figure, to stderr

One run, in a temporary folder, with a throwaway PostgreSQL (bench/_pg.py):

1. Two hubs loaded with the same chain (`fixtures.chain.generate_chain(skus, 2)`):
   one on SQLite, one on PostgreSQL, each served by `backroom hub serve` (real
   uvicorn subprocesses on free 127.0.0.1 ports), and the floor app
   (bench/_floor_app.py) under the same uvicorn.
2. Realistic entries, made once by real nodes started from the SQLite hub
   (`initialise_from_hub`): store S001 sells one unit of scattered SKUs
   (uniform over SKUs with quota, never past quota), store S002 does the same
   for the backlog. Durability of the nodes is lowered while generating:
   it is fixture making, not measured. The same entries go to both hubs
   (they opened from the same chain, so the stores' openings are equal).
3. Ingest: the same 100-entry batches (JSON made once, outside the timing),
   POSTed one after another on one keep-alive httpx client, in alternating
   rounds, in two blocks (first the SQLite hub, the bare floor endpoint and
   raw sqlite3; then the PostgreSQL hub, the bare endpoint again and raw
   psycopg; PostgreSQL is checkpointed before each block, so one database's
   background writing falls on its own comparison), to: the SQLite hub, the
   PostgreSQL hub, the bare floor endpoint
   (parses `PushBatch`, writes nothing); and written by raw driver code:
   sqlite3 (WAL, synchronous=FULL, like the hub) and psycopg (synchronous_commit
   on): one transaction per batch inserting the entries' rows (the columns of
   the hub's `store_entries`, hash and body made beforehand) and upserting one
   stock row per entry. The floor's time per batch is bare HTTP + raw write;
   `sqlite_ratio` / `pg_ratio` are the hub's entries/s over the floor's.
4. Backlog: S002's node with 10,000 unsynced entries, `node.runner.push(node,
   client, batch=1000)` timed end to end against each hub (a copy of the
   node file for the second).
5. Reads: `Hub.pull` for S002 once it is caught up with the feed (every store's
   runner asks this on its interval) and `Hub.expire_due` with nothing due, in
   this process on each hub's database, ms per call.
6. Web reserve: 32 concurrent keep-alive clients (a minimal asyncio HTTP/1.1
   client, so the load generator costs little CPU on a 2-core machine), qty 1
   of scattered warehouse SKUs at W01, against the PostgreSQL hub and the
   floor app's raw-psycopg guarded decrement + insert, alternating rounds.

The table is for people; the last line is one JSON object (`sqlite_ratio`,
`pg_ratio`, `backlog_10k_s`, `reserve_ratio`, `reserve_p99_ms`, ..., `pull_sqlite_ms`, `pull_pg_ms`).
Aims (reported, not enforced): sqlite_ratio >= 0.5, backlog < 2 s,
reserve_ratio >= 0.5.

The parts are in bench/ingest/ (its __init__ lists them); this file is the run.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_repo_to_path  # noqa: E402
from _pg import throwaway_postgres  # noqa: E402

add_repo_to_path()

import psycopg  # noqa: E402

from fixtures.chain import generate_chain  # noqa: E402
from hub.service import Hub  # noqa: E402
from ingest import BACKLOG_STORE, BATCH, INGEST_STORE  # noqa: E402
from ingest.entries import hub_positions, load_hub, make_node, push_entries, read_entries, sell_scattered  # noqa: E402
from ingest.floor import entry_row, load_raw_pg, load_raw_sqlite, raw_pg_batches, raw_sqlite_batches  # noqa: E402
from ingest.floor import raw_sqlite_connect, stock_row  # noqa: E402
from ingest.inprocess import profile_ingest, time_reads  # noqa: E402
from ingest.report import report  # noqa: E402
from ingest.reserve import measure_reserves  # noqa: E402
from ingest.rounds import measure_ingest  # noqa: E402
from ingest.servers import Server, floor_server, hub_server  # noqa: E402
from node.runner import push  # noqa: E402
from node.service import Node  # noqa: E402
from sync.client import HubClient  # noqa: E402
from sync.models import LedgerEntry, PushBatch  # noqa: E402


# -- the run ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python bench/hub_ingest.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a short run (< ~40 s) for the test suite")
    p.add_argument("--skus", type=int, help="catalog size (default 10,000; quick 2,000)")
    p.add_argument("--batches", type=int, help="measured 100-entry batches per side (default 150; quick 20)")
    p.add_argument("--rounds", type=int, help="alternating rounds (default 5; quick 2)")
    p.add_argument("--backlog", type=int,
                   help="unsynced entries drained end to end (default 10,000; quick 3,000, time scaled to 10,000)")
    p.add_argument("--backlog-pg", action=argparse.BooleanOptionalAction,
                   help="also drain the backlog into the PostgreSQL hub (default: yes; quick: no)")
    p.add_argument("--clients", type=int, default=32, help="concurrent web clients (default 32)")
    p.add_argument("--reserve-s", type=float, help="seconds of reserve load per side per round (default 5; quick 1.5)")
    p.add_argument("--workers", type=int, default=2,
                   help="uvicorn workers of the PostgreSQL hub and the floor app (default 2); the SQLite hub has 1")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--dir", type=Path, help="make the temporary folder here (default: the system's temp folder)")
    p.add_argument("--verbose", action="store_true", help="print each ingest round's figure to stderr")
    p.add_argument("--profile", action="store_true", help="also cProfile Hub.ingest in-process (SQLite), to stderr")
    a = p.parse_args(argv)
    q = a.quick
    skus = a.skus or (2_000 if q else 10_000)
    a.backlog = a.backlog or (3_000 if q else 10_000)
    backlog_pg = a.backlog_pg if a.backlog_pg is not None else not q
    n_batches = a.batches or (20 if q else 150)
    rounds = max(1, min(a.rounds or (2 if q else 5), n_batches))
    warm_batches = 3 if q else 10
    reserve_s = a.reserve_s or (1.5 if q else 5.0)
    reserve_rounds = 1 if q else 2
    reserve_warm_s = 0.5 if q else 1.0
    uvloop = importlib.util.find_spec("uvloop") is not None
    httptools = importlib.util.find_spec("httptools") is not None

    t0 = time.perf_counter()
    phases: dict[str, float] = {}
    mark = [t0]

    def lap(name: str) -> None:
        now = time.perf_counter()
        phases[name] = now - mark[0]
        mark[0] = now

    rng = random.Random(a.seed)
    chain = generate_chain(skus=skus, stores=2)
    prices = {it.sku: it.price for it in chain.catalog}
    servers: list[Server] = []
    profile_text = ""
    with tempfile.TemporaryDirectory(prefix="backroom-hub-bench-", dir=a.dir) as tmp, \
            throwaway_postgres(a.dir) as pg:
        folder = Path(tmp)
        nodes: list[Node] = []
        raw_sq = raw_pg = None
        try:
            sqlite_url = f"sqlite:///{folder / 'hub.sqlite'}"
            pg_url = pg.create_database("hub")
            floor_url = pg.create_database("floor")
            pg_ver = pg.version
            lap('postgres')
            tok_sq = load_hub(sqlite_url, chain)
            tok_pg = load_hub(pg_url, chain)
            lap("hubs loaded")
            hub_sq = hub_server("hub-sqlite", sqlite_url, folder, 1)
            hub_pg = hub_server("hub-pg", pg_url, folder, a.workers)
            servers += [hub_sq, hub_pg]

            # the floor's tables: ingest (entries, stock: a copy of the hub's positions) and reserve
            positions = hub_positions(sqlite_url)
            raw_pg = psycopg.connect(floor_url)
            load_raw_pg(raw_pg, positions)
            floor = floor_server(floor_url, folder, a.workers)
            servers.append(floor)
            raw_sq = raw_sqlite_connect(folder / "raw.sqlite")
            load_raw_sqlite(raw_sq, positions)

            # entries, made once by real nodes while the servers start; each store's opening
            # (its `receive` entries) is pushed first, unmeasured
            t_gen = time.perf_counter()
            reader = Hub.open(sqlite_url)
            try:
                node_a = make_node(folder / "node-S001.db", reader, hub_sq.url, tok_sq["S001"], INGEST_STORE)
                nodes.append(node_a)
                node_b = make_node(folder / "node-S002.db", reader, hub_sq.url, tok_sq["S002"], BACKLOG_STORE)
                nodes.append(node_b)
            finally:
                reader.close()
            opening_a, opening_b = node_a.last_seq(), node_b.last_seq()
            sell_scattered(node_a, (warm_batches + n_batches) * BATCH, prices, rng, "ingest")
            entries = read_entries(node_a)
            opening, entries = entries[:opening_a], entries[opening_a:]
            lap("S001 entries made")
            sell_scattered(node_b, a.backlog, prices, rng, "backlog")
            backlog_targets = [("sqlite", hub_sq, tok_sq, node_b)]
            if backlog_pg:
                node_b.backup(folder / "node-S002-pg.db")
                node_b_pg = Node(folder / "node-S002-pg.db", terminal="sync", clerk="bench")
                nodes.append(node_b_pg)
                backlog_targets.append(("pg", hub_pg, tok_pg, node_b_pg))
            gen_s = time.perf_counter() - t_gen
            lap("S002 backlog made")
            for srv in servers:
                srv.wait_ready()
            lap("servers ready")

            opening_b_entries = [LedgerEntry(**r) for r in node_b.ledger(after=0, limit=opening_b)]
            jobs = [(hub_sq.url, tok_sq["S001"], INGEST_STORE, opening), (hub_pg.url, tok_pg["S001"], INGEST_STORE, opening),
                    (hub_sq.url, tok_sq["S002"], BACKLOG_STORE, opening_b_entries)]
            if backlog_pg:
                jobs.append((hub_pg.url, tok_pg["S002"], BACKLOG_STORE, opening_b_entries))
            with ThreadPoolExecutor(2) as pool:  # one stream per hub: the two servers work side by side
                by_hub: dict[str, list] = {}
                for j in jobs:
                    by_hub.setdefault(j[0], []).append(j)
                for f in [pool.submit(lambda js: [push_entries(*j) for j in js], js) for js in by_hub.values()]:
                    f.result()
            for _, _, _, node in backlog_targets:
                node.set_meta(pushed_seq=str(opening_b))
            open_rows = [entry_row(e) for e in opening], [stock_row(e) for e in opening]
            raw_sqlite_batches(raw_sq, [open_rows])
            raw_pg_batches(raw_pg, [open_rows])
            lap("openings pushed")

            chunks = [entries[i:i + BATCH] for i in range(0, len(entries), BATCH)]
            bodies = [PushBatch(store_id=INGEST_STORE, entries=c).model_dump_json().encode() for c in chunks]
            rows = [([entry_row(e) for e in c], [stock_row(e) for e in c]) for c in chunks]
            setup_s = time.perf_counter() - t0
            lap("bodies")

            # ingest, in alternating rounds (ingest/rounds.py)
            sides = measure_ingest(hub_sq, hub_pg, floor, tok_sq, tok_pg, bodies, rows, raw_sq, raw_pg, pg_url,
                                   warm_batches, n_batches, rounds, verbose=a.verbose)
            lap('ingest')

            # backlog: a day offline, drained end to end
            backlog: dict[str, float] = {}
            for name, srv, tok, node in backlog_targets:
                with HubClient(srv.url, tok["S002"], timeout=60, retries=0) as client:
                    t = time.perf_counter()
                    got = push(node, client, batch=1000)
                    backlog[name] = time.perf_counter() - t
                if got != a.backlog:
                    raise SystemExit(f"The {name} hub accepted {got} of the {a.backlog} backlog entries.")
            lap("backlog")

            # a store's pull and the expiry sweep, in-process, on each hub's database
            reads = {"sqlite": time_reads(sqlite_url, BACKLOG_STORE, 200 if q else 1000),
                     "pg": time_reads(pg_url, BACKLOG_STORE, 100 if q else 500)}
            lap("reads")

            # web reserve under concurrent load: the PostgreSQL hub vs the raw-psycopg floor (ingest/reserve.py)
            rsides, reserve_errors, hub_rollbacks = measure_reserves(
                positions, rng, hub_pg, tok_pg, floor, pg_url, a.clients, reserve_rounds, reserve_s, reserve_warm_s)
            lap("reserve")

            if a.profile:
                profile_text = profile_ingest(folder, chain, opening, bodies, min(100, len(bodies) - 5))
        except BaseException:
            for srv in servers:
                if srv.log.exists() and srv.log.stat().st_size:
                    print(f"--- {srv.name} log (tail) ---\n{srv.log.read_text(errors='replace')[-4000:]}",
                          file=sys.stderr)
            raise
        finally:
            for s in servers:
                s.stop()
            for n in nodes:
                n.close()
            if raw_sq is not None:
                raw_sq.close()
            if raw_pg is not None:
                raw_pg.close()

    report(a, skus=skus, n_batches=n_batches, rounds=rounds, warm_batches=warm_batches, uvloop=uvloop,
           httptools=httptools, pg_ver=pg_ver, setup_s=setup_s, gen_s=gen_s, sides=sides, rsides=rsides,
           backlog=backlog, reads=reads, hub_rollbacks=hub_rollbacks, reserve_errors=reserve_errors,
           profile_text=profile_text, phases=phases, t0=t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
