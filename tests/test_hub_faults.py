"""The fault hook the simulation drives: injected serialization failures are retried whole,
ambiguous commits reach the caller after the work is done, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection

from hub import db
from hub.service import Hub
from sync.models import PushBatch
from tests.hubfixtures import (  # noqa: F401 - fixtures
    hub_backend_url, ledger_entry, pg_server, tiny_chain, tiny_item,
)

A = tiny_item(1)
CHAIN = tiny_chain([A], [("S001", A.sku, "floor", 10), ("W01", A.sku, "back", 20)], stores=1)
OPENING = ledger_entry("S001", 1, A.sku, qty=10, floor_delta=10, quota_delta=7, quota_after=7, on_hand_after=10)


class Faults:
    """Fails the next `serialization` commits, then makes the next `ambiguous` ones ambiguous."""

    def __init__(self) -> None:
        self.serialization = 0
        self.ambiguous = 0
        self.before = self.after = 0

    def before_begin(self) -> None:
        pass

    def before_commit(self, conn: Connection) -> None:
        self.before += 1
        if self.serialization:
            self.serialization -= 1
            raise db.InjectedSerializationFailure()

    def after_commit(self) -> None:
        self.after += 1
        if self.ambiguous:
            self.ambiguous -= 1
            raise db.AmbiguousCommit()


@pytest.fixture
def faulty(hub_backend_url: str) -> Iterator[tuple[Hub, Faults]]:
    clean = Hub.open(hub_backend_url, clock=lambda: datetime(2025, 3, 10, 9, tzinfo=UTC))
    clean.load_chain(CHAIN)
    f = Faults()
    yield Hub(clean.engine.execution_options(faults=f), clock=clean.clock), f
    clean.close()


def warehouse(hub: Hub) -> dict:
    return next(p for p in hub.stock(A.sku)["locations"] if p["location"] == "W01")


def test_every_engine_a_hub_derives_carries_the_faults(faulty: tuple[Hub, Faults]) -> None:
    hub, f = faulty
    for engine in (hub.engine, hub.reads, hub.consistent_reads, hub._no_wait):
        assert engine.get_execution_options()["faults"] is f


def test_an_injected_serialization_failure_runs_the_transaction_again_whole(faulty: tuple[Hub, Faults]) -> None:
    hub, f = faulty
    f.serialization = 2
    r = hub.reserve("k1", A.sku, 3, location="W01")
    assert r["status"] == "held" and f.serialization == 0 and f.after == 1
    assert (warehouse(hub)["reserved"], warehouse(hub)["hub_share"]) == (3, 17)  # once, not three times
    f.serialization = 1
    assert hub.ingest("S001", PushBatch(store_id="S001", entries=[OPENING])).accepted == 1
    assert len(hub.store_ledger("S001")) == 1


def test_an_ambiguous_commit_is_done_and_not_retried(faulty: tuple[Hub, Faults]) -> None:
    hub, f = faulty
    f.ambiguous = 1
    with pytest.raises(db.AmbiguousCommit):
        hub.reserve("k2", A.sku, 4, location="W01")
    assert f.before == 1 and warehouse(hub)["reserved"] == 4  # committed once, then the error
    again = hub.reserve("k2", A.sku, 4, location="W01")  # the caller's retry finds the first answer
    assert again["qty"] == 4 and warehouse(hub)["reserved"] == 4
    hub.ingest("S001", PushBatch(store_id="S001", entries=[OPENING]))
    f.ambiguous = 1
    with pytest.raises(db.AmbiguousCommit):
        hub.grant("S001", A.sku, 1, key="g1")
    assert hub.grant("S001", A.sku, 1, key="g1")["qty"] == 1
    assert next(p for p in hub.stock(A.sku)["locations"] if p["location"] == "S001")["in_flight"] == 1


def test_an_injected_failure_on_a_write_that_must_not_wait_says_would_wait(faulty: tuple[Hub, Faults],
                                                                           hub_backend_url: str) -> None:
    hub, f = faulty
    if not hub_backend_url.startswith("sqlite"):
        pytest.skip("only SQLite writes in place")
    f.serialization = 1
    with pytest.raises(db.WouldWait):
        hub.reserve("k3", A.sku, 1, location="W01", no_wait=True)
    assert warehouse(hub)["reserved"] == 0
