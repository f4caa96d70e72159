"""Ingest in alternating rounds: the same 100-entry batches to each hub and its floor, and what each side measured."""

from __future__ import annotations

import sqlite3
import sys
import time
from dataclasses import dataclass, field

import httpx
import psycopg

from ingest import BATCH, INGEST_STORE
from ingest.floor import pg_checkpoint, raw_pg_batches, raw_sqlite_batches
from ingest.servers import Server


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


def measure_ingest(hub_sq: Server, hub_pg: Server, floor: Server, tok_sq: dict[str, str], tok_pg: dict[str, str],
                   bodies: list[bytes], rows: list[tuple[list[tuple], list[tuple]]], raw_sq: sqlite3.Connection,
                   raw_pg: psycopg.Connection, pg_url: str, warm_batches: int, n_batches: int, rounds: int, *,
                   verbose: bool) -> dict[str, Side]:
    """Each side's latencies and wall time over the measured batches (after `warm_batches` unmeasured)."""
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
                    if verbose:
                        print(f"round {r} {name}: {wall / len(lat) / 1e6:.3f} ms per batch", file=sys.stderr)
    return sides
