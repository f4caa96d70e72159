"""The real hub (`backroom hub serve`, uvicorn, SQLite) over HTTP: credentials, bad input, retries, web shop, ops.

One hub process serves the whole module; each test works on its own SKUs or
stores, or checks what it needs relative to what it found.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.service import Hub
from node import runner
from node.rules import SaleLine
from node.service import Node
from sync.client import HubClient, Offline, Refused
from sync.models import LedgerEntry, PushBatch
from tests.hubfixtures import HubProcess, backroom, tiny_chain, tiny_item

A, B, C = tiny_item(1), tiny_item(2), tiny_item(3)
CHAIN = tiny_chain([A, B, C], [
    ("S001", A.sku, "floor", 10), ("S002", A.sku, "floor", 6), ("S003", A.sku, "floor", 4),
    ("W01", B.sku, "back", 50), ("W01", C.sku, "back", 30),
], stores=3)


class Env:
    def __init__(self, url: str, db: str, tokens: dict[str, str], tmp: Path) -> None:
        self.url, self.db, self.tokens, self.tmp = url, db, tokens, tmp

    def http(self, who: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def ops(self, method: str, path: str, **kw: Any) -> Any:
        with self.http("ops") as c:
            r = c.request(method, path, **kw)
        assert r.status_code < 300, r.text
        return r.json()

    def ledger(self, store_id: str) -> list[dict]:
        return self.ops("GET", f"/ops/stores/{store_id}/ledger")

    def node(self, store_id: str, name: str | None = None) -> Node:
        n = Node(self.tmp / f"{name or store_id}-{uuid.uuid4().hex[:6]}.sqlite", terminal="T1", clerk="c1")
        with HubClient(self.url, self.tokens[store_id]) as client:
            runner.initialise_from_hub(n, client, store_id, hub_url=self.url, token=self.tokens[store_id])
        return n


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("hubapi")
    db = f"sqlite:///{tmp / 'hub.sqlite'}"
    hub = Hub.open(db)
    hub.load_chain(CHAIN)
    tokens = {s: hub.issue_token("store", s) for s in ("S001", "S002", "S003")}
    tokens["ops"] = hub.issue_token("ops")
    tokens["web"] = hub.issue_token("web")
    hub.close()
    # the CLI issues and revokes too
    out = backroom("hub", "--db", db, "token", "issue", "--role", "store", "--store", "S002")
    assert out.returncode == 0, out.stderr
    tokens["revoked"] = out.stdout.strip()
    with HubProcess(db, log_dir=tmp) as proc:
        e = Env(proc.url, db, tokens, tmp)
        e.proc = proc  # type: ignore[attr-defined]
        yield e


def entry(store_id: str, seq: int, **over: Any) -> dict:
    """A schema-valid ledger entry as JSON (a `receive` of 1 unit of A)."""
    e = {"seq": seq, "store_id": store_id, "op_id": f"op-{seq}", "kind": "receive", "sku": A.sku, "qty": 1,
         "floor_delta": 1, "back_delta": 0, "quota_delta": 1, "held_delta": 0, "over_quota": 0, "ref": None,
         "amount": 0, "on_hand_after": seq, "quota_after": seq, "held_after": 0, "terminal": "T1",
         "clerk": "c1", "at": "2025-03-10T09:00:00.000000+00:00", "detail": {}}
    e.update(over)
    return e


# -- credentials -------------------------------------------------------------------------


def test_health_and_openapi(env: Env) -> None:
    assert httpx.get(env.url + "/health").json() == {"ok": True}
    spec = httpx.get(env.url + "/openapi.json").json()
    assert "/stores/{store_id}/ledger" in spec["paths"] and "/web/reservations" in spec["paths"]


def test_store_token_cannot_push_for_another_store(env: Env) -> None:
    body = {"store_id": "S002", "entries": [entry("S002", 1)]}
    with env.http("S001") as c:
        r = c.post("/stores/S002/ledger", json=body)  # another store's path
        assert r.status_code == 403 and r.json()["detail"]["code"] == "wrong_store"
        r = c.post("/stores/S001/ledger", json=body)  # its own path, another store's batch
        assert r.status_code == 403 and r.json()["detail"]["code"] == "wrong_store"
        r = c.post("/stores/S001/ledger", json={"store_id": "S001", "entries": [entry("S002", 1)]})
        assert r.status_code == 403
        assert c.get("/stores/S002/pull").status_code == 403
        assert c.get("/stores/S002/opening").status_code == 403
        assert c.get("/ops/stores").status_code == 403  # a store is not ops
    with env.http("web") as c:
        assert c.post("/stores/S002/ledger", json=body).status_code == 403
    assert env.ledger("S002") == []


def test_no_token_bad_token_revoked_token_401(env: Env) -> None:
    body = {"store_id": "S002", "entries": [entry("S002", 1)]}
    with env.http(None) as c:
        r = c.post("/stores/S002/ledger", json=body)
        assert r.status_code == 401 and "Bearer" in r.json()["detail"]["message"]
        r = c.post("/stores/S002/ledger", json=body, headers={"Authorization": "Bearer br_store_nope"})
        assert r.status_code == 401
        assert c.get("/ops/stores", headers={"Authorization": "Basic eDp5"}).status_code == 401
    with env.http("revoked") as c:
        assert c.get("/stores/S002/pull").status_code == 200  # works until revoked
    out = backroom("hub", "--db", env.db, "token", "revoke", env.tokens["revoked"])
    assert out.returncode == 0, out.stderr
    with env.http("revoked") as c:
        r = c.post("/stores/S002/ledger", json=body)
        assert r.status_code == 401 and "revoked" in r.json()["detail"]["message"]
    assert env.ledger("S002") == []


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(("why", "body", "field"), [
    ("quantity as a string", {"store_id": "S003", "entries": [entry("S003", 1, qty="12")]}, "entries.0.qty"),
    ("seq as text", {"store_id": "S003", "entries": [{**entry("S003", 1), "seq": "one"}]}, "entries.0.seq"),
    ("float delta", {"store_id": "S003", "entries": [entry("S003", 1, floor_delta=1.5)]}, "entries.0.floor_delta"),
    ("bool as a count", {"store_id": "S003", "entries": [entry("S003", 1, over_quota=True)]},
     "entries.0.over_quota"),
    ("missing field", {"store_id": "S003", "entries": [{k: v for k, v in entry("S003", 1).items() if k != "sku"}]},
     "entries.0.sku"),
    ("extra field", {"store_id": "S003", "entries": [entry("S003", 1, price=3)]}, "entries.0.price"),
    ("extra top-level field", {"store_id": "S003", "entries": [entry("S003", 1)], "hack": 1}, "hack"),
    ("unknown kind", {"store_id": "S003", "entries": [entry("S003", 1, kind="teleport")]}, "entries.0.kind"),
    ("negative qty", {"store_id": "S003", "entries": [entry("S003", 1, qty=-1)]}, "entries.0.qty"),
    ("no entries", {"store_id": "S003", "entries": []}, "entries"),
    ("no store id", {"entries": [entry("S003", 1)]}, "store_id"),
    ("wrong version", {"version": 2, "store_id": "S003", "entries": [entry("S003", 1)]}, "version"),
])
def test_malformed_push_is_422_naming_the_field(env: Env, why: str, body: dict, field: str) -> None:
    with env.http("S003") as c:
        r = c.post("/stores/S003/ledger", json=body)
    assert r.status_code == 422, (why, r.text)
    detail = r.json()["detail"]
    assert detail["code"] == "invalid" and f"{field}:" in detail["message"], (why, detail)
    assert env.ledger("S003") == []


def test_not_json_is_422(env: Env) -> None:
    with env.http("S003") as c:
        r = c.post("/stores/S003/ledger", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert env.ledger("S003") == []


def test_malformed_web_and_ops_requests_are_422(env: Env) -> None:
    with env.http("web") as c:
        r = c.post("/web/reservations", json={"sku": B.sku, "qty": "1"}, headers={"Idempotency-Key": "m1"})
        assert r.status_code == 422 and "qty:" in r.json()["detail"]["message"]
        r = c.post("/web/reservations", json={"sku": B.sku, "qty": 1})  # no Idempotency-Key
        assert r.status_code == 422 and "idempotency-key" in r.json()["detail"]["message"].lower()
        r = c.post("/web/reservations", json={"sku": B.sku, "qty": 1, "colour": "red"},
                   headers={"Idempotency-Key": "m2"})
        assert r.status_code == 422 and "colour" in r.json()["detail"]["message"]
    with env.http("ops") as c:
        r = c.post("/ops/grants", json={"store_id": "S001", "sku": A.sku, "qty": "3"})
        assert r.status_code == 422 and "qty:" in r.json()["detail"]["message"]
        r = c.post("/ops/grants", json={"store_id": "S001", "sku": A.sku})
        assert r.status_code == 422 and "qty:" in r.json()["detail"]["message"]


def test_oversized_payload_is_413(env: Env) -> None:
    big = json.dumps({"store_id": "S003", "entries": [entry("S003", 1, detail={"pad": "x" * 3_000_000})]})
    with env.http("S003") as c:
        r = c.post("/stores/S003/ledger", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["detail"]["code"] == "too_large"
    assert env.ledger("S003") == []


def test_oversized_chunked_payload_is_413(env: Env) -> None:
    """No Content-Length (chunked): the limit must hold while the body is read."""
    big = json.dumps({"store_id": "S003", "entries": [entry("S003", 1, detail={"pad": "x" * 3_000_000})]}).encode()

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(big), 65536):
            yield big[i:i + 65536]

    with env.http("S003") as c:
        r = c.post("/stores/S003/ledger", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text[:300]
    assert env.ledger("S003") == []


def test_more_than_1000_entries_is_422(env: Env) -> None:
    body = {"store_id": "S003", "entries": [entry("S003", i) for i in range(1, 1002)]}
    with env.http("S003") as c:
        r = c.post("/stores/S003/ledger", json=body)
    assert r.status_code == 422 and "entries:" in r.json()["detail"]["message"]
    assert env.ledger("S003") == []


# -- a push whose answer was lost, sent again ----------------------------------------------


def test_push_answer_lost_then_resent_is_applied_once(env: Env) -> None:
    node = env.node("S002")
    node.sell("sale-1", [SaleLine(A.sku, 2, 500)])
    rows = node.ledger(after=0, limit=1000)
    batch = PushBatch(store_id="S002", entries=[LedgerEntry(**r) for r in rows])
    body = batch.model_dump_json().encode()
    host, port = "127.0.0.1", int(env.url.rsplit(":", 1)[1])
    # Send the whole request, then hang up without reading the answer (the client "timed out").
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(b"POST /stores/S002/ledger HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
                  + f"Authorization: Bearer {env.tokens['S002']}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                  + body)
        s.shutdown(socket.SHUT_WR)
    deadline = time.monotonic() + 10
    while len(env.ledger("S002")) < len(rows) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [e["seq"] for e in env.ledger("S002")] == [r["seq"] for r in rows]  # the hub committed anyway
    stock = env.ops("GET", f"/ops/stock/{A.sku}")
    with HubClient(env.url, env.tokens["S002"]) as client:
        res = client.push(batch)  # the node sends the same batch again
        assert (res.accepted, res.duplicates, res.next_seq) == (0, len(rows), len(rows) + 1)
        # and runner.push, which believes nothing was pushed, gets the same answer
        assert runner.push(node, client) == 0
    assert [e["seq"] for e in env.ledger("S002")] == [r["seq"] for r in rows]  # no duplicates
    assert env.ops("GET", f"/ops/stock/{A.sku}") == stock
    node.close()


class LoseFirstAnswer(httpx.HTTPTransport):
    """Delivers each request; throws away the first answer as a read timeout would."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        response = super().handle_request(request)
        if self.calls == 1:
            response.read()
            response.close()
            raise httpx.ReadTimeout("answer lost", request=request)
        return response


