"""Two hub processes run the nightly job for the same date at the same moment: one report is made."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.hubfixtures import ROOT, hub_backend_url, pg_server  # noqa: F401 - fixtures
from tests.report_day import DAY, build_day

pytestmark = pytest.mark.slow

JOB = """
import sys, time
from datetime import date
from hub.service import Hub
hub = Hub.open(sys.argv[1])
while time.time() < float(sys.argv[2]):
    time.sleep(0.001)
print("made" if hub.scheduled_report(date.fromisoformat(sys.argv[3])) else "skipped")
"""


def test_two_hub_processes_make_one_report_per_date(hub_backend_url: str, tmp_path: Path) -> None:  # noqa: F811
    day = build_day(hub_backend_url, tmp_path)
    day.hub.close()
    start = time.time() + 3
    procs = [subprocess.Popen([sys.executable, "-c", JOB, hub_backend_url, str(start), DAY], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    assert sorted(o[0].strip() for o in outs) == ["made", "skipped"]
    from hub.service import Hub  # noqa: PLC0415

    hub = Hub.open(hub_backend_url)
    assert [(r["business_date"], r["revision"]) for r in hub.list_reports()] == [(DAY, 1)]
    hub.close()
