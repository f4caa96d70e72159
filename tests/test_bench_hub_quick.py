"""`python bench/hub_ingest.py --quick` runs end to end and ends with its JSON figures.

No timing thresholds: the figures depend on the machine (and on what else runs
on it); this only checks that the bench runs and reports positive numbers.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = ("sqlite_ratio", "pg_ratio", "backlog_10k_s", "reserve_ratio", "reserve_p99_ms",
            "hub_sqlite_entries_per_s", "floor_sqlite_entries_per_s", "reserve_per_s", "floor_reserve_per_s")


@pytest.mark.slow
def test_hub_ingest_bench_quick(tmp_path: Path) -> None:
    pytest.importorskip("pgserver")
    proc = subprocess.run(
        [sys.executable, "bench/hub_ingest.py", "--quick", "--dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert lines, "the bench printed nothing"
    result = json.loads(lines[-1])
    for key in REQUIRED:
        value = result[key]
        assert isinstance(value, (int, float)) and not isinstance(value, bool), (key, value)
        assert math.isfinite(value) and value > 0, (key, value)
    assert result["quick"] is True
    assert "hub on SQLite" in proc.stdout and "floor: bare FastAPI parse" in proc.stdout
    assert list(tmp_path.iterdir()) == []  # the temporary folder and the PostgreSQL data are gone
