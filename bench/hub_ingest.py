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
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib.util
import io
import json
import os
import pstats
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_ROOT, add_repo_to_path, draw_within, emit_json, print_table, summary_ms  # noqa: E402
from _pg import throwaway_postgres  # noqa: E402

add_repo_to_path()

import httpx  # noqa: E402
import psycopg  # noqa: E402

from fixtures.chain import Chain, generate_chain  # noqa: E402
from hub.service import Hub  # noqa: E402
from node.rules import SaleLine  # noqa: E402
from node.runner import initialise_from_hub, push  # noqa: E402
from node.service import Node  # noqa: E402
from sync.client import HubClient  # noqa: E402
from sync.models import LedgerEntry, PushBatch  # noqa: E402

BATCH = 100
INGEST_STORE = "S001"
BACKLOG_STORE = "S002"
WAREHOUSE = "W01"
AIM_SQLITE_RATIO = 0.5
AIM_BACKLOG_S = 2.0
AIM_RESERVE_RATIO = 0.5

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


# -- processes ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise SystemExit(f"{self.name} did not answer within {timeout} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """Stop by pid: SIGTERM to uvicorn's parent, which stops its workers; SIGKILL if it lingers."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_server(name: str, argv: list[str], folder: Path, env: dict[str, str] | None = None) -> Server:
    port = free_port()
    log = folder / f"{name}.log"
    argv = [a.replace("{port}", str(port)) for a in argv]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})})
    return Server(name, proc, port, log)


def hub_server(name: str, db_url: str, folder: Path, workers: int) -> Server:
    return start_server(name, [sys.executable, "-m", "hub.cli", "--db", db_url, "serve", "--port",
                               "{port}", "--workers", str(workers), "--log-level", "warning"], folder)


def floor_server(pg_url: str, folder: Path, workers: int) -> Server:
    return start_server("floor", [sys.executable, "-m", "uvicorn", "_floor_app:app", "--app-dir", "bench",
                                  "--host", "127.0.0.1", "--port", "{port}", "--workers", str(workers),
                                  "--log-level", "warning"], folder,
                        env={"BENCH_FLOOR_PG_URL": pg_url, "PYTHONPATH": str(REPO_ROOT)})


# -- setting up -------------------------------------------------------------------


def load_hub(url: str, chain: Chain) -> dict[str, str]:
    hub = Hub.open(url)
    try:
        hub.load_chain(chain)
        return {"S001": hub.issue_token("store", INGEST_STORE), "S002": hub.issue_token("store", BACKLOG_STORE),
                "web": hub.issue_token("web")}
    finally:
        hub.close()


class InProcessOpening:
    """Stands in for HubClient in `initialise_from_hub`, which only asks for the store's opening.

    It reads the opening from the hub's database in-process, so the entries can be made while the
    uvicorn servers are still starting (the opening is the same one `GET /stores/{id}/opening` returns).
    """

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def opening(self, store_id: str) -> Any:
        return self.hub.opening(store_id)


def make_node(path: Path, hub: Hub, hub_url: str, token: str, store: str) -> Node:
    node = Node(path, terminal="T1", clerk="bench")
    initialise_from_hub(node, InProcessOpening(hub), store, hub_url=hub_url, token=token)  # type: ignore[arg-type]
    return node


def push_entries(url: str, token: str, store: str, entries: list[LedgerEntry]) -> None:
    with HubClient(url, token, timeout=120, retries=0) as client:
        for i in range(0, len(entries), 1000):
            client.push(PushBatch(store_id=store, entries=entries[i:i + 1000]))


def sell_scattered(node: Node, n: int, prices: dict[str, int], rng: random.Random, tag: str) -> None:
    """n one-unit sales of SKUs drawn uniformly from those with quota left, never past quota."""
    left = {sku: q for sku, q in node.conn.execute("SELECT sku, quota FROM stock") if q > 0}
    pool = list(left)
    node.conn.execute("PRAGMA synchronous=OFF")  # making fixtures, not measuring them
    try:
        for i in range(n):
            if not pool:
                raise SystemExit(f"Store {node.store_id} has quota for only {i} sales; use more --skus.")
            k = rng.randrange(len(pool))
            sku = pool[k]
            node.sell(f"{tag}-{i:07d}", [SaleLine(sku, 1, prices[sku])])
            left[sku] -= 1
            if not left[sku]:
                pool[k] = pool[-1]
                pool.pop()
    finally:
        node.conn.execute("PRAGMA synchronous=FULL")


