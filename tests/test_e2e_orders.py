"""End to end with real processes on 127.0.0.1: a web order picked up at a store.

The hub (`backroom hub serve`) and the store's node as processes of their own (`backroom node
init --hub`, `sync`, `orders`, `hand-over`): the web shop reserves at S001, checks out and asks
for a pick-up over HTTP; the node's next sync pulls the order; the clerk hands it over at the
command line; the sync after that pushes the hand-over and the hub marks the order done. Then
the store's ledger and the hub's copy agree entry for entry, and the hub's books balance: the
unit left the hub's share at S001, never the store's quota.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from hub.service import Hub
from node.service import Node
from tests.hubfixtures import HubProcess, backroom, tiny_chain, tiny_item

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

A = tiny_item(1)
CHAIN = tiny_chain([A], [("S001", A.sku, "floor", 6), ("S001", A.sku, "back", 4), ("W01", A.sku, "back", 5)])
FIGURES = ("on_hand", "quota", "held", "in_flight", "hub_share", "reserved", "shortfall")


def node(db: Path, *args: str) -> dict | list:
    r = backroom("node", *args, "--db", str(db), "--json", env={"BACKROOM_CLERK": "ann", "BACKROOM_TERMINAL": "T2"})
    assert r.returncode == 0, f"backroom node {' '.join(args)} exited {r.returncode}:\n{r.stderr}{r.stdout}"
    return json.loads(r.stdout)


def test_a_web_order_picked_up_at_a_store_is_handed_over_and_fulfilled(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    hub = Hub.open(url)
    hub.load_chain(CHAIN)
    store_token, web_token, ops_token = hub.issue_token("store", "S001"), hub.issue_token("web"), hub.issue_token("ops")
    hub.close()
    db = tmp_path / "s001.sqlite"
    with HubProcess(url, log_dir=tmp_path) as proc:
        web = httpx.Client(base_url=proc.url, headers={"Authorization": f"Bearer {web_token}"}, timeout=10)
        ops = httpx.Client(base_url=proc.url, headers={"Authorization": f"Bearer {ops_token}"}, timeout=10)
        node(db, "init", "--store", "S001", "--hub", proc.url, "--token", store_token)
        assert node(db, "sync")["pushed"] > 0  # the opening

        # the web shop: a cart at S001, checked out, to be picked up there
        r = web.post("/web/reservations", json={"sku": A.sku, "qty": 2, "location": "S001"},
                     headers={"Idempotency-Key": "cart-1"})
        assert r.status_code == 201, r.text
        oid = r.json()["reservation_id"]
        assert web.post(f"/web/reservations/{oid}/commit", headers={"Idempotency-Key": "cart-1"}).status_code == 200
        r = web.post(f"/web/orders/{oid}/pickup")
        assert r.status_code == 200 and r.json()["status"] == "to_hand_over", r.text
        before = next(p for p in ops.get(f"/ops/stock/{A.sku}").json()["locations"] if p["location"] == "S001")

        # the node pulls it; the clerk hands it over at the command line
        assert node(db, "orders") == []  # not before a sync
        node(db, "sync")
        [listed] = node(db, "orders")
        assert (listed["order_id"], listed["sku"], listed["qty"], listed["how"]) == (oid, A.sku, 2, "pickup")
        done = node(db, "hand-over", oid)
        assert [(e["kind"], e["qty"]) for e in done["entries"]] == [("order_handed_over", 2)]
        refused = backroom("node", "hand-over", oid, "--db", str(db))
        assert refused.returncode == 2 and "handed over here already" in refused.stderr
        assert web.get(f"/web/orders/{oid}").json()["status"] == "to_hand_over"  # the hub has not heard yet

        # the next sync pushes it: the order is done at the hub
        assert node(db, "sync")["pushed"] == 1
        got = web.get(f"/web/orders/{oid}").json()
        assert (got["status"], got["location"], got["how"], got["at_risk"]) == ("done", "S001", "pickup", False)
        assert node(db, "orders") == []

        # the books: the hub's copy is the store's ledger; the unit left the hub's share, not the quota
        with Node(db) as n:
            mine = n.ledger(after=0, limit=10_000)
            b = n.balance(A.sku)
        theirs = ops.get("/ops/stores/S001/ledger").json()
        assert theirs == mine
        after = {p["location"]: p for p in ops.get(f"/ops/stock/{A.sku}").json()["locations"]}
        for p in after.values():
            assert all(p[f] >= 0 for f in FIGURES), p
            assert p["on_hand"] + p["shortfall"] == p["quota"] + p["held"] + p["in_flight"] + p["hub_share"] + \
                p["reserved"], p
        s = after["S001"]
        assert (s["on_hand"], s["quota"], s["held"]) == (b.on_hand, b.quota, b.held)
        assert (s["on_hand"], s["quota"], s["reserved"], s["hub_share"]) == (
            before["on_hand"] - 2, before["quota"], before["reserved"] - 2, before["hub_share"])
        assert ops.get("/ops/incidents").json() == []
        web.close()
        ops.close()
