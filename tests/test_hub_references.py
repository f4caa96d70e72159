"""A store's entry may name only that store's grants, release requests and transfers; grants and
transfers are matched by what they say, not by id alone; only the hub can say it ordered a transfer.

Entries are made by hand, as a forger or a buggy node could send them. Every
entry is applied as a fact; what does not match is an incident; no other
store's record changes; every position stays balanced. SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from hub import rules
from hub.service import Hub
from sync.models import PushBatch
from tests.hubfixtures import hub_backend_url, ledger_entry, pg_server, tiny_chain, tiny_item  # noqa: F401

A = tiny_item(1)
# Openings: S001 A 10 (quota 7, hub 3); S002 A 6 (quota 4, hub 2); S003 A 6 (quota 4, hub 2).
CHAIN = tiny_chain([A], [("S001", A.sku, "floor", 10), ("S002", A.sku, "floor", 6), ("S003", A.sku, "floor", 6)],
                   stores=3)


@pytest.fixture
def hub(hub_backend_url: str) -> Iterator[Hub]:
    h = Hub.open(hub_backend_url, clock=lambda: datetime(2025, 3, 10, 9, tzinfo=UTC))
    h.load_chain(CHAIN)
    for store, (qty, quota) in {"S001": (10, 7), "S002": (6, 4), "S003": (6, 4)}.items():
        push(h, store, "receive", qty, floor_delta=qty, quota_delta=quota, ref="opening")
    yield h
    from hub.db import positions
    from hub.service import _position

    with h.engine.connect() as conn:
        for p in (_position(r) for r in conn.execute(positions.select())):
            assert p.balanced, p
            assert min(p.quota, p.held, p.in_flight, p.hub_share, p.reserved, p.shortfall) >= 0, p
    h.close()


def pos(hub: Hub, store: str) -> dict:
    return next(p for p in hub.stock(A.sku)["locations"] if p["location"] == store)


def push(hub: Hub, store: str, kind: str, qty: int, **fields: Any) -> None:
    """One entry of `store`'s, next in its sequence, with the quota the hub will have after it."""
    seq = hub.pull(store).next_seq
    quota = next((p["quota"] for p in hub.stock(A.sku)["locations"] if p["location"] == store), 0)
    e = ledger_entry(store, seq, A.sku, kind=kind, qty=qty, quota_after=quota + fields.get("quota_delta", 0),
                     **fields)
    assert hub.ingest(store, PushBatch(store_id=store, entries=[e])).accepted == 1


def apply_grant(hub: Hub, store: str, grant_id: str, qty: int) -> None:
    push(hub, store, "quota_granted", qty, floor_delta=0, quota_delta=qty, ref=grant_id)


def incidents(hub: Hub) -> list[tuple[str, str]]:
    return [(i["store_id"], i["kind"]) for i in hub.incidents()]


# -- 3: every reference must be the store's own ---------------------------------------------


def test_a_store_applying_another_stores_grant_changes_nothing_of_the_other_store(hub: Hub) -> None:
    g = hub.grant("S001", A.sku, 2)
    apply_grant(hub, "S002", g["grant_id"], 2)
    assert incidents(hub) == [("S002", "foreign_reference")]
    assert [x.grant_id for x in hub.pull("S001").grants] == [g["grant_id"]]  # still S001's to apply
    assert (pos(hub, "S001")["in_flight"], pos(hub, "S001")["hub_share"]) == (2, 1)
    s2 = pos(hub, "S002")  # the entry is a fact: settled like an over-quota, from S002's hub share
    assert (s2["quota"], s2["hub_share"], s2["in_flight"], s2["shortfall"]) == (6, 0, 0, 0)
    apply_grant(hub, "S001", g["grant_id"], 2)
    assert hub.pull("S001").grants == [] and pos(hub, "S001")["in_flight"] == 0
    assert incidents(hub) == [("S002", "foreign_reference")]


