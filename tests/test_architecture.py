"""The layering the design rests on: tui -> node -> sync <- hub, and I/O-free domain cores."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    r = subprocess.run([exe, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "4 kept, 0 broken" in r.stdout, r.stdout


def test_the_domain_cores_import_no_io_at_runtime() -> None:
    """Belt and braces for the contract: importing the rules pulls in no database, HTTP or UI module."""
    code = ("import sys, node.rules, hub.rules; "
            "bad = [m for m in ('sqlite3', 'sqlalchemy', 'httpx', 'fastapi', 'textual', 'sqlite_utils') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
