"""Many seeds on every core: what the test suite and `bench/sim_soak.py` both run.

Each worker process runs whole seeds (a world is a few files on tmpfs and
the production services over them); results come back as plain dicts: the
seed, its faults, its summary, or its failure with the replay command.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context

CHUNK = 8  # seeds per task: small enough to spread evenly, large enough to keep the pipe quiet


def suite_size() -> tuple[int, int]:
    """The test suite's swarm: (seeds, steps), 320 x 500 unless SIM_SEEDS / SIM_STEPS say otherwise."""
    return int(os.environ.get("SIM_SEEDS", "320")), int(os.environ.get("SIM_STEPS", "500"))


def _run_chunk(seeds: list[int], steps: int, clean: bool) -> list[dict]:
    import logging

    from tests.sim.faults import Faults
    from tests.sim.world import SimFailure, run

    logging.getLogger("backroom").setLevel(logging.ERROR)  # a restored node's warnings are the point here
    out = []
    for seed in seeds:
        t = time.perf_counter()
        try:
            w = run(seed, steps, faults=Faults.none() if clean else None)
            out.append({"seed": seed, "ok": True, "summary": w.summary(), "faults": w.faults.describe(),
                        "s": time.perf_counter() - t})
        except SimFailure as f:
            out.append({"seed": seed, "ok": False, "failure": str(f), "s": time.perf_counter() - t})
        except Exception:  # noqa: BLE001 - a service raising what nobody handles is a finding too
            out.append({"seed": seed, "ok": False, "s": time.perf_counter() - t,
                        "failure": f"seed {seed}: raised\n{traceback.format_exc()}\n"
                                   f"replay: python -m tests.sim {seed} --steps {steps} --verbose"})
    return out


def run_many(seeds: Iterable[int], steps: int, *, workers: int | None = None,
             clean: bool = False) -> Iterator[dict]:
    """Every seed's result, in the order the chunks finish."""
    seeds = list(seeds)
    workers = workers or os.cpu_count() or 1
    chunks = [seeds[i:i + CHUNK] for i in range(0, len(seeds), CHUNK)]
    if workers == 1:
        for c in chunks:
            yield from _run_chunk(c, steps, clean)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        for done in pool.map(_run_chunk, chunks, [steps] * len(chunks), [clean] * len(chunks)):
            yield from done


def _lowest_priority(nice: int) -> None:
    """A background worker takes only the CPU that the rest of the test suite leaves idle."""
    try:
        os.nice(nice)
    except OSError:
        pass


class Background:
    """The same seeds as `run_many`, started early on niced workers; `results()` waits for them.

    The test suite starts the swarm as soon as it has collected it (tests/conftest.py): the rest of
    the suite spends much of its time waiting on processes, sockets and browsers, and a niced worker
    fills those idle cycles (at nice 19 it yields the CPU to any test that wants it). When `results()`
    is called, the chunks no worker has started yet are taken back and run at normal priority, as
    `run_many` would run them, so a machine busy with other work cannot starve the swarm's test. The
    seeds, the steps and every check are those of `run_many`; only when and where they run changes.
    """

    CHUNK = 4  # smaller than run_many's: what is left running niced when the test arrives is little

    def __init__(self, seeds: Iterable[int], steps: int, *, workers: int | None = None, nice: int = 19) -> None:
        self.seeds = list(seeds)
        self.steps = steps
        self.workers = workers or os.cpu_count() or 1
        self._chunks = [self.seeds[i:i + self.CHUNK] for i in range(0, len(self.seeds), self.CHUNK)]
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=get_context("spawn"),
                                         initializer=_lowest_priority, initargs=(nice,))
        self._futures: list[Future] = [self._pool.submit(_run_chunk, c, steps, False) for c in self._chunks]

    def results(self) -> Iterator[dict]:
        """Every seed's result, chunk by chunk in seed order (a worker's crash raises here, as in run_many)."""
        try:
            left = [i for i, f in enumerate(self._futures) if f.cancel()]  # not started: run them here, at full speed
            done: dict[int, list[dict]] = {}
            if left:
                rest = [s for i in left for s in self._chunks[i]]
                by_seed = {r["seed"]: r for r in run_many(rest, self.steps, workers=self.workers)}
                done = {i: [by_seed[s] for s in self._chunks[i]] for i in left}
            for i, f in enumerate(self._futures):
                yield from done[i] if i in done else f.result()
        finally:
            self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


FAULT_KINDS = ("fault:crash", "fault:terminal_crash", "fault:power_loss", "fault:partition", "fault:stale_restore",
               "fault:hub_restore", "fault:serialization", "fault:ambiguous_commit", "net:lost", "net:late",
               "fault:interleaved", "net:duplicated", "net:partitioned", "forged", "clock_skew", "two_hubs",
               "terminals>1")


def faults_of(result: dict) -> dict[str, int]:
    """The faults a seed injected, by kind (counts of events; a per-seed setting counts once)."""
    s, f = result["summary"], result["faults"]
    got = {k: s.get(k, 0) for k in FAULT_KINDS if ":" in k}
    got["forged"] = sum(v for k, v in s.items() if k.startswith("forged:"))
    got["clock_skew"] = int(bool(f["store_skew_s"] or f["hub_skew_s"]))
    got["two_hubs"] = int(f["two_hubs"])
    got["terminals>1"] = int(f["terminals"] > 1)
    return got
