"""The clerk's terminal through a whole shift: typos refused, every question readable, nothing lost on quit
or crash, one key map, focus back on the scan field, and a till that never freezes on the node file's lock.

The real app under Textual's pilot at 80x24 over a real node file (see tests/test_tui.py for the helpers).
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from node.service import Node
from tests.test_tui import (  # noqa: F401 - store, strict_store and templates are fixtures
    LOW_QUOTA, assert_plain_sentence, cart, fill_form, last_seq, make_app, message,
    message_is_error, pick_items, plain_items, run, sale, scan, screen_text, store, strict_store, templates, wait_for,
    written,
)
from tui import keys
from tui.screens.dialogs import Confirm, QuitSale, Receipt, Tender
from tui.screens.forms import OperationForm
from tui.screens.lookup import LookupScreen
from tui.screens.menus import Help, StockMenu
from tui.screens.sale import SaleScreen


def words(text: str) -> str:
    """Text with its line breaks and box borders gone, for "is all of it on screen"."""
    return " ".join(re.sub(r"[█▀▄▌▐▊▎▔▁│]", " ", text).split())


def assert_all_visible(app, text: str) -> None:  # noqa: ANN001
    # Compared without spaces: a word longer than the line is broken inside itself.
    squeeze = lambda t: "".join(words(t).split())  # noqa: E731
    assert squeeze(text) in squeeze(screen_text(app)), f"not all of {text!r} is on screen:\n{screen_text(app)}"


def open_sale_rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as c:
        return c.execute("SELECT terminal, lines FROM parked_sales WHERE open = 1").fetchall()


# -- quantities -------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["99999999999*", "0*", "-1*", "abc*", "3*3*", "9" * 5000 + "*"])
def test_a_typo_in_the_quantity_is_refused_and_writes_nothing(store: Path, tmp_path: Path, typed: str) -> None:
    (a,) = plain_items(store, 1)
    app = make_app(store, tmp_path)
    before = last_seq(store)

    async def scenario(pilot: Pilot) -> None:
        await scan(pilot, a["gtin"])
        await written(pilot)
        await scan(pilot, typed + a["gtin"])
        assert isinstance(app.screen, SaleScreen)
        assert cart(app) == [(a["sku"], 1)], "the refused line left the sale as it was"
        assert message_is_error(app)
        assert_plain_sentence(message(app))
        assert_all_visible(app, message(app))
        assert app.screen.query_one("#scan", Input).has_focus
        await written(pilot)

    run(app, scenario)
    assert last_seq(store) == before, "nothing was written to the ledger"
    assert [len(json.loads(lines)) for _, lines in open_sale_rows(store)] == [1], "the open sale is the one line"


def test_a_large_quantity_is_confirmed_and_declining_adds_nothing(store: Path, tmp_path: Path) -> None:
    (a,) = pick_items(store, "i.perishable = 0 AND s.quota >= 40 AND s.floor + s.back >= 40")
    app = make_app(store, tmp_path)
    most = app.till.limits.confirm_line_qty

    async def scenario(pilot: Pilot) -> None:
        await scan(pilot, f"{most + 1}*{a['gtin']}")
        assert isinstance(app.screen, Confirm)
        assert_all_visible(app, app.screen.question)
        await pilot.press("escape")
        assert cart(app) == [] and message(app) == f"{a['name']} not added."
        await scan(pilot, f"{most + 1}*{a['gtin']}")
        await pilot.press("enter")
        assert cart(app) == [(a["sku"], most + 1)]
        row = app.screen.query_one("#lines").get_row_at(0)
        assert str(row[1]) == str(most + 1), "the quantity column shows the whole figure"

    run(app, scenario)


def test_columns_hold_the_largest_line_the_store_allows(store: Path, tmp_path: Path) -> None:
    from node.bounds import MAX_UNIT_PRICE
    from node.present import money
    from tui.screens.cart import columns

    for most in (9, 999, 99_999):
        widths = dict(columns(80, most))
        assert widths["Qty"] >= len(str(most))
        assert widths["Amount"] >= len(money(MAX_UNIT_PRICE * most))
        assert sum(widths.values()) + 2 * len(widths) + 2 <= 80


# -- readable questions and refusals ------------------------------------------------------------------


def test_the_over_quota_question_is_shown_whole_at_80x24(store: Path, tmp_path: Path) -> None:
    (low,) = pick_items(store, LOW_QUOTA)
    app = make_app(store, tmp_path)

    async def scenario(pilot: Pilot) -> None:
        await scan(pilot, f"{low['quota'] + 1}*{low['gtin']}")
        assert isinstance(app.screen, Confirm)
        assert "quota has" in app.screen.question
        assert_all_visible(app, app.screen.question)
        assert "Enter = yes Esc = no" in words(screen_text(app))
        await pilot.press("escape")
        assert app.screen.query_one("#scan", Input).has_focus

    run(app, scenario)


def test_a_long_refusal_is_shown_whole(strict_store: Path, tmp_path: Path) -> None:
    (low,) = pick_items(strict_store, LOW_QUOTA)
    app = make_app(strict_store, tmp_path)

    async def scenario(pilot: Pilot) -> None:
        await scan(pilot, f"{low['quota'] + 1}*{low['gtin']}")
        msg = message(app)
        assert len(msg) > 78, "the refusal is longer than a line of the screen"
        assert_all_visible(app, msg)
        await scan(pilot, "SKU" + "LONG" * 40)  # a scanner gone wrong: the refusal names all of it
        msg = message(app)
        assert message_is_error(app) and len(msg) > 2 * 78, msg
        assert_all_visible(app, msg)

    run(app, scenario)


# -- quitting and crashing ------------------------------------------------------------------------------


def test_ctrl_q_with_an_open_sale_asks_and_stay_keeps_it(store: Path, tmp_path: Path) -> None:
    a, b = plain_items(store, 2)
    app = make_app(store, tmp_path)

    async def scenario(pilot: Pilot) -> None:
        await scan(pilot, a["gtin"])
        await scan(pilot, f"2*{b['gtin']}")
        await pilot.press("f2")  # from another screen too
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, QuitSale)
        assert_all_visible(app, "This sale is still open: 2 lines")
        await pilot.press("escape")
        assert cart(app) == [(a["sku"], 1), (b["sku"], 2)]
        assert app.screen.query_one("#scan", Input).has_focus
        assert app.is_running

    run(app, scenario)


def test_ctrl_q_then_park_parks_the_sale_and_quits(store: Path, tmp_path: Path) -> None:
    a, b = plain_items(store, 2)
    app = make_app(store, tmp_path)

    async def scenario(pilot: Pilot) -> None:
        await scan(pilot, a["gtin"])
        await scan(pilot, b["gtin"])
        await pilot.press("ctrl+q", "p")
        await wait_for(pilot, lambda: app._exit, "the app to quit")

    async def go() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await scenario(pilot)

    import asyncio
    asyncio.run(go())
    node = Node(store)
    try:
        parked = node.parked_sales()
    finally:
        node.close()
    assert [(ln.sku, ln.qty) for ln in parked[0]["lines"]] == [(a["sku"], 1), (b["sku"], 1)]
    assert open_sale_rows(store) == []


def test_ctrl_q_then_void_leaves_nothing_and_an_empty_sale_quits_at_once(store: Path, tmp_path: Path) -> None:
    (a,) = plain_items(store, 1)
    app = make_app(store, tmp_path)

    async def go() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await scan(pilot, a["gtin"])
            await written(pilot)
            assert len(open_sale_rows(store)) == 1
            await pilot.press("ctrl+q", "v")
            await wait_for(pilot, lambda: app._exit, "the app to quit")

    import asyncio
    asyncio.run(go())
    assert open_sale_rows(store) == [] and Node(store).parked_sales() == []
    empty = make_app(store, tmp_path)

    async def quits() -> None:
        async with empty.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+q")
            await pilot.pause()
            assert not isinstance(empty.screen, QuitSale)
            assert empty._exit, "an empty sale has nothing to ask about"

    asyncio.run(quits())


def test_a_killed_terminal_gets_its_open_sale_back(store: Path, tmp_path: Path) -> None:
    """The open sale is committed to the node file as it is built (synchronous=FULL), so a kill
    loses nothing: here the first app's process state is thrown away without its unmount running."""
    a, b = plain_items(store, 2)
    first = make_app(store, tmp_path)
    seen = {}

    async def scenario(pilot: Pilot) -> None:
        await scan(pilot, a["gtin"])
        await scan(pilot, f"3*{b['gtin']}")
        await written(pilot)
        seen["sale_id"] = first.sale.sale_id

    run(first, scenario)
    # What a kill leaves: the node file alone. Read it from another process, as the next start would.
    out = subprocess.run([sys.executable, "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); "
                          "print(c.execute('SELECT count(*) FROM parked_sales WHERE open = 1').fetchone()[0])",
                          str(store)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"
    second = make_app(store, tmp_path)

    async def back(pilot: Pilot) -> None:
        assert cart(second) == [(a["sku"], 1), (b["sku"], 3)]
        assert second.sale.sale_id == seen["sale_id"], "the same sale: paying it twice cannot sell it twice"
        assert "unfinished sale" in message(second)
        await pilot.press("f12", "enter")
        await written(pilot)
        assert isinstance(second.screen, Receipt)

    run(second, back)
    assert open_sale_rows(store) == [], "a paid sale is no longer kept as open"


# -- one key map ------------------------------------------------------------------------------------------


def test_every_key_of_every_screen_is_on_the_help_screen() -> None:
    from tui.app import BackroomApp
    from tui.screens.dialogs import Dialog

    listed = {(key, alt) for _, key, alt, _ in keys.help_rows()}
    listed_keys = {k for pair in listed for k in pair if k}
    for screen in (BackroomApp, SaleScreen, LookupScreen, OperationForm):
        for b in screen.BINDINGS:
            if b.key in ("up", "down"):
                continue  # listed in words ("Up / Down")
            shown = keys._display(b.key)
            assert shown in listed_keys, f"{screen.__name__}'s {b.key} is not on the help screen"
    # and no key means two things on two screens
    meaning: dict[str, str] = {}
    for group in (keys.EVERYWHERE, keys.SALE, keys.LOOKUP_KEYS, (keys.RECORD, keys.BACK)):
        for k in group:
            for key in filter(None, (k.key, k.alt)):
                assert meaning.setdefault(key, k.action) == k.action, f"{key} means two things"
    assert issubclass(Help, Dialog)


def test_help_on_f1_and_on_a_lone_question_mark_and_the_browser_alternatives(store: Path, tmp_path: Path) -> None:
    (a,) = plain_items(store, 1)
    app = make_app(store, tmp_path)

    async def scenario(pilot: Pilot) -> None:
        await pilot.press("f1")
        assert isinstance(app.screen, Help)
        await pilot.press("escape")
        await pilot.press("question_mark")
        assert isinstance(app.screen, Help)
        await pilot.press("escape")
        assert app.screen.query_one("#scan", Input).value == ""
        await pilot.press("ctrl+b")
        assert isinstance(app.screen, LookupScreen)
        await pilot.press("escape", "ctrl+o")
        assert isinstance(app.screen, StockMenu)
        await pilot.press("escape")
        await scan(pilot, a["gtin"])
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, Tender)
        await pilot.press("escape", "ctrl+d")
        assert cart(app) == []

    run(app, scenario)


# -- focus ----------------------------------------------------------------------------------------------


def test_focus_returns_to_the_scan_field_after_a_refusal_in_a_form(store: Path, tmp_path: Path) -> None:
    (a,) = plain_items(store, 1)
    app = make_app(store, tmp_path)

    async def scenario(pilot: Pilot) -> None:
        await fill_form(pilot, "write_off", {"code": a["gtin"], "qty": "99999999999", "kind": "damaged",
                                             "bin": "floor"})
        assert isinstance(app.screen, OperationForm)
        assert message_is_error(app)
        assert app.screen.query_one("#f-code", Input).has_focus
        await fill_form(pilot, "write_off", {"code": "SKU-NOPE", "qty": "1", "kind": "damaged", "bin": "floor"})
        assert message_is_error(app) and app.screen.query_one("#f-code", Input).has_focus

    run(app, scenario)


# -- the node file's lock --------------------------------------------------------------------------------

HOLD_LOCK = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
c.execute("ROLLBACK")
"""


def test_another_process_holding_the_write_lock_does_not_freeze_the_till(store: Path, tmp_path: Path) -> None:
    a, b, c = plain_items(store, 3)
    app = make_app(store, tmp_path)
    before = last_seq(store)
    seen = {}

    async def scenario(pilot: Pilot) -> None:
        await scan(pilot, a["gtin"])
        await written(pilot)
        holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(store), "3"], stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "locked"
            t0 = time.monotonic()
            await pilot.press("f12", "enter")  # pay while the lock is held
            await pilot.pause(0.3)
            assert app.sale.busy and "saving…" in screen_text(app)
            await scan(pilot, b["gtin"])  # the till still answers, and says why the cart waits
            assert "Saving the sale" in message(app)
            await pilot.press("f2")  # other screens still open
            assert isinstance(app.screen, LookupScreen)
            await pilot.press("escape")
            seen["answered_within"] = time.monotonic() - t0
            assert holder.poll() is None, "the lock was still held while the till answered"
            await wait_for(pilot, lambda: isinstance(app.screen, Receipt), "the sale to finish", timeout=15)
            await pilot.press("enter")
            await scan(pilot, c["gtin"])
            assert cart(app) == [(c["sku"], 1)]
        finally:
            holder.wait(timeout=10)

    run(app, scenario)
    sold = [e for e in Node(store).ledger(after=before, limit=100) if e["kind"] == "sale"]
    assert [(e["sku"], e["qty"]) for e in sold] == [(a["sku"], 1)]
    assert seen["answered_within"] < 3
