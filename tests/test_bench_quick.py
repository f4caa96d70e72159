"""`python bench/node_sale.py --quick` runs from the repo root and ends with its JSON figures.

No timing thresholds here: the figures depend on the machine; this only
checks that the bench runs end to end and reports sane numbers.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = ("sale_p99_ms", "sales_per_s", "raw_per_s", "ratio", "lookup_p99_ms")


def test_node_sale_bench_quick(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "bench/node_sale.py", "--quick", "--dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert lines, "the bench printed nothing"
    result = json.loads(lines[-1])
    assert isinstance(result, dict)

    for key in REQUIRED:
        value = result[key]
        assert isinstance(value, (int, float)) and not isinstance(value, bool), (key, value)
        assert math.isfinite(value) and value > 0, (key, value)
    assert result["quick"] is True
    assert result["sale_p50_ms"] <= result["sale_p99_ms"]
    assert result["lookup_p99_ms"] == max(result["barcode_lookup_p99_ms"], result["name_search_p99_ms"])
    assert math.isclose(result["ratio"], result["sales_per_s"] / result["raw_per_s"], rel_tol=1e-2)
    # the table for people comes before the JSON line, and the temporary files are gone
    assert "node.sell" in proc.stdout and "raw SQLite floor" in proc.stdout
    assert list(tmp_path.iterdir()) == []


def test_sim_soak_bench_short_form() -> None:
    """The soak's short form: every fault kind counted, no violation, the floor beside the rate."""
    proc = subprocess.run(
        [sys.executable, "bench/sim_soak.py", "--quick", "--seeds", "32", "--steps", "200"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (result["seeds"], result["steps"], result["violations"]) == (32, 200, 0)
    assert set(result["faults"]) >= {"fault:crash", "net:lost", "fault:hub_restore", "forged"}
    assert sum(result["faults"].values()) > 0
    assert math.isclose(result["ratio"], result["seeds_per_s"] / result["floor_seeds_per_s_without_faults"],
                        rel_tol=2e-2)
    assert "faults injected, by kind" in proc.stdout


def test_tui_scan_bench_short_form() -> None:
    """The terminal's scan bench, short: every scan found on screen, paced and in bursts, beside the floor."""
    proc = subprocess.run(
        [sys.executable, "bench/tui_scan.py", "--quick", "--skus", "2000", "--scans", "12", "--bursts", "2",
         "--burst-len", "5"],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for who in ("", "floor_"):
        for key in ("scan_p50_ms", "scan_p99_ms", "burst_p50_ms", "burst_p99_ms", "start_ms"):
            value = result[who + key]
            assert isinstance(value, (int, float)) and math.isfinite(value) and value > 0, (who + key, value)
        assert result[who + "scan_p50_ms"] <= result[who + "scan_p99_ms"]
        assert result[who + "burst_p50_ms"] <= result[who + "burst_p99_ms"]
    # every scan's line was read back from the painted frames, so every figure is a real paint
    assert (result["paced_scans"], result["burst_scans"]) == (12, 10)
    assert result["missed_scans"] == result["floor_missed_scans"] == 0
    for key in ("scan_p99", "burst_p99", "start"):
        assert math.isclose(result[f"{key}_ratio"], result[f"{key}_ms"] / result[f"floor_{key}_ms"], rel_tol=1e-2)
    assert "Backroom sale screen" in proc.stdout and "floor: Input + DataTable" in proc.stdout