def test_hubclient_retries_a_push_whose_answer_was_lost(env: Env) -> None:
    node = env.node("S001")
    node.sell("s1", [SaleLine(A.sku, 1, 500)])
    node.sell("s2", [SaleLine(A.sku, 1, 500)])
    transport = LoseFirstAnswer()
    with HubClient(env.url, env.tokens["S001"], retries=2, backoff=0.01, transport=transport) as client:
        assert runner.push(node, client) == 0  # the retry's answer: all duplicates, the hub had them
    assert transport.calls == 2
    last = node.last_seq()
    assert [e["seq"] for e in env.ledger("S001")] == list(range(1, last + 1))
    assert int(node.meta()["pushed_seq"]) == last
    # a hub that is not there is Offline, not a refusal
    with HubClient("http://127.0.0.1:9", env.tokens["S001"], retries=1, backoff=0.01, timeout=0.5) as dead:
        with pytest.raises(Offline):
            dead.pull("S001", 0)
    with HubClient(env.url, "br_store_bad", retries=0) as bad, pytest.raises(Refused) as refused:
        bad.pull("S001", 0)
    assert refused.value.status == 401
    node.close()


def test_gap_over_http_names_the_expected_seq(env: Env) -> None:
    with HubClient(env.url, env.tokens["S003"]) as client, pytest.raises(Refused) as r:
        client.push(PushBatch(store_id="S003", entries=[LedgerEntry(**entry("S003", 5))]))
    assert (r.value.status, r.value.code, r.value.expected_seq) == (409, "gap", 1)


