"""The changefeed is commit-ordered: a follower never skips a change that committed late.

On PostgreSQL an id is drawn when a row is written, not when its transaction
commits: with T1 open, T2 committed and a reader past T2's row, T1's row would
never be delivered by a cursor over ids. Also: a cursor from before the hub was
restored from a backup (beyond the newest position) starts again from 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from hub import db
from hub.service import Hub, _feed_row, _write_feed
from tests.hubfixtures import hub_backend_url, pg_server, tiny_chain, tiny_item  # noqa: F401 - fixtures

A, B = tiny_item(1), tiny_item(2)
CHAIN = tiny_chain([A, B], [("W01", A.sku, "back", 10), ("W01", B.sku, "back", 5)], stores=2)


@pytest.fixture
def hub(hub_backend_url: str) -> Iterator[Hub]:
    h = Hub.open(hub_backend_url, clock=lambda: datetime(2025, 3, 10, 9, tzinfo=UTC))
    h.load_chain(CHAIN)
    yield h
    h.close()


def write_level(conn: object, sku: str, on_hand: int) -> None:
    """A changefeed row written as every hub write writes one."""
    _write_feed(conn, [_feed_row("W01", sku, None, on_hand, on_hand, "2025-03-10T09:00:00+00:00")])  # type: ignore[arg-type]


def everything(hub: Hub) -> list[dict]:
    got, cursor = [], 0
    while page := hub.feed(after=cursor, limit=2)["events"]:
        got += page
        cursor = hub.feed(after=cursor, limit=2)["cursor"]
    return got


def test_a_change_that_commits_late_is_still_delivered_once(hub: Hub, hub_backend_url: str) -> None:
    if not hub_backend_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer: commits cannot overtake each other")
    start = hub.feed(limit=5000)["cursor"]
    t1 = hub.engine.connect()
    t1.begin()
    write_level(t1, A.sku, 9)  # T1 writes a feed row first and stays open
    with hub.engine.begin() as t2:
        write_level(t2, B.sku, 4)  # T2 writes after it and commits first
    first = hub.feed(after=start)
    pulled = hub.pull("S001", start)
    assert [(e["sku"], e["on_hand"]) for e in first["events"]] == [(B.sku, 4)]
    assert [(c.sku, c.on_hand) for c in pulled.chain_stock] == [(B.sku, 4)]
    t1.commit()
    t1.close()
    second = hub.feed(after=first["cursor"])
    assert [(e["sku"], e["on_hand"]) for e in second["events"]] == [(A.sku, 9)]
    assert [(c.sku, c.on_hand) for c in hub.pull("S001", pulled.cursor).chain_stock] == [(A.sku, 9)]
    assert hub.feed(after=second["cursor"])["events"] == []
    # a second hub process on the same database continues the same order
    other = Hub.open(hub_backend_url)
    try:
        assert other.feed(after=start)["events"] == first["events"] + second["events"]
    finally:
        other.close()


def test_positions_follow_commits_and_pages_lose_nothing(hub: Hub) -> None:
    for i in range(5):
        hub.reserve(f"k{i}", A.sku, 1, location="W01")
    events = everything(hub)
    positions = [e["id"] for e in events]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert [e["available"] for e in events if e["sku"] == A.sku][-5:] == [9, 8, 7, 6, 5]
    assert events == hub.feed(limit=5000)["events"]


def test_a_cursor_beyond_the_newest_position_starts_again_from_zero(hub: Hub) -> None:
    newest = hub.feed(limit=5000)
    assert newest["events"]
    beyond = newest["cursor"] + 1000  # a node's cursor from before the hub was restored from a backup
    pulled = hub.pull("S001", beyond)
    assert pulled.cursor <= newest["cursor"] and pulled.locations  # the cursor went back: a fresh start
    assert {(c.location, c.sku) for c in pulled.chain_stock} == {("W01", A.sku), ("W01", B.sku)}
    again = hub.feed(after=beyond, limit=5000)
    assert again == newest
    assert hub.feed(after=newest["cursor"])["events"] == [] and hub.feed(after=newest["cursor"])["cursor"] == \
        newest["cursor"]


def test_rows_from_before_positions_keep_their_order(hub: Hub) -> None:
    with hub.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE changefeed SET position = NULL")
        db._m3_feed_positions(conn)  # what the migration does to an older hub's rows
        rows = conn.exec_driver_sql("SELECT id, position FROM changefeed ORDER BY id").all()
    assert rows and all(i == p for i, p in rows)


def test_a_pull_pages_the_feed_as_the_feed_does(hub: Hub) -> None:
    """A store's pull pages the same commit-ordered feed: `more` until the last page, the chain's
    locations only on a page from the start, another location's latest figures per SKU (never the
    store's own), and a catalog change as the item's catalog row."""
    hub.reserve("k1", A.sku, 2, location="W01")
    with hub.engine.begin() as conn:
        write_level(conn, B.sku, 4)
        _write_feed(conn, [("S001", A.sku, "level", 3, 3, "2025-03-10T09:00:00+00:00"),  # the store's own
                           ("W01", B.sku, "catalog", 0, 0, "2025-03-10T09:00:00+00:00")])
    events = everything(hub)
    pages, cursor = [], 0
    while True:
        page = hub.pull("S001", cursor, limit=2)
        pages.append(page)
        assert page.cursor >= cursor
        cursor = page.cursor
        if not page.more:
            break
    assert [p.more for p in pages] == [True] * (len(pages) - 1) + [False]
    assert len(pages) == (len(events) + 1) // 2
    assert pages[0].locations and not any(p.locations for p in pages[1:])
    assert [loc.id for loc in pages[0].locations] == ["S001", "S002", "W01"]
    assert pages[-1].cursor == events[-1]["id"]
    seen = [(c.location, c.sku, c.on_hand, c.available) for p in pages for c in p.chain_stock]
    assert ("W01", A.sku, 10, 8) in seen and ("W01", B.sku, 4, 4) in seen
    assert all(loc != "S001" for loc, *_ in seen)
    catalog = [c for p in pages for c in p.catalog]
    assert [(c.sku, c.name, c.price, c.perishable, c.in_store) for c in catalog] == [
        (B.sku, B.name, B.price, B.perishable, B.in_store)]
    whole = hub.pull("S001", 0)
    assert whole.cursor == pages[-1].cursor and not whole.more
    assert {(c.location, c.sku): (c.on_hand, c.available) for c in whole.chain_stock} == {
        ("W01", A.sku): (10, 8), ("W01", B.sku): (4, 4)}
    assert hub.pull("S001", whole.cursor).chain_stock == [] and hub.pull("S001", whole.cursor).cursor == whole.cursor


def test_a_pull_is_only_for_a_store_the_hub_knows(hub: Hub) -> None:
    from hub import rules  # noqa: PLC0415

    for who in ("W01", "S999"):
        with pytest.raises(rules.Unknown):
            hub.pull(who)
