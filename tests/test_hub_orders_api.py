"""Web orders after checkout over HTTP, on SQLite and on PostgreSQL: two real hub processes on one database.

Ship from the warehouse, pick up at a store (the store's real node pulls the order and hands it
over, its push fulfils it), cancel, re-source an order put at risk; each refusal a documented
status with a sentence. The races: many cancels of one order, a cancel against the push that hands
the order over, two re-sources of one order: exactly one changes the order, and the figures come
out the same whichever wins. Every position balances afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.service import Hub
from node import runner
from node.rules import SaleLine
from node.service import Node
from sync.client import HubClient
from tests.hubfixtures import (HubProcess, hub_backend_url, pg_server, start_hubs, tiny_chain,  # noqa: F401 - fixtures
                               tiny_item)

pytestmark = pytest.mark.slow

A, B = tiny_item(1), tiny_item(2)  # A: at the store and the warehouse; B: scarce at the store
CHAIN = tiny_chain([A, B], [("S001", A.sku, "floor", 20), ("W01", A.sku, "back", 5),
                            ("S001", B.sku, "floor", 3), ("W01", B.sku, "back", 2)], stores=2)


class World:
    def __init__(self, url: str, tmp: Path) -> None:
        self.url = url
        hub = Hub.open(url)
        hub.load_chain(CHAIN)
        self.tokens = {"S001": hub.issue_token("store", "S001"), "web": hub.issue_token("web"),
                       "ops": hub.issue_token("ops")}
        hub.close()
        self.procs = start_hubs([HubProcess(url, log_dir=tmp), HubProcess(url, log_dir=tmp)])
        self.urls = [p.url for p in self.procs]
        self.node = Node(tmp / "S001.sqlite", terminal="T1", clerk="ann")
        self.client = HubClient(self.urls[0], self.tokens["S001"])
        runner.initialise_from_hub(self.node, self.client, "S001", hub_url=self.urls[0], token=self.tokens["S001"])
        self.sync()
        self.keys = iter(range(10**6))

    def close(self) -> None:
        self.client.close()
        self.node.close()
        for p in self.procs:
            p.stop()

    def sync(self) -> dict:
        done = runner.sync_once(self.node, self.client)
        assert done["online"] and not done.get("stopped"), done
        return done

    def call(self, role: str, method: str, path: str, *, hub: int = 0, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[role]}", **kw.pop("headers", {})}
        return httpx.request(method, self.urls[hub] + path, headers=headers, timeout=30, **kw)

    def ok(self, role: str, method: str, path: str, **kw: Any) -> Any:
        r = self.call(role, method, path, **kw)
        assert r.status_code < 300, (path, r.status_code, r.text)
        return r.json()

    def order(self, sku: str, qty: int, location: str) -> str:
        """A cart at `location`, checked out: an order."""
        key = f"k-{next(self.keys)}"
        r = self.ok("web", "POST", "/web/reservations", json={"sku": sku, "qty": qty, "location": location},
                    headers={"Idempotency-Key": key})
        self.ok("web", "POST", f"/web/reservations/{r['reservation_id']}/commit", headers={"Idempotency-Key": key})
        return r["reservation_id"]

    def position(self, location: str, sku: str) -> dict:
        return next(p for p in self.ok("ops", "GET", f"/ops/stock/{sku}")["locations"] if p["location"] == location)

    def all_balanced(self) -> None:
        for sku in (A.sku, B.sku):
            for p in self.ok("ops", "GET", f"/ops/stock/{sku}")["locations"]:
                assert p["on_hand"] + p["shortfall"] == (p["quota"] + p["held"] + p["in_flight"] + p["hub_share"]
                                                         + p["reserved"]), p
                assert min(v for v in p.values() if isinstance(v, int)) >= 0, p


@pytest.fixture
def world(hub_backend_url: str, tmp_path: Path) -> Iterator[World]:  # noqa: F811
    w = World(hub_backend_url, tmp_path)
    try:
        yield w
    finally:
        w.close()


def refused(r: httpx.Response, status: int, words: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    assert words in r.json()["detail"]["message"], r.text


def together(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at once, each on its own thread, released together; their results in order."""
    gate, out = threading.Barrier(len(calls)), [None] * len(calls)

    def go(i: int) -> None:
        gate.wait()
        try:
            out[i] = calls[i]()
        except Exception as err:  # noqa: BLE001 - the caller looks at what each got
            out[i] = err
    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def test_shipped_from_the_warehouse_picked_up_at_a_store_cancelled(world: World) -> None:
    w = world
    # the warehouse ships: the units leave now
    wh = w.order(A.sku, 2, "W01")
    assert w.ok("web", "POST", f"/web/orders/{wh}/ship")["status"] == "done"
    assert w.ok("web", "POST", f"/web/orders/{wh}/ship", hub=1)["status"] == "done"  # again: nothing moves
    p = w.position("W01", A.sku)
    assert (p["on_hand"], p["reserved"], p["hub_share"]) == (3, 0, 3)
    refused(w.call("web", "POST", f"/web/orders/{wh}/cancel"), 409, "it cannot be cancelled")
    refused(w.call("web", "POST", f"/web/orders/{w.order(A.sku, 1, 'W01')}/pickup"), 409, "no counter")

    # a pick-up at the store: asked, pulled, handed over by the clerk, fulfilled by the push
    pu = w.order(A.sku, 2, "S001")
    got = w.ok("web", "POST", f"/web/orders/{pu}/pickup", headers={"Idempotency-Key": "pu-1"})
    assert (got["status"], got["how"], got["location"]) == ("to_hand_over", "pickup", "S001")
    assert w.ok("web", "GET", f"/web/orders/{pu}")["status"] == "to_hand_over"
    w.sync()
    assert [o["order_id"] for o in w.node.orders_to_hand_over()] == [pu]
    w.node.hand_over("h-1", pu)
    before = w.position("S001", A.sku)
    w.sync()
    got = w.ok("web", "GET", f"/web/orders/{pu}", hub=1)
    assert (got["status"], got["at_risk"]) == ("done", False)
    after = w.position("S001", A.sku)
    assert (after["on_hand"], after["reserved"], after["quota"]) == (before["on_hand"] - 2, before["reserved"] - 2,
                                                                    before["quota"])
    refused(w.call("web", "POST", f"/web/orders/{pu}/cancel"), 409, "handed over")

    # cancelled: the units back once, however often it is asked
    c = w.order(A.sku, 1, "S001")
    share = w.position("S001", A.sku)["hub_share"]
    for hub in (0, 1, 0):
        assert w.ok("web", "POST", f"/web/orders/{c}/cancel", hub=hub)["status"] == "cancelled"
    assert w.position("S001", A.sku)["hub_share"] == share + 1
    refused(w.call("web", "POST", f"/web/orders/{c}/ship"), 409, "is cancelled")
    refused(w.call("web", "GET", "/web/orders/W-nope"), 404, "no reservation W-nope")
    refused(w.call("S001", "POST", f"/web/orders/{c}/cancel"), 403, "needs a web or ops token")
    w.all_balanced()


