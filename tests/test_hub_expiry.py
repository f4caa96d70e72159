"""Expiry and commit decide on a reservation's current state in one transaction: an order never expires.

Two hub processes on one database, their clocks 2 s apart: the one ahead lists a
cart hold as due, the one behind commits it to an order before the first gets to
it. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from hub import rules
from hub.rules import Position, Reservation
from hub.service import Hub
from tests.hubfixtures import hub_backend_url, pg_server, tiny_chain, tiny_item  # noqa: F401 - fixtures

A = tiny_item(1)
CHAIN = tiny_chain([A], [("W01", A.sku, "back", 10)], stores=1)
T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def two_hubs(hub_backend_url: str) -> Iterator[tuple[Hub, Hub]]:
    behind = Hub.open(hub_backend_url, clock=Clock(T0))
    behind.load_chain(CHAIN)
    ahead = Hub.open(hub_backend_url, clock=Clock(T0 + timedelta(seconds=2)))
    yield ahead, behind
    ahead.close()
    behind.close()


def warehouse(hub: Hub) -> dict:
    return next(p for p in hub.stock(A.sku)["locations"] if p["location"] == "W01")


class _ThenRun:
    """Wraps an engine (the one expire_due lists due holds on): when a connection it gave out closes,
    `then` runs (another process's move) before any hold is expired."""

    def __init__(self, engine: object, then: object) -> None:
        self.engine, self.then = engine, then

    def __getattr__(self, name: str) -> object:
        return getattr(self.engine, name)

    @contextlib.contextmanager
    def connect(self) -> Iterator[object]:
        with self.engine.connect() as conn:  # type: ignore[attr-defined]
            yield conn
        self.then()  # type: ignore[operator]


def test_a_hold_committed_after_it_was_listed_as_due_stays_an_order(two_hubs: tuple[Hub, Hub]) -> None:
    ahead, behind = two_hubs
    r = behind.reserve("cart-1", A.sku, 3, location="W01", ttl_s=60)
    behind.clock.now = T0 + timedelta(seconds=59)  # type: ignore[attr-defined]
    ahead.clock.now = T0 + timedelta(seconds=61)  # type: ignore[attr-defined]  # due by its clock
    committed: list[dict] = []
    ahead.reads = _ThenRun(ahead.reads,  # type: ignore[assignment]  # the listing reads on it
                           lambda: committed.append(behind.commit(r["reservation_id"], key="pay")))
    assert ahead.expire_due() == 0
    assert committed and committed[0]["status"] == "ordered"
    assert behind.commit(r["reservation_id"], key="pay")["status"] == "ordered"
    w = warehouse(behind)
    assert (w["reserved"], w["hub_share"]) == (3, 7)  # the order's units are still promised, once


def test_a_hold_cancelled_after_it_was_listed_is_not_expired_too(two_hubs: tuple[Hub, Hub]) -> None:
    ahead, behind = two_hubs
    r = behind.reserve("cart-2", A.sku, 2, location="W01", ttl_s=1)
    ahead.reads = _ThenRun(ahead.reads,  # type: ignore[assignment]  # the listing reads on it
                           lambda: behind.cancel(r["reservation_id"], key="drop"))
    assert ahead.expire_due() == 0
    w = warehouse(behind)
    assert (w["reserved"], w["hub_share"]) == (0, 10)


def test_due_holds_expire_once(two_hubs: tuple[Hub, Hub]) -> None:
    ahead, behind = two_hubs
    behind.reserve("cart-3", A.sku, 4, location="W01", ttl_s=1)
    assert ahead.expire_due() == 1 and ahead.expire_due() == 0 and behind.expire_due() == 0
    assert (warehouse(behind)["reserved"], warehouse(behind)["hub_share"]) == (0, 10)


def test_the_rule_expires_only_a_hold_past_its_time() -> None:
    now = T0 + timedelta(seconds=61)
    for status, expires_at, expired in (("held", T0 + timedelta(seconds=60), True),
                                        ("held", T0 + timedelta(seconds=62), False),
                                        ("ordered", T0 + timedelta(seconds=60), False),
                                        ("cancelled", T0, False), ("expired", T0, False),
                                        ("held", None, False)):
        pos = Position("W01", A.sku, on_hand=10, hub_share=7, reserved=3)
        r = Reservation("R1", "W01", A.sku, 3, status, expires_at)
        assert rules.expire(pos, r, now) is expired, (status, expires_at)
        assert (pos.reserved, pos.hub_share, r.status) == ((0, 10, "expired") if expired else (3, 7, status))
    with pytest.raises(rules.BadRequest):
        rules.unreserve(Position("W01", A.sku, on_hand=3, reserved=3),
                        Reservation("R2", "W01", A.sku, 3, "ordered", T0), "expired")