def read_entries(node: Node) -> list[LedgerEntry]:
    out: list[LedgerEntry] = []
    while True:
        rows = node.ledger(after=out[-1].seq if out else 0, limit=5000)
        if not rows:
            return out
        out += [LedgerEntry(**r) for r in rows]


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


def hub_positions(url: str) -> list[tuple]:
    hub = Hub.open(url)
    try:
        with hub.engine.connect() as c:
            return [tuple(r) for r in c.exec_driver_sql(
                "SELECT location, sku, on_hand, quota, hub_share, reserved, safety_buffer FROM positions")]
    finally:
        hub.close()


# -- ingest -----------------------------------------------------------------------


@dataclass
class Side:
    name: str
    lat: list[int] = field(default_factory=list)
    wall: int = 0
    n: int = 0

    def add(self, lat: list[int], wall: int) -> None:
        self.lat += lat
        self.wall += wall
        self.n += len(lat)

    @property
    def per_batch_ms(self) -> float:
        return self.wall / self.n / 1e6

    @property
    def entries_per_s(self) -> float:
        return BATCH * self.n / (self.wall / 1e9)


def post_batches(client: httpx.Client, path: str, token: str, bodies: list[bytes], *, hub: bool) -> tuple[list[int], int]:
    clock = time.perf_counter_ns
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    post = client.post
    lat = []
    start = clock()
    for body in bodies:
        t = clock()
        r = post(path, content=body, headers=headers)
        lat.append(clock() - t)
        if r.status_code != 200:
            raise SystemExit(f"POST {path} answered {r.status_code}: {r.text[:500]}")
        if hub and r.json()["accepted"] != BATCH:
            raise SystemExit(f"POST {path} accepted {r.json()} of a {BATCH}-entry batch")
    return lat, clock() - start


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


# -- web reserve: a minimal keep-alive HTTP/1.1 client ------------------------------


async def _reserve_client(port: int, token: str, skus: list[str], next_i: list[int], key_prefix: str,
                          deadline: float, lat: list[int], errors: list[str], measure: bool) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    clock = time.perf_counter_ns
    head = (f"POST /web/reservations HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\n").encode()
    try:
        while time.perf_counter() < deadline:
            i = next_i[0]
            next_i[0] += 1
            if i >= len(skus):
                errors.append("ran out of planned SKUs: raise the plan")
                return
            body = json.dumps({"sku": skus[i], "qty": 1, "location": WAREHOUSE, "ttl_s": 3600}).encode()
            req = head + f"Idempotency-Key: {key_prefix}-{i}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
            t = clock()
            try:
                writer.write(req)
                status_line = await reader.readline()
                length = None
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        length = int(v)
                if not status_line or length is None:
                    raise ConnectionResetError(f"the server closed the connection ({status_line!r})")
                resp = await reader.readexactly(length)
            except (ConnectionError, asyncio.IncompleteReadError) as err:
                # uvicorn closes the connection after an unhandled error (a 500): count it, reconnect
                errors.append(f"connection lost: {err}")
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            dt = clock() - t
            status = int(status_line.split()[1])
            if status != 201:
                errors.append(f"{status} {resp[:200]!r}")
            elif measure:
                lat.append(dt)
    finally:
        writer.close()


async def _reserve_run(port: int, token: str, skus: list[str], next_i: list[int], key_prefix: str,
                       clients: int, seconds: float, measure: bool) -> tuple[list[int], float, list[str]]:
    lat: list[int] = []
    errors: list[str] = []
    t0 = time.perf_counter()
    await asyncio.gather(*(_reserve_client(port, token, skus, next_i, f"{key_prefix}-c{c}", t0 + seconds, lat,
                                           errors, measure) for c in range(clients)))
    return lat, time.perf_counter() - t0, errors


