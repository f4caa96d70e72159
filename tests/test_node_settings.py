"""`backroom node settings`: the store's own settings, shown, changed, refused; and the terminal obeys them."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from node.bounds import SETTINGS
from tests.test_node_cli import q, run, run_json
from tests.test_tui import copy_store, make_app, plain_items, scan, templates, written  # noqa: F401 - fixture
from tui.screens.dialogs import Confirm, Receipt


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "store.sqlite"
    run("init", "--store", "S001", db=path)
    return path


def test_settings_show_and_change_and_refuse_without_writing(db: Path) -> None:
    shown = run_json("settings", db=db)
    assert set(SETTINGS) <= set(shown) and shown["max_line_qty"] == 999 and shown["receipt_width"] == 40
    assert run_json("settings", "receipt_width=48", "confirm_line_qty=5", db=db)["receipt_width"] == 48
    before = q(db, "SELECT key, value FROM meta ORDER BY key")
    for bad in ("receipt_width=4", "max_line_qty=0", "max_line_qty=" + "9" * 40, "bogus=1", "receipt_width"):
        p = run("settings", "confirm_line_qty=7", bad, db=db, check=False)
        assert p.returncode == 2 and p.stderr.strip(), (bad, p.stderr)
        assert "Traceback" not in p.stderr
    assert [tuple(r) for r in q(db, "SELECT key, value FROM meta ORDER BY key")] == [tuple(r) for r in before], \
        "a refused change writes none of the others either"
    assert "receipt_width" in run("settings", "--help").stdout or "KEY=VALUE" in run("settings", "--help").stdout


def test_the_terminal_follows_the_store_settings(templates: dict[str, Path], tmp_path: Path) -> None:  # noqa: F811
    store = copy_store(templates, tmp_path)
    run("settings", "receipt_width=30", "confirm_line_qty=2", db=store)
    (a,) = plain_items(store, 1)
    app = make_app(store, tmp_path)
    seen = {}

    async def scenario(pilot: Pilot) -> None:
        await scan(pilot, f"3*{a['gtin']}")
        assert isinstance(app.screen, Confirm), "3 is past this store's confirm_line_qty of 2"
        await pilot.press("enter", "f12", "enter")
        await written(pilot)
        assert isinstance(app.screen, Receipt)
        seen["text"] = app.screen.text

    from tests.test_tui import run as run_app
    run_app(app, scenario)
    assert max(map(len, seen["text"].splitlines())) <= 30
    (saved,) = (tmp_path / "receipts").glob("*.txt")
    assert saved.read_text() == seen["text"]