# -- web shop ---------------------------------------------------------------------------------


def test_web_reserve_commit_cancel_with_idempotency_keys(env: Env) -> None:
    with env.http("web") as c:
        assert c.get(f"/web/availability/{B.sku}").json()["total"] == 50
        r1 = c.post("/web/reservations", json={"sku": B.sku, "qty": 3}, headers={"Idempotency-Key": "w-1"})
        assert r1.status_code == 201, r1.text
        again = c.post("/web/reservations", json={"sku": B.sku, "qty": 3}, headers={"Idempotency-Key": "w-1"})
        assert again.json() == r1.json()
        rid = r1.json()["reservation_id"]
        assert c.get(f"/web/availability/{B.sku}").json()["total"] == 47
        com = c.post(f"/web/reservations/{rid}/commit", headers={"Idempotency-Key": "wc-1"})
        assert com.status_code == 200 and com.json()["status"] == "ordered"
        assert c.post(f"/web/reservations/{rid}/commit", headers={"Idempotency-Key": "wc-1"}).json() == com.json()
        r2 = c.post("/web/reservations", json={"sku": B.sku, "qty": 2, "location": "W01", "ttl_s": 60},
                    headers={"Idempotency-Key": "w-2"}).json()
        can = c.post(f"/web/reservations/{r2['reservation_id']}/cancel", headers={"Idempotency-Key": "wx-2"})
        assert can.status_code == 200 and can.json()["status"] == "cancelled"
        assert c.post(f"/web/reservations/{r2['reservation_id']}/cancel",
                      headers={"Idempotency-Key": "wx-2"}).json() == can.json()
        r = c.post(f"/web/reservations/{r2['reservation_id']}/commit", headers={"Idempotency-Key": "wc-2"})
        assert r.status_code == 409 and r.json()["detail"]["code"] == "conflict"  # cancelled cannot become an order
        assert c.get(f"/web/availability/{B.sku}").json()["total"] == 47
        r = c.post("/web/reservations", json={"sku": B.sku, "qty": 48}, headers={"Idempotency-Key": "w-3"})
        assert r.status_code == 409 and r.json()["detail"]["code"] == "not_enough"
        r = c.post("/web/reservations", json={"sku": "SKU-NOPE", "qty": 1}, headers={"Idempotency-Key": "w-4"})
        assert r.status_code == 404
        assert c.post("/web/reservations/W-nope/cancel", headers={"Idempotency-Key": "wx-9"}).status_code == 404
    with env.http("S001") as c:
        r = c.post("/web/reservations", json={"sku": B.sku, "qty": 1}, headers={"Idempotency-Key": "w-5"})
        assert r.status_code == 403
    stock = env.ops("GET", f"/ops/stock/{B.sku}")
    assert (stock["total"]["reserved"], stock["total"]["hub_share"]) == (3, 47)