def put_at_risk(w: World) -> str:
    """An order for B at the store, and the store sells every B it has: the order's unit went over quota."""
    o = w.order(B.sku, 1, "S001")
    assert w.position("S001", B.sku)["promisable"] == 0
    w.node.sell("sale-all-b", [SaleLine(B.sku, 3, B.price)])
    w.sync()
    got = w.ok("ops", "GET", "/ops/at-risk")
    assert [r["reservation_id"] for r in got] == [o]
    return o


def test_an_order_at_risk_is_resourced_once(world: World) -> None:
    w = world
    o = put_at_risk(w)
    refused(w.call("ops", "POST", f"/ops/orders/{o}/resource", json={"location": "S002"}), 409,
            "Only 0 of SKU000002 can be promised at S002")
    refused(w.call("ops", "POST", f"/ops/orders/{o}/resource", json={"location": "NOWHERE"}), 404, "no location")
    r = w.call("ops", "POST", f"/ops/orders/{o}/resource", content=b"{not json")
    assert r.status_code == 422
    # two ops consoles re-source it at once: one moves it, the other is told it is no longer at risk
    got = together(*(lambda hub=hub: w.call("ops", "POST", f"/ops/orders/{o}/resource", hub=hub, json={})
                     for hub in (0, 1)))
    assert sorted(r.status_code for r in got) == [200, 409], [r.text for r in got]
    moved = next(r for r in got if r.status_code == 200).json()
    assert (moved["location"], moved["status"], moved["at_risk"]) == ("W01", "ordered", False)
    assert "not at risk" in next(r for r in got if r.status_code == 409).json()["detail"]["message"]
    s, wh = w.position("S001", B.sku), w.position("W01", B.sku)
    assert (s["reserved"], s["shortfall"]) == (0, 0)
    assert (wh["reserved"], wh["hub_share"]) == (1, 1)
    assert w.ok("ops", "GET", "/ops/at-risk") == []
    # The hub keeps the re-sourcing: the nightly report counts it at the location the order left, once.
    hub = Hub.open(w.url)
    try:
        day = hub.clock().date().isoformat()  # S001 keeps UTC's day
        hub.make_report(day)
        web = {x.location: x for x in hub.report(day)[0].web}
        assert (web["S001"].resourced, web["S001"].reservations) == (1, 0)  # the order is W01's now
        assert (web["W01"].resourced, web["W01"].reservations) == (0, 1)
    finally:
        hub.close()
    assert w.ok("web", "POST", f"/web/orders/{o}/ship")["status"] == "done"
    # nothing left anywhere: a second order put at risk has nowhere to go
    o2 = w.order(B.sku, 1, "W01")
    w.ok("web", "POST", f"/web/orders/{o2}/ship")
    refused(w.call("ops", "POST", f"/ops/orders/{o2}/resource", json={}), 409, "is done")
    w.all_balanced()


