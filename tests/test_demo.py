"""`backroom demo` from nothing: a hub on embedded defaults, a demo store set up from it, a sale that syncs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hubfixtures import free_port

ROOT = Path(__file__).resolve().parent.parent


def demo(folder: Path, port: int) -> dict:
    r = subprocess.run([sys.executable, "-c", "from backroom_cli import main; main()", "demo", "--smoke",
                        "--dir", str(folder), "--port", str(port)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_the_demo_runs_from_nothing_and_again(tmp_path: Path) -> None:
    folder = tmp_path / "demo-data"
    first = demo(folder, free_port())
    assert first["sync"]["online"] and first["status"]["waiting"] == 0
    assert first["sale"].startswith("S001-T1-")
    assert {p.name for p in folder.iterdir()} >= {"hub.sqlite", "store-S001.sqlite", "tokens.json", "hub.log"}
    # a second run carries on with the same hub and store (maybe on another port)
    second = demo(folder, free_port())
    assert second["status"]["last_seq"] == first["status"]["last_seq"] + 1
    assert second["status"]["waiting"] == 0
    assert second["hub_on_hand"] == first["hub_on_hand"] - 1