# -- ops views ----------------------------------------------------------------------------------


def test_ops_views_and_quota_moves(env: Env) -> None:
    node = env.node("S003")
    with HubClient(env.url, env.tokens["S003"]) as client:
        runner.push(node, client)
        feed0 = env.ops("GET", "/ops/changefeed")
        g = env.ops("POST", "/ops/grants", json={"store_id": "S003", "sku": A.sku, "qty": 1},
                    headers={"Idempotency-Key": "og-1"})
        assert env.ops("POST", "/ops/grants", json={"store_id": "S003", "sku": A.sku, "qty": 1},
                       headers={"Idempotency-Key": "og-1"}) == g
        s3 = next(p for p in env.ops("GET", f"/ops/stock/{A.sku}")["locations"] if p["location"] == "S003")
        assert (s3["in_flight"], s3["hub_share"], s3["quota"]) == (1, 1, 2)
        stores = {s["store_id"]: s for s in env.ops("GET", "/ops/stores")}
        assert stores["S003"]["grants_in_flight"] == 1 and stores["S003"]["last_seq"] == node.last_seq()
        with env.http("ops") as c:
            r = c.post("/ops/grants", json={"store_id": "S003", "sku": A.sku, "qty": 5})
            assert r.status_code == 409 and r.json()["detail"]["code"] == "not_enough"
        rr = env.ops("POST", "/ops/release-requests", json={"store_id": "S003", "sku": A.sku, "qty": 1})
        assert rr["qty"] == 1
        out = runner.sync_once(node, client)
        assert out["online"] and out["grants"] == 1 and out["releases"] == 1, out
    s3 = next(p for p in env.ops("GET", f"/ops/stock/{A.sku}")["locations"] if p["location"] == "S003")
    assert (s3["in_flight"], s3["hub_share"], s3["quota"], s3["on_hand"]) == (0, 2, 2, 4)
    assert env.ops("GET", "/ops/at-risk") == []
    assert [i for i in env.ops("GET", "/ops/incidents") if i["kind"] != "push_refused"] == []  # earlier tests refused some
    assert [e["kind"] for e in env.ledger("S003")][-2:] == ["quota_granted", "quota_released"]
    # the changefeed: ordered, resumable from a cursor
    after = env.ops("GET", "/ops/changefeed", params={"after": feed0["cursor"]})
    ids = [e["id"] for e in after["events"]]
    assert ids and ids == sorted(ids) and ids[0] > feed0["cursor"]
    assert env.ops("GET", "/ops/changefeed", params={"after": after["cursor"]})["events"] == []
    with env.http("ops") as c:
        assert c.get("/ops/stock/SKU-NOPE").status_code == 404
        assert c.post("/ops/incidents/424242/clear").status_code == 404
        assert c.get("/ops/changefeed", params={"after": -1}).status_code == 422
    node.close()