def test_a_grant_the_hub_never_made_is_an_incident_and_settled_like_an_over_quota(hub: Hub) -> None:
    apply_grant(hub, "S002", "G-S002-999", 3)
    assert incidents(hub)[0] == ("S002", "unknown_reference")
    s2 = pos(hub, "S002")
    assert (s2["quota"], s2["hub_share"], s2["shortfall"]) == (7, 0, 1)


def test_a_store_answering_another_stores_release_request_leaves_it_open(hub: Hub) -> None:
    rr = hub.request_release("S001", A.sku, 2)
    push(hub, "S002", "quota_released", 2, floor_delta=0, quota_delta=-2, detail={"request_id": rr["request_id"]})
    assert incidents(hub) == [("S002", "foreign_reference")]
    assert [r.request_id for r in hub.pull("S001").release_requests] == [rr["request_id"]]
    assert (pos(hub, "S002")["quota"], pos(hub, "S002")["hub_share"]) == (2, 4)  # the release itself is a fact
    push(hub, "S001", "quota_released", 2, floor_delta=0, quota_delta=-2, detail={"request_id": rr["request_id"]})
    assert hub.pull("S001").release_requests == []


def test_a_store_receiving_a_transfer_addressed_to_another_store_leaves_it_in_transit(hub: Hub) -> None:
    push(hub, "S001", "transfer_out", 2, floor_delta=-2, quota_delta=-2, ref="TR-9",
         detail={"to": "S003", "hub_ordered": False})
    push(hub, "S002", "transfer_in", 2, floor_delta=2, quota_delta=2, ref="TR-9", detail={"from": "S001"})
    assert incidents(hub) == [("S002", "foreign_reference")]
    assert [t.transfer_id for t in hub.pull("S003").transfers] == ["TR-9"]
    push(hub, "S003", "transfer_in", 2, floor_delta=2, quota_delta=2, ref="TR-9", detail={"from": "S001"})
    assert hub.pull("S003").transfers == [] and len(incidents(hub)) == 1


# -- 4: a grant is applied once, with its own quantity ---------------------------------------


def test_a_grant_applied_twice_takes_nothing_more_from_in_flight(hub: Hub) -> None:
    g1 = hub.grant("S001", A.sku, 2)
    hub.grant("S001", A.sku, 1)  # another grant's unit stays in flight
    apply_grant(hub, "S001", g1["grant_id"], 2)
    assert (pos(hub, "S001")["in_flight"], incidents(hub)) == (1, [])
    apply_grant(hub, "S001", g1["grant_id"], 2)
    s1 = pos(hub, "S001")
    assert (s1["in_flight"], s1["quota"], s1["hub_share"], s1["shortfall"]) == (1, 11, 0, 2)
    assert incidents(hub)[0] == ("S001", "grant_repeated")


def test_a_grant_applied_for_more_settles_the_excess_like_an_over_quota(hub: Hub) -> None:
    g = hub.grant("S001", A.sku, 2)
    apply_grant(hub, "S001", g["grant_id"], 3)
    s1 = pos(hub, "S001")
    assert (s1["in_flight"], s1["quota"], s1["hub_share"], s1["shortfall"]) == (0, 10, 0, 0)
    assert hub.pull("S001").grants == [] and incidents(hub) == [("S001", "grant_mismatch")]


def test_a_grant_applied_for_less_returns_the_rest_to_the_hub_share(hub: Hub) -> None:
    g = hub.grant("S001", A.sku, 3)
    apply_grant(hub, "S001", g["grant_id"], 1)
    s1 = pos(hub, "S001")
    assert (s1["in_flight"], s1["quota"], s1["hub_share"]) == (0, 8, 2)  # nothing stays in flight for ever
    assert hub.pull("S001").grants == [] and incidents(hub) == [("S001", "grant_mismatch")]
    assert next(s for s in hub.sync_state() if s["store_id"] == "S001")["grants_in_flight"] == 0


# -- 5: transfers matched by id, SKU, quantity, source and destination, in either order -------


