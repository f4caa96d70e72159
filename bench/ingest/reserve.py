"""Web reservations under concurrent load, from a minimal keep-alive HTTP/1.1 client (so the load generator
costs little CPU on a 2-core machine): the PostgreSQL hub against the floor app's raw-psycopg guarded decrement."""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time

from _common import draw_within
from ingest import WAREHOUSE
from ingest.floor import xact_counts
from ingest.rounds import Side
from ingest.servers import Server


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


def measure_reserves(positions: list[tuple], rng: random.Random, hub_pg: Server, tok_pg: dict[str, str], floor: Server,
                     pg_url: str, clients: int, reserve_rounds: int, reserve_s: float,
                     reserve_warm_s: float) -> tuple[dict[str, Side], dict[str, int], int]:
    """Each side's reservations in alternating rounds after a warm-up; the failures per side; and the hub
    database's transactions rolled back meanwhile (mostly retried 40001 conflicts)."""
    # web reserve under concurrent load: the PostgreSQL hub vs the raw-psycopg floor
    plan = plan_reserves(positions, 400_000, rng)
    rsides = {"hub_pg": Side("hub_pg"), "floor": Side("floor")}
    targets = {"hub_pg": (hub_pg.port, tok_pg["web"]), "floor": (floor.port, "x")}
    cursors = {k: [0] for k in targets}
    reserve_errors = {k: 0 for k in targets}
    for k, (port, tok) in targets.items():
        reserve_errors[k] += len(reserve_load(port, tok, plan, cursors[k], f"warm-{k}", clients,
                                              reserve_warm_s, measure=False)[2])
    xact0 = xact_counts(pg_url)
    for r in range(reserve_rounds):
        for k in (list(targets) if r % 2 == 0 else list(targets)[::-1]):
            port, tok = targets[k]
            lat, wall, errs = reserve_load(port, tok, plan, cursors[k], f"r{r}-{k}", clients, reserve_s)
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
    return rsides, reserve_errors, hub_rollbacks
