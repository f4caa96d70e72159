"""`python bench/balance_pass.py --quick` runs from the repo root and ends with its JSON figures.

No timing thresholds: the figures depend on the machine. It checks that the
bench runs end to end, reports the pass beside its floor, and cleans up.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_balance_pass_bench_quick(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "bench/balance_pass.py", "--quick", "--dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads([ln for ln in proc.stdout.splitlines() if ln.strip()][-1])
    for key in ("pass_s", "floor_s", "ratio", "full_pass_s", "full_ratio", "forecast_all_s"):
        assert isinstance(result[key], float) and math.isfinite(result[key]) and result[key] > 0, (key, result)
    assert result["quick"] is True and result["positions"] > 50_000 and result["sales_rows"] > 100_000
    assert math.isclose(result["ratio"], result["pass_s"] / result["floor_s"], rel_tol=1e-2)
    assert len(result["pass_spots"]) == 2 and all(n < result["positions"] for n in result["pass_spots"])
    assert "floor: read every position" in proc.stdout and "scheduled pass 1" in proc.stdout
    assert list(tmp_path.iterdir()) == []
