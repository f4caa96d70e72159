"""The seeded simulation over the production hub and nodes (see tests/sim/).

320 seeds of 500 steps each (SIM_SEEDS, SIM_STEPS), on every core, with the checker after every
step and a heal phase after which everything must agree: about 1.1 s of CPU a seed, some 3 minutes
on 2 cores (the old 1,000 seeds would take about 10: `SIM_SEEDS=1000`). In a run of the suite the
swarm starts as soon as it is collected, on niced workers that use the CPU the other tests leave
idle (tests/conftest.py), so little of those minutes is left by the time this module is reached
(a full run on 2 cores: under 5 s of waiting here, where the fixture used to take 347 s). A failing
seed prints itself, its faults, and two commands: one replays it exactly, the other shrinks it to
the shortest step list that still fails.

`SIM_SEEDS=5000 pytest tests/test_simulation.py` runs more; `bench/sim_soak.py` runs longer.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.sim.__main__ import shrink
from tests.sim.swarm import FAULT_KINDS, Background, faults_of, run_many, suite_size
from tests.sim.world import run

N_SEEDS, STEPS = suite_size()


@pytest.fixture(scope="module")
def swarm(background_swarm: Background | None) -> list[dict]:
    """The swarm's results: started in the background at collection (tests/conftest.py), else run here."""
    if background_swarm is not None and (background_swarm.seeds, background_swarm.steps) == (
            list(range(N_SEEDS)), STEPS):
        return list(background_swarm.results())
    return list(run_many(range(N_SEEDS), STEPS))


@pytest.mark.timeout(900)  # the swarm is most of the suite: minutes, not the default 300 s on a loaded machine
def test_every_seed_keeps_every_invariant_and_heals(swarm: list[dict]) -> None:
    failing = sorted((r for r in swarm if not r["ok"]), key=lambda r: r["seed"])
    assert len(swarm) == N_SEEDS
    if failing:
        first = failing[0]
        schedule, failure = shrink(first["seed"], STEPS, log=False) or ([], first["failure"])
        pytest.fail(f"{len(failing)} of {N_SEEDS} seeds failed (seeds {[r['seed'] for r in failing][:20]}); "
                    f"the first, shrunk to {len(schedule)} steps:\n{failure}\n\nas it first failed:\n"
                    + first["failure"])


def test_the_swarm_injects_every_fault_and_the_world_is_busy(swarm: list[dict]) -> None:
    """Over the swarm every fault kind fires, and what the checker is there for does happen."""
    faults: Counter[str] = Counter()
    busy: Counter[str] = Counter()
    for r in swarm:
        if r["ok"]:
            faults.update(faults_of(r))
            busy.update(r["summary"])
    assert all(faults[k] > 0 for k in FAULT_KINDS), {k: faults[k] for k in FAULT_KINDS}
    for key in ("over_quota_sales", "grants", "release_requests", "holds_collected", "transfers", "web_reserved",
                "web_commit", "web_cancel", "web_expired", "late_delivered", "refused:quota_exceeded",
                "entries_lost_in_restore", "warehouse_shipped", "web_asked_store", "orders_handed_over",
                "orders_resourced", "forged:foreign_order", "balance_passes", "balance_grant", "balance_release",
                "warehouse_transfers"):
        assert busy[key] > 0, (key, dict(busy))


def test_a_seed_replays_exactly() -> None:
    a, b = run(42, 300), run(42, 300)
    assert a.summary() == b.summary()
    assert a.checker.hashes == b.checker.hashes  # every store's ledger, entry for entry


def test_a_schedule_with_steps_left_out_replays_the_rest_alike() -> None:
    """What shrinking rests on: a step draws only from its own randomness."""
    full = run(7, 60)
    some = run(7, 60, only=list(range(1, 61)))
    assert full.summary() == some.summary()
