"""The till decides a scan by the node's own rule (issue 8): units found far past the book are confirmed,
held units are never sold from under a customer, a line is bounded, and the status bar says when a
node file was restored behind the hub."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot

from node.service import Node
from tests.test_tui import (  # noqa: F401 - fixtures
    cart, ledger, make_app, message, pick_items, run, sale, scan, screen_text, store, templates, written,
)
from tui.screens.dialogs import Confirm, Receipt


def test_far_more_than_the_book_at_the_till_is_asked_and_then_sold(store: Path, tmp_path: Path) -> None:
    (item,) = pick_items(store, "s.floor + s.back BETWEEN 1 AND 5")
    book = item["floor"] + item["back"]
    app = make_app(store, tmp_path)
    before = ledger(store)[-1]["seq"]

    async def scenario(pilot: Pilot) -> None:
        await scan(pilot, f"50*{item['gtin']}")
        assert isinstance(app.screen, Confirm), screen_text(app)
        assert f"the book has {book}" in app.screen.question and "really in the customer's hand" in app.screen.question
        await pilot.press("enter")
        sale(app)
        assert cart(app) == [(item["sku"], 50)]
        await pilot.press("f12", "enter")
        await written(pilot)
        assert isinstance(app.screen, Receipt), screen_text(app)

    run(app, scenario)
    found = [e for e in ledger(store, before) if e["kind"] == "count"]
    assert [e["qty"] for e in found] == [50 - book] and found[0]["detail"]["found_at_till"]


def test_a_line_past_the_maximum_is_refused_at_the_scan(store: Path, tmp_path: Path) -> None:
    (item,) = pick_items(store, "s.quota >= 1")
    app = make_app(store, tmp_path)

    async def scenario(pilot: Pilot) -> None:
        await scan(pilot, f"4000*{item['gtin']}")
        sale(app)
        assert cart(app) == [] and "more than the 999 units one line may hold" in message(app)

    run(app, scenario)


def test_held_units_are_not_sold_over_quota_from_the_till(store: Path, tmp_path: Path) -> None:
    (item,) = pick_items(store, "s.quota >= 2 AND s.floor + s.back - s.quota BETWEEN 1 AND 6")
    with Node(store) as n:
        b = n.balance(item["sku"])
        n.hold("H-ANN", item["sku"], b.quota)  # every unit of quota put aside for Ann
        b = n.balance(item["sku"])
    app = make_app(store, tmp_path)

    async def scenario(pilot: Pilot) -> None:
        await scan(pilot, f"{b.on_hand}*{item['gtin']}")  # as many as the book shows, Ann's included
        assert isinstance(app.screen, Confirm)  # in hand, past the quota
        await pilot.press("enter")
        await pilot.press("f12", "enter")
        await written(pilot)
        assert isinstance(app.screen, Receipt), screen_text(app)

    run(app, scenario)
    with Node(store) as n:
        after = n.balance(item["sku"])
        assert after.held == b.held and after.quota + after.held <= after.on_hand


def test_the_status_bar_says_when_the_file_was_restored_behind_the_hub(store: Path, tmp_path: Path) -> None:
    with Node(store) as n:
        last = n.last_seq()
        n.set_meta(hub_url="http://hub", online="1", sync_stopped="behind_hub", hub_seq=str(last + 40),
                   last_error="Restored behind the hub")
    app = make_app(store, tmp_path)

    async def scenario(pilot: Pilot) -> None:
        await pilot.pause(0.5)
        assert f"RESTORED BEHIND THE HUB (seq {last}, hub {last + 40})" in screen_text(app)

    run(app, scenario)
