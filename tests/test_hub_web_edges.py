"""Web orders at their edges, over HTTP on a real hub: a blank location, a method changed after the store
was asked, re-sourcing with no body, what ops see of an order at risk, and API pages that load nothing
from the internet.

Found by a walk through the running hub: each of these was answered, and none the way a web shop,
a clerk or ops would expect.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub import rules
from hub.service import Hub
from sync.models import PushBatch
from tests.hubfixtures import HubProcess, ledger_entry, tiny_chain, tiny_item

A = tiny_item(1)
# S001: 10 on hand, quota 7, hub share 3; the warehouse: 5, all hub share.
CHAIN = tiny_chain([A], [("S001", A.sku, "floor", 10), ("W01", A.sku, "back", 5)], stores=2)


class Env:
    def __init__(self, url: str, hub: Hub, tokens: dict[str, str]) -> None:
        self.url, self.hub, self.tokens = url, hub, tokens
        self.keys = iter(range(10**6))

    def call(self, role: str, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[role]}", **kw.pop("headers", {})}
        return httpx.request(method, self.url + path, headers=headers, timeout=10, **kw)

    def ok(self, role: str, method: str, path: str, **kw: Any) -> Any:
        r = self.call(role, method, path, **kw)
        assert r.status_code < 300, (path, r.status_code, r.text)
        return r.json()

    def reserve(self, qty: int, location: str, *, commit: bool = True) -> str:
        key = f"edge-{next(self.keys)}"
        r = self.ok("web", "POST", "/web/reservations", json={"sku": A.sku, "qty": qty, "location": location},
                    headers={"Idempotency-Key": key})
        if commit:
            self.ok("web", "POST", f"/web/reservations/{r['reservation_id']}/commit", headers={"Idempotency-Key": key})
        return r["reservation_id"]

    def position(self, location: str) -> dict:
        return next(p for p in self.ok("ops", "GET", f"/ops/stock/{A.sku}")["locations"] if p["location"] == location)

    def push(self, store: str, kind: str, qty: int, **fields: Any) -> None:
        """One entry of `store`'s, next in its sequence."""
        e = ledger_entry(store, self.hub.pull(store).next_seq, A.sku, kind=kind, qty=qty, **fields)
        assert self.hub.ingest(store, PushBatch(store_id=store, entries=[e])).accepted == 1

    def sell_over_quota(self, store: str, qty: int) -> None:
        """`store` sells `qty` of A, all its quota and the rest over it (a customer with the units in hand)."""
        before = self.position(store)
        self.push(store, "sale", qty, floor_delta=-qty, quota_delta=-before["quota"], over_quota=qty - before["quota"],
                  amount=qty * A.price, on_hand_after=before["on_hand"] - qty, quota_after=0)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    db = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    hub = Hub.open(db)
    try:
        hub.load_chain(CHAIN)
        tokens = {"web": hub.issue_token("web"), "ops": hub.issue_token("ops")}
        with HubProcess(db, log_dir=tmp_path, env={"BACKROOM_HUB_BALANCE_EVERY_S": "0"}) as proc:
            e = Env(proc.url, hub, tokens)
            e.push("S001", "receive", 10, floor_delta=10, quota_delta=7, ref="opening", on_hand_after=10,
                   quota_after=7)
            yield e
    finally:
        hub.close()


