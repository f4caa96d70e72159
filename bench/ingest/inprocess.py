"""In this process, on a hub's own database: a store's pull and the expiry sweep timed, and `Hub.ingest` profiled."""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from pathlib import Path
from typing import Any

from fixtures.chain import Chain
from hub.service import Hub
from ingest import BATCH, INGEST_STORE
from ingest.entries import load_hub
from sync.models import LedgerEntry, PushBatch


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