def reserve_load(port: int, token: str, skus: list[str], next_i: list[int], key_prefix: str, clients: int,
                 seconds: float, measure: bool = True) -> tuple[list[int], float, list[str]]:
    """Latencies of the reservations made (201), the run's wall time, and the failures' answers."""
    lat, wall, errors = asyncio.run(_reserve_run(port, token, skus, next_i, key_prefix, clients, seconds, measure))
    if any(e.startswith("ran out") for e in errors) or (errors and len(errors) > len(lat)):
        raise SystemExit(f"{len(errors)} reservations failed at port {port}, e.g. {errors[:3]}")
    return lat, wall, errors


def plan_reserves(positions: list[tuple], n: int, rng: random.Random) -> list[str]:
    """n warehouse SKUs, uniform over those the hub can promise, never past what it can promise."""
    return draw_within({sku: hub_share - buf for loc, sku, _, _, hub_share, _, buf in positions
                        if loc == WAREHOUSE}, n, rng)


# -- profile ------------------------------------------------------------------------


def profile_ingest(folder: Path, chain: Chain, opening: list[LedgerEntry], bodies: list[bytes], n: int) -> str:
    """cProfile of Hub.ingest in-process on a fresh SQLite hub, n 100-entry batches (parsing not included)."""
    url = f"sqlite:///{folder / 'profile.sqlite'}"
    load_hub(url, chain)
    hub = Hub.open(url)
    try:
        for i in range(0, len(opening), 1000):
            hub.ingest(INGEST_STORE, PushBatch(store_id=INGEST_STORE, entries=opening[i:i + 1000]))
        batches = [PushBatch.model_validate_json(b) for b in bodies[: n + 5]]
        for b in batches[:5]:
            hub.ingest(INGEST_STORE, b)
        prof = cProfile.Profile()
        t = time.perf_counter()
        prof.enable()
        for b in batches[5:]:
            hub.ingest(INGEST_STORE, b)
        prof.disable()
        wall = time.perf_counter() - t
    finally:
        hub.close()
    out = io.StringIO()
    print(f"Hub.ingest in-process, SQLite, {len(batches) - 5} batches of {BATCH}: "
          f"{wall / (len(batches) - 5) * 1e3:.2f} ms per batch under cProfile", file=out)
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(35)
    stats.sort_stats("cumulative").print_stats(45)
    return out.getvalue()