def test_many_cancels_of_one_order_return_its_units_once(world: World) -> None:
    w = world
    o = w.order(A.sku, 3, "S001")
    share = w.position("S001", A.sku)["hub_share"]
    got = together(*(lambda i=i: w.call("web", "POST", f"/web/orders/{o}/cancel", hub=i % 2) for i in range(8)))
    assert [r.status_code for r in got] == [200] * 8, [r.text for r in got]
    assert {r.json()["status"] for r in got} == {"cancelled"}
    assert w.position("S001", A.sku)["hub_share"] == share + 3
    w.all_balanced()


def test_a_cancel_racing_the_hand_over_exactly_one_wins(world: World) -> None:
    w = world
    outcomes = set()
    # at once, and then each order forced, so that both outcomes are seen whatever the timing
    for i, how in enumerate(("race", "race", "race", "cancel first", "push first")):
        o = w.order(A.sku, 1, "S001")
        w.ok("web", "POST", f"/web/orders/{o}/pickup")
        w.sync()
        w.node.hand_over(f"race-{i}", o)  # handed over at the counter; the push is racing the cancel
        before = w.position("S001", A.sku)
        cancel_it = lambda o=o: w.call("web", "POST", f"/web/orders/{o}/cancel", hub=1)  # noqa: E731
        push_it = lambda: runner.push(w.node, w.client)  # noqa: E731
        if how == "race":
            cancel, pushed = together(cancel_it, push_it)
        elif how == "cancel first":
            cancel, pushed = cancel_it(), push_it()
        else:
            pushed, cancel = push_it(), cancel_it()
        assert pushed == 1, pushed
        status = w.ok("web", "GET", f"/web/orders/{o}")["status"]
        incidents = [x for x in w.ok("ops", "GET", "/ops/incidents") if o in x["message"]]
        if cancel.status_code == 200:  # the cancel won: the hand-over is a fact the hub settles and shows
            assert status == "cancelled" and len(incidents) == 1 and "which is cancelled" in incidents[0]["message"]
        else:  # the hand-over won: the order is done and cannot be cancelled
            refused(cancel, 409, "handed over")
            assert status == "done" and not incidents
        outcomes.add(status)
        after = w.position("S001", A.sku)
        # either way: one unit left the store, the order's claim is gone, the hub's share is as it was
        assert (after["on_hand"], after["reserved"], after["hub_share"]) == (
            before["on_hand"] - 1, before["reserved"] - 1, before["hub_share"]), (before, after)
        for x in incidents:
            w.ok("ops", "POST", f"/ops/incidents/{x['id']}/clear")
    assert outcomes == {"cancelled", "done"}
    w.all_balanced()
