"""Numbers a store sends are bounded where the wire takes them; a refused push is shown to ops, once.

A quantity of 4 trillion (a barcode typed into a quantity field) used to
overflow the hub's integer columns (a 500 on PostgreSQL, silently kept on
SQLite). Now the wire refuses it (422, naming the field), and a push refused
for any reason but a gap leaves one open `push_refused` incident per store.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from hub import rules
from hub.service import Hub
from sync.models import MAX_SEQ, MAX_UNITS, LedgerEntry, PushBatch
from tests.hubfixtures import (  # noqa: F401 - fixtures
    HubProcess, hub_backend_url, ledger_entry, pg_server, tiny_chain, tiny_item,
)

A = tiny_item(1)
CHAIN = tiny_chain([A], [("S001", A.sku, "floor", 10)], stores=2)


def entry_json(n: int, **over: object) -> dict:
    return {**ledger_entry("S001", n, A.sku, quota_after=n).model_dump(mode="json"), **over}


@pytest.mark.parametrize("field, value", [
    ("qty", 4_000_000_000_000), ("floor_delta", -4_000_000_000_000), ("quota_delta", MAX_UNITS + 1),
    ("over_quota", 2**40), ("amount", 10**16), ("on_hand_after", 2**63), ("quota_after", -1),
    ("seq", MAX_SEQ + 1), ("seq", 0), ("ref", "R" * 129), ("at", "2025-03-10T09:00:00" + "0" * 30),
])
def test_the_wire_bounds_every_number_and_id(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as err:
        LedgerEntry.model_validate(entry_json(1, **{field: value}))
    assert err.value.errors()[0]["loc"][0] == field
    LedgerEntry.model_validate(entry_json(1, seq=MAX_SEQ, qty=MAX_UNITS, amount=-(10**15)))  # the bounds themselves


@pytest.fixture
def hub(hub_backend_url: str) -> Iterator[Hub]:
    h = Hub.open(hub_backend_url, clock=lambda: datetime(2025, 3, 10, 9, tzinfo=UTC))
    h.load_chain(CHAIN)
    yield h
    h.close()


def test_figures_that_add_up_past_32_bits_fit(hub: Hub) -> None:
    # Each entry is within bounds; what they add up to at the hub is not (the quota_after each states
    # is bounded too, so the hub notes the mismatch, and keeps going).
    es = [ledger_entry("S001", i, A.sku, qty=MAX_UNITS, floor_delta=MAX_UNITS, quota_delta=MAX_UNITS,
                       quota_after=MAX_UNITS) for i in (1, 2, 3)]
    assert hub.ingest("S001", PushBatch(store_id="S001", entries=es)).accepted == 3
    s1 = next(p for p in hub.stock(A.sku)["locations"] if p["location"] == "S001")
    assert (s1["on_hand"], s1["quota"]) == (3 * MAX_UNITS, 3 * MAX_UNITS)
    assert hub.feed(limit=5000)["events"][-1]["on_hand"] == 3 * MAX_UNITS


def test_a_refused_push_is_one_open_incident_per_store(hub: Hub) -> None:
    first = ledger_entry("S001", 1, A.sku, quota_after=1)
    for _ in range(3):
        with pytest.raises(rules.WrongStore):
            hub.ingest("S001", PushBatch(store_id="S002", entries=[first]))
    with pytest.raises(rules.Unknown):
        hub.ingest("S001", PushBatch(store_id="S001", entries=[ledger_entry("S001", 1, "SKU-NOPE")]))
    refused = [i for i in hub.incidents() if i["kind"] == "push_refused"]
    assert [i["store_id"] for i in refused] == ["S001"] and "SKU-NOPE" in refused[0]["message"]
    with pytest.raises(rules.Gap):
        hub.ingest("S001", PushBatch(store_id="S001", entries=[ledger_entry("S001", 5, A.sku)]))
    assert "SKU-NOPE" in next(i for i in hub.incidents() if i["kind"] == "push_refused")["message"]  # a gap is not
    hub.clear_incident(refused[0]["id"])
    with pytest.raises(rules.WrongStore):
        hub.ingest("S001", PushBatch(store_id="S002", entries=[first]))
    assert len([i for i in hub.incidents() if i["kind"] == "push_refused"]) == 1  # a new one after clearing


def test_a_divergence_sent_again_and_again_is_one_open_incident(hub: Hub) -> None:
    hub.ingest("S001", PushBatch(store_id="S001", entries=[ledger_entry("S001", 1, A.sku, quota_after=1)]))
    other = ledger_entry("S001", 1, A.sku, quota_after=1, clerk="someone-else")
    for _ in range(3):
        with pytest.raises(rules.Divergence):
            hub.ingest("S001", PushBatch(store_id="S001", entries=[other]))
    assert [i["kind"] for i in hub.incidents()] == ["divergence"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    tmp: Path = tmp_path_factory.mktemp("bounds")
    db = f"sqlite:///{tmp / 'hub.sqlite'}"
    h = Hub.open(db)
    h.load_chain(CHAIN)
    tokens = {"S001": h.issue_token("store", "S001"), "S002": h.issue_token("store", "S002"),
              "ops": h.issue_token("ops")}
    h.close()
    with HubProcess(db, log_dir=tmp) as proc:
        yield proc.url, tokens


def test_a_barcode_typed_as_a_quantity_is_refused_over_http_and_shown_to_ops(served: tuple[str, dict]) -> None:
    url, tokens = served
    body = {"store_id": "S001", "entries": [entry_json(1, qty=4_000_000_000_000, floor_delta=4_000_000_000_000,
                                                        quota_delta=4_000_000_000_000)]}
    auth = {"Authorization": f"Bearer {tokens['S001']}"}
    for _ in range(2):
        r = httpx.post(f"{url}/stores/S001/ledger", json=body, headers=auth)
        assert r.status_code == 422 and "qty" in r.json()["detail"]["message"], r.text
    r = httpx.post(f"{url}/stores/S001/ledger", content=b"{not json", headers=auth)
    assert r.status_code == 422
    httpx.post(f"{url}/stores/S001/ledger", content=b"{not json", headers={"Authorization": "Bearer nobody"})
    httpx.post(f"{url}/stores/S001/ledger", content=b"{not json", headers={"Authorization": f"Bearer {tokens['ops']}"})
    incs = httpx.get(f"{url}/ops/incidents", headers={"Authorization": f"Bearer {tokens['ops']}"}).json()
    assert [(i["store_id"], i["kind"]) for i in incs] == [("S001", "push_refused")]  # strangers record nothing
    assert "malformed" in incs[0]["message"]
    assert httpx.get(f"{url}/stores/S001/pull", headers=auth).json()["next_seq"] == 1  # nothing of it written


def test_one_sequence_twice_in_a_batch(hub: Hub) -> None:
    e = ledger_entry("S001", 1, A.sku, quota_after=1)
    res = hub.ingest("S001", PushBatch(store_id="S001", entries=[e, e]))  # a resend may repeat an entry
    assert (res.accepted, res.duplicates, res.next_seq) == (1, 1, 2)
    other = ledger_entry("S001", 2, A.sku, quota_after=2)
    with pytest.raises(rules.Conflict):
        hub.ingest("S001", PushBatch(store_id="S001", entries=[other, other.model_copy(update={"clerk": "c2"})]))
    assert hub.pull("S001").next_seq == 2
