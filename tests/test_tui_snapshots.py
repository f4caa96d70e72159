"""Screenshots of the clerk's terminal at 80x24, compared with the accepted SVGs in __snapshots__/.

After a deliberate change to the screens, look at the new pictures and run
`pytest tests/test_tui_snapshots.py --snapshot-update`, then commit the SVGs.

To keep them the same run after run: the app gets a clock that never moves
(the status bar shows the app's clock), the machine's time zone is UTC for
the test, the status bar has read the node file before the picture is
taken, and no input's cursor is blinking.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tests.conftest import ManualClock
from tests.test_tui import (  # noqa: F401 - templates is a fixture
    LOW_QUOTA, copy_store, pick_items, plain_items, templates, wait_for, written,
)
from tui.app import BackroomApp
from tui.screens.dialogs import Confirm, QuitSale, Quantity, Recall, Receipt, Tender
from tui.screens.forms import OperationForm
from tui.screens.lookup import LookupScreen
from tui.screens.menus import Help, PutAside, StockMenu

SIZE = (80, 24)
FIXED = datetime(2025, 3, 10, 9, 30, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def utc_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def store(templates: dict[str, Path], tmp_path: Path) -> Path:  # noqa: F811
    return copy_store(templates, tmp_path)


@pytest.fixture
def strict_store(templates: dict[str, Path], tmp_path: Path) -> Path:  # noqa: F811
    return copy_store(templates, tmp_path, "strict")


def app_for(store: Path, tmp_path: Path) -> BackroomApp:
    return BackroomApp(store, terminal="T1", clerk="ann", clock=ManualClock(FIXED),
                       receipts_dir=tmp_path / "receipts")


def settled(then: Callable[[Pilot], Awaitable[None]] | None = None) -> Callable[[Pilot], Awaitable[None]]:
    """run_before for snap_compare: do `then`, wait for the status bar's first read, stop cursors blinking."""

    async def before(pilot: Pilot) -> None:
        app = pilot.app
        await pilot.pause()
        if then is not None:
            await then(pilot)
        bar = app.screen.query("StatusBar")
        if bar:
            await wait_for(pilot, lambda: "S001" in str(app.screen.query_one("StatusBar").content),
                           "the status bar's first read")
        for field in app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause()

    return before


async def scan(pilot: Pilot, code: str) -> None:
    pilot.app.screen.query_one("#scan", Input).value = code
    await pilot.press("enter")


def test_sale_screen_with_two_lines(snap_compare, store: Path, tmp_path: Path) -> None:  # noqa: ANN001
    a, b = plain_items(store, 2)

    async def two_lines(pilot: Pilot) -> None:
        await scan(pilot, a["gtin"])
        await scan(pilot, f"2*{b['gtin']}")

    assert snap_compare(app_for(store, tmp_path), terminal_size=SIZE, run_before=settled(two_lines))


def test_lookup_screen_showing_an_item(snap_compare, store: Path, tmp_path: Path) -> None:  # noqa: ANN001
    (a,) = plain_items(store, 1)

    async def look_up(pilot: Pilot) -> None:
        await pilot.press("f2")
        app = pilot.app
        assert isinstance(app.screen, LookupScreen)
        app.screen.query_one("#query", Input).value = a["gtin"]
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.current is not None, "the item's detail")

    assert snap_compare(app_for(store, tmp_path), terminal_size=SIZE, run_before=settled(look_up))


def test_receive_form(snap_compare, store: Path, tmp_path: Path) -> None:  # noqa: ANN001
    (a,) = plain_items(store, 1)

    async def receive(pilot: Pilot) -> None:
        await pilot.press("f4", "d")
        assert isinstance(pilot.app.screen, OperationForm)
        pilot.app.screen.query_one("#f-code", Input).value = a["gtin"]
        await pilot.press("enter")  # on to the units
        await pilot.press("backspace", "1", "2")

    assert snap_compare(app_for(store, tmp_path), terminal_size=SIZE, run_before=settled(receive))


def test_tender_dialog(snap_compare, store: Path, tmp_path: Path) -> None:  # noqa: ANN001
    a, b = plain_items(store, 2)

    async def tender(pilot: Pilot) -> None:
        await scan(pilot, a["gtin"])
        await scan(pilot, b["gtin"])
        await pilot.press("f12")
        assert isinstance(pilot.app.screen, Tender)
        await pilot.press("5", "0")

    assert snap_compare(app_for(store, tmp_path), terminal_size=SIZE, run_before=settled(tender))


# -- every dialog at 80x24, its whole text on screen ---------------------------------------------------


