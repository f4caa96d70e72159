"""`GET /ops/stores` (Hub.sync_state): a store's last contact is its last push or pull.

A quiet store that is online pulls every few seconds and pushes nothing; ops must not see it as silent.
Pulls are noted at most once in CONTACT_EVERY per store, and not at all while the store pushes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event

from hub.service import Hub
from hub.service.balance import CONTACT_EVERY
from node import runner
from node.rules import SaleLine
from node.service import Node
from sync.kinds import stamp
from tests.hubfixtures import LocalClient, tiny_chain, tiny_item

A = tiny_item(1)
CHAIN = tiny_chain([A], [("S001", A.sku, "floor", 50), ("S002", A.sku, "floor", 5), ("W01", A.sku, "back", 20)],
                   stores=2)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hub(tmp_path: Path, clock: Clock) -> Iterator[Hub]:
    h = Hub.open(f"sqlite:///{tmp_path / 'hub.sqlite'}", clock=clock)
    h.load_chain(CHAIN)
    yield h
    h.close()


@pytest.fixture
def contact_writes(hub: Hub) -> list[str]:
    """Every statement that writes store_contacts, as it runs."""
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_rest) -> None:  # type: ignore[no-untyped-def]
        if "store_contacts" in statement and statement.lstrip().upper().startswith(("INSERT", "UPDATE")):
            seen.append(statement)
    event.listen(hub.engine, "before_cursor_execute", note)
    return seen


def state(hub: Hub, store_id: str = "S001") -> dict:
    return next(s for s in hub.sync_state() if s["store_id"] == store_id)


def test_a_store_that_only_pulls_is_seen_at_its_pulls(hub: Hub, clock: Clock) -> None:
    assert state(hub)["last_seen"] is None and state(hub)["lag_s"] is None
    hub.pull("S001")
    assert (state(hub)["last_seen"], state(hub)["lag_s"]) == (stamp(clock.now), 0)
    assert state(hub)["last_push"] is None
    clock.now += timedelta(minutes=2)
    assert state(hub)["lag_s"] == 120
    hub.pull("S001")
    assert (state(hub)["last_seen"], state(hub)["lag_s"]) == (stamp(clock.now), 0)
    assert state(hub, "S002")["last_seen"] is None  # another store's pulls say nothing of this one


def test_pulls_every_few_seconds_are_noted_at_most_once_in_the_interval(
        hub: Hub, clock: Clock, contact_writes: list[str]) -> None:
    every, span = timedelta(seconds=5), timedelta(minutes=3)
    start = clock.now
    while clock.now - start <= span:
        hub.pull("S001")
        assert state(hub)["lag_s"] < CONTACT_EVERY.total_seconds()
        clock.now += every
    assert len(contact_writes) <= span / CONTACT_EVERY + 1


def test_a_store_that_pushes_needs_no_note_of_its_pulls(
        hub: Hub, clock: Clock, tmp_path: Path, contact_writes: list[str]) -> None:
    client = LocalClient(hub, "S001")
    node = Node(tmp_path / "s1.sqlite", terminal="T1", clerk="c1")
    runner.initialise_from_hub(node, client, "S001", hub_url="local", token="-")
    try:
        runner.pull(node, client)  # the first contact: noted
        del contact_writes[:]
        for n in range(12):
            clock.now += timedelta(seconds=10)
            node.sell(f"op-{n}", [SaleLine(A.sku, 1, 500)])
            runner.push(node, client)
            runner.pull(node, client)
            assert state(hub)["last_seen"] == state(hub)["last_push"] == stamp(clock.now)
        assert contact_writes == []
    finally:
        node.close()