def test_receiving_more_than_was_sent_is_an_incident(hub: Hub) -> None:
    push(hub, "S001", "transfer_out", 1, floor_delta=-1, quota_delta=-1, ref="TR-1",
         detail={"to": "S002", "hub_ordered": False})
    push(hub, "S002", "transfer_in", 5, floor_delta=5, quota_delta=5, ref="TR-1", detail={"from": "S001"})
    assert incidents(hub) == [("S002", "transfer_mismatch")]
    assert "quantity 5 against 1" in hub.incidents()[0]["message"]
    assert hub.pull("S002").transfers == []


def test_a_transfer_in_that_arrives_before_its_transfer_out_closes_the_pair(hub: Hub) -> None:
    push(hub, "S002", "transfer_in", 2, floor_delta=2, quota_delta=2, ref="TR-2", detail={"from": "S001"})
    assert hub.pull("S002").transfers == []  # already received: nothing to wait for
    push(hub, "S001", "transfer_out", 2, floor_delta=-2, quota_delta=-2, ref="TR-2",
         detail={"to": "S002", "hub_ordered": False})
    assert hub.pull("S002").transfers == [] and incidents(hub) == []
    with hub.consistent_reads.connect() as conn:
        assert conn.exec_driver_sql("SELECT status FROM transfers WHERE transfer_id = 'TR-2'").scalar() == "received"


def test_a_transfer_out_after_a_different_arrival_is_an_incident(hub: Hub) -> None:
    push(hub, "S002", "transfer_in", 3, floor_delta=3, quota_delta=3, ref="TR-3", detail={"from": "S001"})
    push(hub, "S001", "transfer_out", 2, floor_delta=-2, quota_delta=-2, ref="TR-3",
         detail={"to": "S002", "hub_ordered": False})
    assert incidents(hub) == [("S001", "transfer_mismatch")]
    push(hub, "S002", "transfer_in", 3, floor_delta=3, quota_delta=3, ref="TR-3", detail={"from": "S001"})
    assert incidents(hub)[1] == ("S002", "transfer_repeated")


# -- 6: only the hub can say a transfer was hub-ordered -----------------------------------------


def test_a_claimed_hub_order_does_not_take_web_reservations_backing(hub: Hub) -> None:
    r = hub.reserve("cart", A.sku, 3, location="S001")  # S001's whole hub share
    push(hub, "S001", "transfer_out", 2, floor_delta=-2, quota_delta=0, ref="TR-4",
         detail={"to": "S002", "hub_ordered": True})
    s1 = pos(hub, "S001")
    assert (s1["reserved"], s1["hub_share"], s1["shortfall"], s1["quota"]) == (3, 0, 2, 7)
    assert [x["reservation_id"] for x in hub.at_risk()] == [r["reservation_id"]]
    assert incidents(hub)[0] == ("S001", "unverified_hub_order")


def test_the_rules_never_take_a_claimed_hub_order_from_reserved() -> None:
    p = rules.Position("S001", A.sku, on_hand=10, quota=7, hub_share=1, reserved=2)
    e = rules.EntryFacts(5, "transfer_out", A.sku, 2, -2, 0, 0, 0, "TR-5", hub_ordered=True, counterpart="S002")
    s = rules.apply_entry(p, e)
    assert (p.reserved, p.hub_share, p.shortfall) == (2, 0, 1) and p.balanced
    assert [k for k, _ in s.problems] == ["unverified_hub_order", "shortfall"]  # no reservation to put at risk


# -- 10: grant ids are unique for ever ------------------------------------------------------------


def test_a_hub_restored_from_a_backup_never_reissues_a_grant_id(hub: Hub) -> None:
    first = hub.grant("S001", A.sku, 1)
    assert first["grant_no"] == 1
    with hub.engine.begin() as conn:  # the restore: the grant and its number are gone
        conn.exec_driver_sql("DELETE FROM grants")
        conn.exec_driver_sql("UPDATE locations SET next_grant_no = 1 WHERE id = 'S001'")
        conn.exec_driver_sql("UPDATE positions SET in_flight = 0, hub_share = hub_share + 1 WHERE location = 'S001'")
    again = hub.grant("S001", A.sku, 1)
    assert again["grant_no"] == 1 and again["grant_id"] != first["grant_id"]
    assert hub.grant("S001", A.sku, 1)["grant_no"] == 2  # still gapless per store
