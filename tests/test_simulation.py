"""Seeded simulation of a hub, three stores and a warehouse over a faulty network (see tests/sim/).

Each seed runs 300 steps with the invariants checked after every step, then a
heal phase after which everything must agree. A failing seed names itself:

    replay with SEED=123: python -m tests.sim.world 123 --steps 300 --verbose

`SIM_SEEDS=1000 pytest tests/test_simulation.py` runs more seeds; `bench/sim_soak.py` runs longer.
"""

from __future__ import annotations

import os

import pytest

from tests.sim.world import BUGS, SimFailure, run

N_SEEDS = int(os.environ.get("SIM_SEEDS", "200"))
STEPS = int(os.environ.get("SIM_STEPS", "300"))


@pytest.mark.parametrize("seed", range(N_SEEDS), ids=lambda s: f"SEED={s}")
def test_seed_keeps_every_invariant_and_heals(seed: int) -> None:
    run(seed, STEPS)  # SimFailure (an AssertionError) carries the seed, the step and the replay command


def test_a_seed_replays_exactly() -> None:
    a, b = run(42, STEPS), run(42, STEPS)
    assert a.summary() == b.summary()
    for s in a.stores:
        assert [a.hash_of(e) for e in a.nodes[s].ledger] == [b.hash_of(e) for e in b.nodes[s].ledger]


def test_the_world_is_busy_enough_to_mean_something() -> None:
    """Over a few seeds, the faults and the scarcity the checker is there for do happen."""
    total: dict[str, int] = {}
    for seed in range(20):
        for k, v in run(seed, STEPS).summary().items():
            if isinstance(v, int):
                total[k] = total.get(k, 0) + v
    for key in ("over_quota_sales", "grants", "release_requests", "duplicates", "net_dropped", "net_duplicated",
                "cuts", "holds_collected", "transfers", "web_reserved", "refused:QuotaExceeded", "shortfall"):
        assert total.get(key, 0) > 0, (key, total)


@pytest.mark.parametrize("bug", BUGS)
def test_the_checker_catches_a_planted_bug(bug: str) -> None:
    """A hub applying a resent entry again, or a node applying a resent grant again, must not go unseen."""
    caught = []
    for seed in range(30):
        try:
            run(seed, STEPS, bugs=frozenset({bug}))
        except SimFailure as f:
            caught.append(str(f))
            break
    assert caught, f"planted bug {bug} went unnoticed over 30 seeds"
    assert "replay with SEED=" in caught[0]