def test_divergence_over_http_is_shown_to_ops_and_cleared(env: Env, tmp_path: Path) -> None:
    node = env.node("S001", "div")  # S001 was opened and pushed by an earlier test, or is opened now
    with HubClient(env.url, env.tokens["S001"]) as client:
        runner.push(node, client)
        held = env.ledger("S001")
        forged = LedgerEntry(**{**held[0], "clerk": "restored-from-backup"})
        with pytest.raises(Refused) as r:
            client.push(PushBatch(store_id="S001", entries=[forged]))
    assert (r.value.status, r.value.code) == (409, "divergence")
    incs = [i for i in env.ops("GET", "/ops/incidents") if i["kind"] == "divergence"]
    assert incs and incs[-1]["store_id"] == "S001"
    assert next(s for s in env.ops("GET", "/ops/stores") if s["store_id"] == "S001")["blocked"]
    with env.http("ops") as c:
        r2 = c.post("/ops/grants", json={"store_id": "S001", "sku": A.sku, "qty": 1})
        assert r2.status_code == 409 and r2.json()["detail"]["code"] == "blocked"
    for i in incs:
        env.ops("POST", f"/ops/incidents/{i['id']}/clear")
    assert not next(s for s in env.ops("GET", "/ops/stores") if s["store_id"] == "S001")["blocked"]
    node.close()


# -- SQLite: another writer ----------------------------------------------------------------


def test_a_push_waits_for_another_writer_off_the_event_loop(env: Env) -> None:
    # On SQLite the hub runs a push in place when the write lock is free. When another
    # writer holds it (an ops command, a second hub process), the push must wait for it on
    # a database thread: it succeeds once the lock is free, and the hub answers meanwhile.
    node = env.node("S002", "locked")
    node.sell("while-locked", [SaleLine(A.sku, 1, 500)])
    other = sqlite3.connect(env.db.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    pushed: list[int] = []

    def push() -> None:
        with HubClient(env.url, env.tokens["S002"], timeout=30) as client:
            pushed.append(runner.push(node, client))

    pusher = threading.Thread(target=push)
    try:
        pusher.start()
        time.sleep(0.5)
        assert pusher.is_alive(), "the push did not wait for the writer holding the lock"
        with env.http("ops") as c:
            assert c.get("/health", timeout=2).status_code == 200
            assert c.get("/ops/stores", timeout=2).status_code == 200  # reads go on meanwhile
    finally:
        other.execute("ROLLBACK")
        other.close()
    pusher.join(30)
    assert pushed and pushed[0] >= 1
    assert env.ledger("S002")[-1]["op_id"] == node.ledger(after=node.last_seq() - 1)[0]["op_id"]
    node.close()


def test_a_store_reads_back_its_own_ledger_tail_and_the_pull_says_next_seq(env: Env) -> None:
    with HubClient(env.url, env.tokens["S003"]) as client:
        before = client.pull("S003", 0).next_seq
        tail = client.ledger_tail("S003", 0)
        assert tail.next_seq == before and [e.seq for e in tail.entries] == list(range(1, before))
        with pytest.raises(Refused) as r:
            client.ledger_tail("S001", 0)  # another store's ledger
        assert r.value.status == 403
    with env.http("ops") as c:
        assert c.get("/stores/S003/ledger", params={"after": 0, "limit": 1}).json()["next_seq"] == before
        assert c.get("/stores/S003/ledger", params={"limit": 1001}).status_code == 422
    with env.http("web") as c:
        assert c.get("/stores/S003/ledger").status_code == 403