def test_over_quota_question(snap_compare, store: Path, tmp_path: Path) -> None:  # noqa: ANN001
    (low,) = pick_items(store, LOW_QUOTA)

    async def over(pilot: Pilot) -> None:
        await scan(pilot, f"{low['quota'] + 1}*{low['gtin']}")
        assert isinstance(pilot.app.screen, Confirm)

    assert snap_compare(app_for(store, tmp_path), terminal_size=SIZE, run_before=settled(over))


def test_large_quantity_and_over_quota_confirmed_together(snap_compare, store: Path, tmp_path: Path) -> None:  # noqa: ANN001
    (low,) = pick_items(store, LOW_QUOTA)

    async def both(pilot: Pilot) -> None:
        await scan(pilot, f"25*{low['gtin']}")
        assert isinstance(pilot.app.screen, Confirm)

    assert snap_compare(app_for(store, tmp_path), terminal_size=SIZE, run_before=settled(both))


def test_hold_dialog(snap_compare, store: Path, tmp_path: Path) -> None:  # noqa: ANN001
    (a,) = pick_items(store, "i.perishable = 0 AND s.floor >= 2 AND length(i.name) >= 20")

    async def hold(pilot: Pilot) -> None:
        await pilot.press("f2")
        app = pilot.app
        app.screen.query_one("#query", Input).value = a["gtin"]
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.current is not None, "the item's detail")
        await pilot.press("f5")
        assert isinstance(app.screen, PutAside)

    assert snap_compare(app_for(store, tmp_path), terminal_size=SIZE, run_before=settled(hold))


def test_receipt_dialog_of_a_long_sale(snap_compare, store: Path, tmp_path: Path) -> None:  # noqa: ANN001
    items = plain_items(store, 9)

    async def paid(pilot: Pilot) -> None:
        for i, it in enumerate(items):
            await scan(pilot, f"{i + 1}*{it['gtin']}")
        await pilot.press("f12", "c")
        await written(pilot)
        assert isinstance(pilot.app.screen, Receipt)

    assert snap_compare(app_for(store, tmp_path), terminal_size=SIZE, run_before=settled(paid))


def test_recall_dialog(snap_compare, store: Path, tmp_path: Path) -> None:  # noqa: ANN001
    a, b = plain_items(store, 2)

    async def recall(pilot: Pilot) -> None:
        await scan(pilot, a["gtin"])
        await pilot.press("f8")
        await written(pilot)
        await scan(pilot, f"3*{b['gtin']}")
        await pilot.press("f8")
        await written(pilot)
        await pilot.press("f9")
        assert isinstance(pilot.app.screen, Recall)

    assert snap_compare(app_for(store, tmp_path), terminal_size=SIZE, run_before=settled(recall))


def test_quantity_dialog(snap_compare, store: Path, tmp_path: Path) -> None:  # noqa: ANN001
    (a,) = plain_items(store, 1)

    async def qty(pilot: Pilot) -> None:
        await scan(pilot, a["gtin"])
        await pilot.press("f3")
        assert isinstance(pilot.app.screen, Quantity)
        pilot.app.screen.query_one("#qty", Input).value = "0"
        await pilot.press("enter")

    assert snap_compare(app_for(store, tmp_path), terminal_size=SIZE, run_before=settled(qty))


def test_quit_with_an_open_sale(snap_compare, store: Path, tmp_path: Path) -> None:  # noqa: ANN001
    a, b = plain_items(store, 2)

    async def quit_(pilot: Pilot) -> None:
        await scan(pilot, a["gtin"])
        await scan(pilot, b["gtin"])
        await pilot.press("ctrl+q")
        assert isinstance(pilot.app.screen, QuitSale)

    assert snap_compare(app_for(store, tmp_path), terminal_size=SIZE, run_before=settled(quit_))


def test_help_screen(snap_compare, store: Path, tmp_path: Path) -> None:  # noqa: ANN001
    async def help_(pilot: Pilot) -> None:
        await pilot.press("f1")
        assert isinstance(pilot.app.screen, Help)

    assert snap_compare(app_for(store, tmp_path), terminal_size=SIZE, run_before=settled(help_))


def test_stock_menu(snap_compare, store: Path, tmp_path: Path) -> None:  # noqa: ANN001
    async def menu(pilot: Pilot) -> None:
        await pilot.press("f4")
        assert isinstance(pilot.app.screen, StockMenu)

    assert snap_compare(app_for(store, tmp_path), terminal_size=SIZE, run_before=settled(menu))


def test_long_refusal(snap_compare, strict_store: Path, tmp_path: Path) -> None:  # noqa: ANN001
    (low,) = pick_items(strict_store, LOW_QUOTA)

    async def refused(pilot: Pilot) -> None:
        await scan(pilot, f"{low['quota'] + 1}*{low['gtin']}")
        await scan(pilot, "SKU" + "LONG" * 30)

    assert snap_compare(app_for(strict_store, tmp_path), terminal_size=SIZE, run_before=settled(refused))
