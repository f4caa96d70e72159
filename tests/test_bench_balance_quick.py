"""`python bench/balance_policies.py --quick`: every policy played, the balancer never promises a unit twice.

The short form of the balance bench (a small chain, 10 days, 2 seeds, three
stock variants) runs end to end and ends with its JSON figures; the balancer
promises no unit twice while the no-quotas baseline (a POS selling from a stale
snapshot) does, so this test fails if either stops being true. No threshold on
served or moves: those are the bench's aims, reported, not enforced. The
scenario it dumps is replayed from the file, and the file format round-trips.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ("oracle", "online_only", "no_quotas", "static_50", "static_80", "reactive_only", "balancer")
VARIANTS = ("normal", "scarce_07", "scarce_04")
FIGURES = [f"served_vs_oracle_{v}" for v in VARIANTS] + ["promised_twice", "moves_per_1k_sold"]


def bench(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "bench/balance_policies.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=150)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "balancer's aim" in proc.stdout and "refused walk-in units" in proc.stdout
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_balance_bench_quick_promises_nothing_twice(tmp_path: Path) -> None:
    dump = tmp_path / "scenario.json"
    result = bench("--quick", "--dump-scenario", str(dump))
    assert result["quick"] is True and result["seeds"] == 2 and result["variants"] == list(VARIANTS)
    for key in FIGURES + ["seconds"]:
        value = result[key]
        assert isinstance(value, (int, float)) and math.isfinite(value), (key, value)
    policies = result["policies"]
    assert set(policies) == set(POLICIES)
    for name in POLICIES:
        for key in FIGURES:
            assert isinstance(policies[name][key], (int, float)), (name, key)
    for v in VARIANTS:
        assert policies["oracle"][f"served_vs_oracle_{v}"] == 1.0
        assert 0.5 < result[f"served_vs_oracle_{v}"] <= 1.2
    assert result["promised_twice"] == policies["balancer"]["promised_twice"] == 0
    assert policies["no_quotas"]["promised_twice"] > 0
    assert result["broken_bookkeeping"] == 0 and policies["balancer"]["bad_moves"] == 0
    assert result["forecast_check"]["samples"] > 0 and result["forecast_check"]["max_profile_diff"] < 1e-9

    replay = bench("--scenario", str(dump))
    assert replay["scenario"] == dump.name and replay["seeds"] == 1 and replay["variants"] == list(VARIANTS)
    assert replay["promised_twice"] == 0


def test_scenario_file_round_trips(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    from policies.chain import ChainShape, generate
    from policies.scenario import Scenario

    scn = generate(7, ChainShape.quick())
    back = Scenario.from_json(json.loads(json.dumps(scn.to_json())))
    assert back == scn
    assert generate(7, ChainShape.quick()) == scn  # seeded: the same chain every time