def time_reads(url: str, store: str, n: int) -> dict[str, float]:
    """Hub.pull (a store caught up with the feed: what every store's runner asks on its interval)
    and Hub.expire_due with nothing due, in-process, ms per call (best of three runs of `n`)."""
    hub = Hub.open(url)
    try:
        cursor = 0
        while True:
            got = hub.pull(store, cursor)
            cursor = got.cursor
            if not got.more:
                break

        def best(fn: Any) -> float:
            for _ in range(10):
                fn()
            runs = []
            for _ in range(3):
                t = time.perf_counter()
                for _ in range(n):
                    fn()
                runs.append((time.perf_counter() - t) / n * 1e3)
            return min(runs)
        return {"pull_ms": best(lambda: hub.pull(store, cursor)), "expire_due_ms": best(hub.expire_due)}
    finally:
        hub.close()


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
            with raw_pg.transaction(), raw_pg.cursor() as cur:
                cur.execute(RAW_PG_SCHEMA)
                cur.executemany("INSERT INTO stock VALUES (%s, %s, %s, %s)", [r[:4] for r in positions])
                cur.executemany("INSERT INTO floor_stock VALUES (%s, %s, %s, %s, %s)",
                                [(r[0], r[1], r[4], r[5], r[6]) for r in positions])
            raw_pg.execute("ANALYZE")
            raw_pg.commit()
            floor = floor_server(floor_url, folder, a.workers)
            servers.append(floor)
            raw_sq = raw_sqlite_connect(folder / "raw.sqlite")
            raw_sq.executescript(RAW_SQLITE_SCHEMA)
            raw_sq.execute("BEGIN IMMEDIATE")
            raw_sq.executemany("INSERT INTO stock VALUES (?, ?, ?, ?)", [r[:4] for r in positions])
            raw_sq.execute("COMMIT")

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

            # ingest, in alternating rounds: first the SQLite hub against its floor, then the
            # PostgreSQL hub against its own (the bare HTTP floor is measured in both blocks).
            # Each database's background writing (PostgreSQL's checkpointer and WAL writer,
            # SQLite's checkpoints) then lands on rounds of its own comparison only.
            path = f"/stores/{INGEST_STORE}/ledger"
            sides = {k: Side(k) for k in ("hub_sqlite", "hub_pg", "bare_http", "bare_http_pg", "raw_sqlite", "raw_pg")}
            with httpx.Client(base_url=hub_sq.url, timeout=60) as c_sq, \
                    httpx.Client(base_url=hub_pg.url, timeout=60) as c_pg, \
                    httpx.Client(base_url=floor.url, timeout=60) as c_fl:
                def bare_http(lo: int, hi: int) -> tuple[list[int], int]:
                    return post_batches(c_fl, path, "x", bodies[lo:hi], hub=False)

                runners = {
                    "hub_sqlite": lambda lo, hi: post_batches(c_sq, path, tok_sq["S001"], bodies[lo:hi], hub=True),
                    "hub_pg": lambda lo, hi: post_batches(c_pg, path, tok_pg["S001"], bodies[lo:hi], hub=True),
                    "bare_http": bare_http,
                    "bare_http_pg": bare_http,  # the same floor, measured again in the PostgreSQL block
                    "raw_sqlite": lambda lo, hi: raw_sqlite_batches(raw_sq, rows[lo:hi]),
                    "raw_pg": lambda lo, hi: raw_pg_batches(raw_pg, rows[lo:hi]),
                }
                for run in runners.values():  # warm-up, unmeasured
                    run(0, warm_batches)
                bounds = [warm_batches + n_batches * r // rounds for r in range(rounds + 1)]
                for block in (("hub_sqlite", "bare_http", "raw_sqlite"), ("hub_pg", "bare_http_pg", "raw_pg")):
                    pg_checkpoint(pg_url)
                    for r in range(rounds):
                        for name in (block if r % 2 == 0 else block[::-1]):
                            lat, wall = runners[name](bounds[r], bounds[r + 1])
                            sides[name].add(lat, wall)
                            if a.verbose:
                                print(f"round {r} {name}: {wall / len(lat) / 1e6:.3f} ms per batch", file=sys.stderr)
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

            # web reserve under concurrent load: the PostgreSQL hub vs the raw-psycopg floor
            plan = plan_reserves(positions, 400_000, rng)
            rsides = {"hub_pg": Side("hub_pg"), "floor": Side("floor")}
            targets = {"hub_pg": (hub_pg.port, tok_pg["web"]), "floor": (floor.port, "x")}
            cursors = {k: [0] for k in targets}
            reserve_errors = {k: 0 for k in targets}
            for k, (port, tok) in targets.items():
                reserve_errors[k] += len(reserve_load(port, tok, plan, cursors[k], f"warm-{k}", a.clients,
                                                      reserve_warm_s, measure=False)[2])
            xact0 = xact_counts(pg_url)
            for r in range(reserve_rounds):
                for k in (list(targets) if r % 2 == 0 else list(targets)[::-1]):
                    port, tok = targets[k]
                    lat, wall, errs = reserve_load(port, tok, plan, cursors[k], f"r{r}-{k}", a.clients, reserve_s)
                    reserve_errors[k] += len(errs)
                    if errs:
                        print(f"{k}: {len(errs)} reservations failed, e.g. {errs[0]}", file=sys.stderr)
                    rsides[k].lat += lat
                    rsides[k].wall += int(wall * 1e9)
                    rsides[k].n += len(lat)
            time.sleep(0.6)  # the statistics collector reports every 0.5 s
            xact1 = xact_counts(pg_url)
            hub_rollbacks = xact1[1] - xact0[1]
            if reserve_errors["hub_pg"]:
                tail = hub_pg.log.read_text(errors="replace")[-2500:]
                print(f"--- hub-pg log (tail), after {reserve_errors['hub_pg']} failed reservations ---\n{tail}",
                      file=sys.stderr)
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

    # -- figures ---------------------------------------------------------------------
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