def refused(r: httpx.Response, status: int, *words: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    for w in words:
        assert w in r.json()["detail"]["message"], r.text


def test_a_blank_location_is_refused_not_taken_as_anywhere(env: Env) -> None:
    share = env.position("W01")["hub_share"]
    for i, blank in enumerate(("", "   ")):
        r = env.call("web", "POST", "/web/reservations", json={"sku": A.sku, "qty": 1, "location": blank},
                     headers={"Idempotency-Key": f"blank-{i}"})
        refused(r, 422, "location")
        # nothing written: the key is still free, and its first real use is a new reservation
        again = env.ok("web", "POST", "/web/reservations", json={"sku": A.sku, "qty": 1, "location": "S001"},
                       headers={"Idempotency-Key": f"blank-{i}"})
        assert again["location"] == "S001"
    assert env.position("W01")["hub_share"] == share
    # the service says so too, for a caller in the same process
    with pytest.raises(rules.BadRequest, match="location cannot be blank"):
        env.hub.reserve("blank-in-process", A.sku, 1, location=" ")
    with pytest.raises(rules.Unknown):
        env.hub.order(f"W-{hashlib.sha256(b'blank-in-process').hexdigest()[:20]}")


def test_an_order_asked_of_its_store_one_way_is_not_switched_to_the_other(env: Env) -> None:
    for first, other, said in (("ship", "pickup", "is to be shipped already"),
                               ("pickup", "ship", "is to be picked up already")):
        o = env.reserve(1, "S001")
        got = env.ok("web", "POST", f"/web/orders/{o}/{first}")
        assert (got["status"], got["how"]) == ("to_hand_over", first)
        assert env.ok("web", "POST", f"/web/orders/{o}/{first}") == got  # the same again: the same answer
        refused(env.call("web", "POST", f"/web/orders/{o}/{other}"), 409, said, "cancel it and order again")
        assert env.ok("web", "GET", f"/web/orders/{o}") == got  # the store's instruction stands
        assert env.ok("web", "POST", f"/web/orders/{o}/cancel")["status"] == "cancelled"


def test_an_order_re_sourced_with_no_body_goes_to_the_best_location(env: Env) -> None:
    spec = env.ok("ops", "GET", "/openapi.json")["paths"]["/ops/orders/{order_id}/resource"]["post"]
    assert spec["requestBody"]["required"] is False
    calm = env.reserve(1, "W01")
    refused(env.call("ops", "POST", f"/ops/orders/{calm}/resource"), 409, "is not at risk")  # read, not "EOF"
    refused(env.call("ops", "POST", "/ops/orders/W-nope/resource"), 404, "no reservation W-nope")
    order = env.reserve(2, "S001")
    env.reserve(1, "S001", commit=False)  # a cart hold: S001's hub share is all promised now
    env.sell_over_quota("S001", 10)  # three over quota, no share to take them from: both at risk
    risky = {r["reservation_id"]: r for r in env.ok("ops", "GET", "/ops/at-risk")}
    assert risky[order]["status"] == "ordered" and risky[order]["expires_at"] is None  # an order never expires
    hold = next(r for r in risky.values() if r["status"] == "held")
    assert hold["expires_at"] is not None  # a cart hold still does
    moved = env.ok("ops", "POST", f"/ops/orders/{order}/resource")
    assert (moved["location"], moved["status"], moved["at_risk"]) == ("W01", "ordered", False)


def test_the_api_pages_load_nothing_from_the_internet(env: Env) -> None:
    for page in ("/docs", "/redoc"):
        r = httpx.get(env.url + page)
        assert r.status_code == 200, r.text
        assets = re.findall(r"(?:src|href)=\"([^\"]+)\"", r.text)
        assert any(a.endswith(".js") for a in assets), r.text
        for asset in assets:
            assert asset.startswith("/"), f"{page} loads {asset} from outside the hub"
            assert httpx.get(env.url + asset).status_code == 200, asset
        assert "https://" not in r.text and "http://" not in r.text, r.text
    assert "/web/reservations" in httpx.get(env.url + "/openapi.json").json()["paths"]


def test_a_body_sent_where_none_is_read_is_refused_and_nothing_happens(env: Env) -> None:
    o = env.reserve(1, "S001", commit=False)
    for path, body in ((f"/web/reservations/{o}/commit", {"qty": 5}), (f"/web/reservations/{o}/cancel", "not json")):
        kw = {"json": body} if isinstance(body, dict) else {"content": body}
        refused(env.call("web", "POST", path, headers={"Idempotency-Key": f"body-{path}"}, **kw), 422,
                "takes no body")
    assert env.ok("web", "GET", f"/web/orders/{o}")["status"] == "held"  # neither committed nor cancelled
    # No token: 401 before anything, body or not.
    assert httpx.post(env.url + f"/web/reservations/{o}/commit", json={"qty": 5}, timeout=10).status_code == 401
    env.ok("web", "POST", f"/web/reservations/{o}/commit", headers={"Idempotency-Key": "body-ok"})
    refused(env.call("web", "POST", f"/web/orders/{o}/ship", json={"address": "x"}), 422, "takes no body")
    assert env.ok("web", "GET", f"/web/orders/{o}")["status"] == "ordered"
