"""One contract for the hub's storage and service, run on each backend: SQLite (a temp file) and PostgreSQL.

The same class of tests runs against a fresh hub on each backend (eventsourcing
style). Ledger entries come from real store nodes (node.service.Node) set up
from the hub's opening and pushed with node.runner, through an in-process
client. After every test, every position satisfies the position equation.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub import rules
from hub.db import WouldWait
from hub.service import Hub
from node import runner
from node.rules import SaleLine
from node.service import Node
from sync.models import LedgerEntry, LedgerTail, PushBatch
from tests.hubfixtures import (  # noqa: F401 - pg_server is a fixture
    LocalClient, drop_pg_database, fresh_pg_database, pg_server, tiny_chain, tiny_item,
)

A, B, C, D = (tiny_item(1), tiny_item(2), tiny_item(3), tiny_item(4, safety_buffer=2))
# S001: A floor 10 (quota 7, hub 3), B floor 2 (quota 1, hub 1); S002: D floor 5, buffer 2 (quota 2, hub 3,
# promisable 1); W01: C 20, A 5.
CHAIN = tiny_chain([A, B, C, D], [
    ("S001", A.sku, "floor", 10), ("S001", B.sku, "floor", 2),
    ("S002", D.sku, "floor", 5), ("S002", A.sku, "floor", 4),
    ("W01", C.sku, "back", 20), ("W01", A.sku, "back", 5),
], stores=2)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.sqlite'}"
        return
    pg = request.getfixturevalue("pg_server")
    url = fresh_pg_database(pg, "contract")
    yield url
    drop_pg_database(pg, url)


def all_positions(hub: Hub) -> list[rules.Position]:
    from hub.db import positions
    from hub.service import _position

    with hub.engine.connect() as conn:
        return [_position(r) for r in conn.execute(positions.select())]


@pytest.fixture
def hub(backend_url: str) -> Iterator[Hub]:
    h = Hub.open(backend_url, clock=Clock())
    h.load_chain(CHAIN)
    yield h
    # The position equation holds for every position after every test; no figure below zero.
    for p in all_positions(h):
        assert p.balanced, p
        assert min(p.quota, p.held, p.in_flight, p.hub_share, p.reserved, p.shortfall) >= 0, p
    h.close()


class Stores:
    """Store nodes set up from the hub's opening; `push` sends what the hub lacks."""

    def __init__(self, hub: Hub, tmp_path: Path) -> None:
        self.hub = hub
        self.tmp = tmp_path
        self.nodes: dict[str, Node] = {}
        self.ops = itertools.count(1)

    def node(self, store_id: str) -> Node:
        if store_id not in self.nodes:
            n = Node(self.tmp / f"{store_id}.sqlite", terminal="T1", clerk="c1")
            runner.initialise_from_hub(n, LocalClient(self.hub, store_id), store_id, hub_url="local", token="-")
            self.nodes[store_id] = n
        return self.nodes[store_id]

    def client(self, store_id: str) -> LocalClient:
        return LocalClient(self.hub, store_id)

    def push(self, store_id: str) -> int:
        return runner.push(self.node(store_id), self.client(store_id))

    def pull(self, store_id: str) -> dict:
        return runner.pull(self.node(store_id), self.client(store_id))

    def entries(self, store_id: str, after: int = 0, limit: int = 1000) -> list[LedgerEntry]:
        return [LedgerEntry(**r) for r in self.node(store_id).ledger(after=after, limit=limit)]

    def sell(self, store_id: str, sku: str, qty: int) -> dict:
        return self.node(store_id).sell(f"op-{next(self.ops)}", [SaleLine(sku, qty, 500)])

    def close(self) -> None:
        for n in self.nodes.values():
            n.close()


@pytest.fixture
def stores(hub: Hub, tmp_path: Path) -> Iterator[Stores]:
    s = Stores(hub, tmp_path)
    yield s
    s.close()


def pos(hub: Hub, location: str, sku: str) -> dict:
    for row in hub.stock(sku)["locations"]:
        if row["location"] == location:
            return row
    raise AssertionError(f"no position {location}/{sku}")


def batch(store_id: str, entries: list[LedgerEntry]) -> PushBatch:
    return PushBatch(store_id=store_id, entries=entries)


class TestHubContract:
    # -- setting up ----------------------------------------------------------------

    def test_load_chain(self, hub: Hub) -> None:
        opening = hub.opening("S001")
        assert sorted(opening.stock) == [(A.sku, "floor", 10, 7), (B.sku, "floor", 2, 1)]
        assert {loc.id for loc in opening.locations} == {"S001", "S002", "W01"}
        assert {it.sku for it in opening.catalog} == {A.sku, B.sku, C.sku, D.sku}
        assert pos(hub, "W01", C.sku) | {} == {**pos(hub, "W01", C.sku), "on_hand": 20, "hub_share": 20,
                                              "promisable": 20}
        assert [s["store_id"] for s in hub.sync_state()] == ["S001", "S002"]
        with pytest.raises(rules.BadRequest):
            hub.load_chain(CHAIN)  # a hub holds one chain
        with pytest.raises(rules.Unknown):
            hub.opening("W01")  # the warehouse is not a store

    # -- ingest --------------------------------------------------------------------------

    def test_ingest_applies_a_batch(self, hub: Hub, stores: Stores) -> None:
        es = stores.entries("S001")
        assert len(es) == 2
        res = hub.ingest("S001", batch("S001", es))
        assert (res.accepted, res.duplicates, res.next_seq) == (2, 0, 3)
        a = pos(hub, "S001", A.sku)
        assert (a["on_hand"], a["quota"], a["hub_share"], a["promisable"]) == (10, 7, 3, 3)
        assert [e["seq"] for e in hub.store_ledger("S001")] == [1, 2]
        assert hub.store_ledger("S001")[0] == es[0].model_dump(mode="json")
        assert next(s for s in hub.sync_state() if s["store_id"] == "S001")["last_seq"] == 2

    def test_a_push_does_not_wait_for_a_pull_in_progress(self, hub: Hub, stores: Stores) -> None:
        # A pull (or an ops view) reads several tables in one transaction; on SQLite that
        # must be a snapshot, not the write lock, or every push waits for every pull.
        es = stores.entries("S001")
        done = threading.Event()
        with hub.consistent_reads.connect() as reading:
            reading.exec_driver_sql("SELECT count(*) FROM positions").all()
            pusher = threading.Thread(target=lambda: (hub.ingest("S001", batch("S001", es)), done.set()))
            pusher.start()
            assert done.wait(10), "the push waited for a read-only transaction to end"
            assert reading.exec_driver_sql("SELECT count(*) FROM store_entries").scalar() == 0  # its snapshot
        pusher.join()
        assert [e["seq"] for e in hub.store_ledger("S001")] == [e.seq for e in es]

    def test_same_batch_twice_changes_nothing(self, hub: Hub, stores: Stores) -> None:
        stores.sell("S001", A.sku, 2)
        es = stores.entries("S001")
        first = hub.ingest("S001", batch("S001", es))
        snap = (hub.stock(A.sku), hub.stock(B.sku), hub.feed(), hub.store_ledger("S001"))
        again = hub.ingest("S001", batch("S001", es))
        assert (first.accepted, first.duplicates) == (len(es), 0)
        assert (again.accepted, again.duplicates, again.next_seq) == (0, len(es), first.next_seq)
        assert (hub.stock(A.sku), hub.stock(B.sku), hub.feed(), hub.store_ledger("S001")) == snap

    def test_reordered_batch(self, hub: Hub, stores: Stores, tmp_path: Path) -> None:
        stores.sell("S001", A.sku, 1)
        stores.sell("S001", B.sku, 1)
        es = stores.entries("S001")
        res = hub.ingest("S001", batch("S001", list(reversed(es))))
        assert (res.accepted, res.duplicates, res.next_seq) == (len(es), 0, len(es) + 1)
        assert [e["seq"] for e in hub.store_ledger("S001")] == list(range(1, len(es) + 1))
        a = pos(hub, "S001", A.sku)
        assert (a["on_hand"], a["quota"], a["hub_share"]) == (9, 6, 3)

    def test_partial_overlap(self, hub: Hub, stores: Stores) -> None:
        stores.sell("S001", A.sku, 1)
        stores.sell("S001", A.sku, 1)
        es = stores.entries("S001")  # 2 opening + 2 sales
        assert hub.ingest("S001", batch("S001", es[:3])).accepted == 3
        res = hub.ingest("S001", batch("S001", es[1:]))
        assert (res.accepted, res.duplicates, res.next_seq) == (1, 2, 5)
        assert pos(hub, "S001", A.sku)["on_hand"] == 8

    def test_gap_is_refused_and_nothing_written(self, hub: Hub, stores: Stores) -> None:
        stores.sell("S001", A.sku, 1)
        stores.sell("S001", A.sku, 1)
        es = stores.entries("S001")
        with pytest.raises(rules.Gap) as gap:
            hub.ingest("S001", batch("S001", es[1:]))  # the hub has nothing yet: it expects 1
        assert gap.value.extra["expected_seq"] == 1
        assert hub.store_ledger("S001") == [] and hub.stock(A.sku)["locations"] == [
            p for p in hub.stock(A.sku)["locations"] if p["location"] != "S001"]
        hub.ingest("S001", batch("S001", es[:2]))
        before = (hub.stock(A.sku), hub.feed(), hub.sync_state()[0]["last_seq"])
        with pytest.raises(rules.Gap) as gap:
            hub.ingest("S001", batch("S001", [es[3]]))
        assert gap.value.extra["expected_seq"] == 3
        assert (hub.stock(A.sku), hub.feed(), hub.sync_state()[0]["last_seq"]) == before
        assert len(hub.store_ledger("S001")) == 2
        # runner.push follows the hub's expected sequence and catches up
        stores.node("S001").set_meta(pushed_seq="3")
        assert stores.push("S001") == 2
        assert pos(hub, "S001", A.sku)["on_hand"] == 8

    def test_divergence_blocks_grants_until_cleared(self, hub: Hub, stores: Stores) -> None:
        stores.sell("S001", A.sku, 1)
        stores.push("S001")
        es = stores.entries("S001")
        stores.sell("S001", A.sku, 1)
        new = stores.entries("S001", after=len(es))
        forged = es[-1].model_copy(update={"qty": 2, "clerk": "someone-else"})
        before = (hub.stock(A.sku), hub.feed(), len(hub.store_ledger("S001")))
        with pytest.raises(rules.Divergence):
            hub.ingest("S001", batch("S001", [forged, *new]))
        assert (hub.stock(A.sku), hub.feed(), len(hub.store_ledger("S001"))) == before  # nothing of it written
        incs = [i for i in hub.incidents() if i["kind"] == "divergence"]
        assert len(incs) == 1 and incs[0]["store_id"] == "S001" and incs[0]["seq"] == forged.seq
        state = next(s for s in hub.sync_state() if s["store_id"] == "S001")
        assert state["blocked"] and state["open_incidents"] == 1
        with pytest.raises(rules.Blocked):
            hub.grant("S001", A.sku, 1)
        cleared = hub.clear_incident(incs[0]["id"])
        assert cleared["blocked"] is False
        assert not next(s for s in hub.sync_state() if s["store_id"] == "S001")["blocked"]
        assert hub.grant("S001", A.sku, 1)["qty"] == 1
        assert hub.incidents() == [] and len(hub.incidents(include_cleared=True)) == 1
        with pytest.raises(rules.Unknown):
            hub.clear_incident(9999)

    # -- settling over-quota ------------------------------------------------------------

    def test_over_quota_sale_settled_from_hub_share(self, hub: Hub, stores: Stores) -> None:
        stores.push("S001")
        sale = stores.sell("S001", A.sku, 8)  # quota 7: one unit over
        assert sale["over_quota"] == 1
        stores.push("S001")
        a = pos(hub, "S001", A.sku)
        assert (a["on_hand"], a["quota"], a["hub_share"], a["shortfall"]) == (2, 0, 2, 0)
        assert hub.at_risk() == []

    def test_over_quota_beyond_hub_share_puts_reservation_at_risk(self, hub: Hub, stores: Stores) -> None:
        stores.push("S001")
        older = hub.reserve("k-old", A.sku, 1, location="S001")
        hub.clock.advance(seconds=1)  # type: ignore[attr-defined]  # "newest first" needs distinct times
        newer = hub.reserve("k-new", A.sku, 2, location="S001")
        assert pos(hub, "S001", A.sku)["hub_share"] == 0
        stores.sell("S001", A.sku, 8)  # one over quota, no hub share left: the newest reservation is at risk
        stores.push("S001")
        a = pos(hub, "S001", A.sku)
        assert (a["on_hand"], a["quota"], a["hub_share"], a["reserved"], a["shortfall"]) == (2, 0, 0, 3, 1)
        risky = {r["reservation_id"] for r in hub.at_risk()}
        assert risky == {newer["reservation_id"]}
        # cancelling the at-risk reservation pays the shortfall first
        hub.cancel(newer["reservation_id"], key="c1")
        a = pos(hub, "S001", A.sku)
        assert (a["reserved"], a["shortfall"], a["hub_share"]) == (1, 0, 1)
        assert hub.at_risk() == [] and older["status"] == "held"

    # -- quota moves --------------------------------------------------------------------

    def test_grant_in_flight_then_applied(self, hub: Hub, stores: Stores) -> None:
        stores.push("S001")
        g = hub.grant("S001", A.sku, 2, key="g1")
        a = pos(hub, "S001", A.sku)
        assert (a["hub_share"], a["in_flight"], a["quota"]) == (1, 2, 7)  # the same transaction
        assert hub.grant("S001", A.sku, 2, key="g1") == g  # a repeat returns the first answer
        assert pos(hub, "S001", A.sku)["in_flight"] == 2
        assert next(s for s in hub.sync_state() if s["store_id"] == "S001")["grants_in_flight"] == 1
        assert [x.grant_id for x in hub.pull("S001").grants] == [g["grant_id"]]
        with pytest.raises(rules.NotEnough):
            hub.grant("S001", A.sku, 2)
        assert stores.pull("S001")["grants"] == 1
        assert stores.node("S001").balance(A.sku).quota == 9
        assert pos(hub, "S001", A.sku)["in_flight"] == 2  # until the store's entry arrives
        stores.push("S001")
        a = pos(hub, "S001", A.sku)
        assert (a["hub_share"], a["in_flight"], a["quota"], a["on_hand"]) == (1, 0, 9, 10)
        assert hub.pull("S001").grants == []
        assert stores.pull("S001")["grants"] == 0  # applied once
        assert [i for i in hub.incidents() if i["kind"] == "mismatch"] == []

    def test_release_request_then_release_entry(self, hub: Hub, stores: Stores) -> None:
        stores.push("S001")
        rr = hub.request_release("S001", A.sku, 3, key="r1")
        assert hub.request_release("S001", A.sku, 3, key="r1") == rr
        assert pos(hub, "S001", A.sku)["hub_share"] == 3  # only asked: nothing moves yet
        assert [x.request_id for x in hub.pull("S001").release_requests] == [rr["request_id"]]
        assert stores.pull("S001")["releases"] == 1
        stores.push("S001")
        a = pos(hub, "S001", A.sku)
        assert (a["quota"], a["hub_share"]) == (4, 6)
        assert hub.pull("S001").release_requests == []
        with pytest.raises(rules.BadRequest):
            hub.request_release("S001", A.sku, 0)

    def test_a_release_request_listed_on_every_page_of_a_pull_is_answered_and_counted_once(
            self, hub: Hub, stores: Stores, monkeypatch: pytest.MonkeyPatch) -> None:
        stores.push("S001")
        hub.request_release("S001", A.sku, 3)
        whole = hub.pull
        monkeypatch.setattr(hub, "pull", lambda store_id, cursor=0, limit=2000: whole(store_id, cursor, 1))
        assert hub.pull("S001").more  # pages of one feed row, each listing the open request
        assert stores.pull("S001")["releases"] == 1
        assert stores.node("S001").balance(A.sku).quota == 4

    # -- web shop ------------------------------------------------------------------------

    def test_reserve_commit_cancel_expire_return_units(self, hub: Hub) -> None:
        r1 = hub.reserve("k1", C.sku, 3)  # no location: the most promisable (the warehouse)
        assert (r1["location"], r1["status"]) == ("W01", "held")
        assert (pos(hub, "W01", C.sku)["hub_share"], pos(hub, "W01", C.sku)["reserved"]) == (17, 3)
        assert hub.commit(r1["reservation_id"], key="c1")["status"] == "ordered"
        assert hub.commit(r1["reservation_id"], key="c2")["status"] == "ordered"
        assert pos(hub, "W01", C.sku)["reserved"] == 3
        r2 = hub.reserve("k2", C.sku, 4, ttl_s=60)
        assert hub.cancel(r2["reservation_id"], key="x2")["status"] == "cancelled"
        assert (pos(hub, "W01", C.sku)["hub_share"], pos(hub, "W01", C.sku)["reserved"]) == (17, 3)
        with pytest.raises(rules.BadRequest):
            hub.commit(r2["reservation_id"], key="c3")  # cancelled cannot become an order
        r3 = hub.reserve("k3", C.sku, 5, ttl_s=60)
        assert hub.expire_due() == 0
        hub.clock.advance(seconds=61)  # type: ignore[attr-defined]
        with pytest.raises(rules.BadRequest):
            hub.commit(r3["reservation_id"], key="c4")  # past its time
        assert hub.expire_due() == 1
        assert (pos(hub, "W01", C.sku)["hub_share"], pos(hub, "W01", C.sku)["reserved"]) == (17, 3)
        assert hub.cancel(r1["reservation_id"], key="x1")["status"] == "cancelled"
        assert (pos(hub, "W01", C.sku)["hub_share"], pos(hub, "W01", C.sku)["reserved"]) == (20, 0)
        with pytest.raises(rules.Unknown):
            hub.cancel("W-nope", key="x9")

    def test_reserve_more_than_promisable_is_refused(self, hub: Hub, stores: Stores) -> None:
        before = hub.stock(C.sku)
        with pytest.raises(rules.NotEnough):
            hub.reserve("too-many", C.sku, 21)
        with pytest.raises(rules.NotEnough):
            hub.reserve("too-many-w", C.sku, 21, location="W01")
        assert hub.stock(C.sku) == before
        # the safety buffer is never promised: D at S002 has hub share 3, buffer 2
        stores.push("S002")
        d = pos(hub, "S002", D.sku)
        assert (d["hub_share"], d["safety_buffer"], d["promisable"]) == (3, 2, 1)
        with pytest.raises(rules.NotEnough):
            hub.reserve("buffer", D.sku, 2, location="S002")
        assert hub.reserve("buffer-ok", D.sku, 1, location="S002")["qty"] == 1
        assert hub.availability(D.sku)["total"] == 0
        # a refusal wrote nothing, not even its key: the same key may succeed later
        assert hub.reserve("too-many", C.sku, 20)["qty"] == 20
        with pytest.raises(rules.Unknown):
            hub.reserve("unknown", "SKU-NOPE", 1)
        with pytest.raises(rules.BadRequest):
            hub.reserve("zero", C.sku, 0)

    def test_idempotency_keys_return_the_first_answer(self, hub: Hub) -> None:
        r = hub.reserve("same", C.sku, 2)
        assert hub.reserve("same", C.sku, 2) == r
        with pytest.raises(rules.KeyReused, match="different request"):
            hub.reserve("same", C.sku, 5)  # the same key for another request is refused, not answered wrongly
        assert pos(hub, "W01", C.sku)["reserved"] == 2
        c = hub.cancel(r["reservation_id"], key="cx")
        assert hub.cancel(r["reservation_id"], key="cx") == c
        with pytest.raises(rules.BadRequest):
            hub.cancel(r["reservation_id"], key="cy")  # a new key: it is cancelled already
        assert pos(hub, "W01", C.sku)["reserved"] == 0 and pos(hub, "W01", C.sku)["hub_share"] == 20

    # -- the changefeed -----------------------------------------------------------------

    def test_changefeed_is_ordered_and_resumable(self, hub: Hub, stores: Stores) -> None:
        stores.push("S001")
        stores.push("S002")
        r = hub.reserve("feed-1", C.sku, 20)  # sold out at the warehouse
        hub.cancel(r["reservation_id"], key="feed-c")  # back in stock
        stores.sell("S001", A.sku, 1)
        stores.push("S001")
        everything = hub.feed(limit=5000)["events"]
        ids = [e["id"] for e in everything]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        kinds = [(e["location"], e["sku"], e["kind"]) for e in everything]
        assert ("W01", C.sku, "sold_out") in kinds and ("W01", C.sku, "back_in_stock") in kinds
        assert kinds.index(("W01", C.sku, "sold_out")) < kinds.index(("W01", C.sku, "back_in_stock"))
        # page through with a cursor: the same events, none twice, none lost
        got, cursor = [], 0
        while True:
            page = hub.feed(after=cursor, limit=3)
            if not page["events"]:
                assert page["cursor"] == cursor
                break
            got += page["events"]
            cursor = page["cursor"]
        assert got == everything
        # resuming from the last cursor later sees only what is new
        hub.reserve("feed-2", C.sku, 1)
        new = hub.feed(after=cursor)["events"]
        assert [(e["location"], e["sku"], e["available"]) for e in new] == [("W01", C.sku, 19)]

    # -- a replaced store machine, and transfers between stores -------------------------

    def test_a_replaced_store_machine_gets_its_ledger_back_and_carries_on(self, hub: Hub, stores: Stores,
                                                                         tmp_path: Path) -> None:
        old = stores.node("S001")
        sale = stores.sell("S001", A.sku, 2)
        old.hold("hold-1", A.sku, 1)
        stores.push("S001")
        fresh = Node(tmp_path / "replacement.sqlite", terminal="T1", clerk="c1")
        result = runner.initialise_from_hub(fresh, LocalClient(hub, "S001"), "S001", hub_url="local", token="-")
        assert result["restored_entries"] == old.last_seq()
        assert fresh.ledger(limit=10_000) == old.ledger(limit=10_000)  # every field, every entry
        for sku in (A.sku, B.sku):
            assert fresh.balance(sku) == old.balance(sku)
        assert [h["hold_id"] for h in fresh.open_holds()] == ["hold-1"]
        # it carries on: the next receipt follows the old one, and the hub takes its entries
        nxt = fresh.sell("after-restore", [SaleLine(A.sku, 1, 500)])
        assert int(nxt["receipt"].rsplit("-", 1)[1]) == int(sale["receipt"].rsplit("-", 1)[1]) + 1
        assert runner.push(fresh, LocalClient(hub, "S001")) == 1
        assert hub.incidents() == []

    def test_ledger_tail_and_pull_say_what_the_hub_holds_of_a_store(self, hub: Hub, stores: Stores) -> None:
        assert hub.pull("S001").next_seq == 1
        assert hub.ledger_tail("S001", 0) == LedgerTail(entries=[], next_seq=1, more=False)
        stores.sell("S001", A.sku, 1)
        stores.sell("S001", A.sku, 1)
        stores.push("S001")
        es = stores.entries("S001")  # 2 opening + 2 sales
        assert hub.pull("S001", 0).next_seq == 5
        tail = hub.ledger_tail("S001", 1, limit=2)
        assert (tail.entries, tail.next_seq, tail.more) == (es[1:3], 5, True)
        tail = hub.ledger_tail("S001", 3, limit=2)
        assert (tail.entries, tail.more) == (es[3:], False)
        assert hub.ledger_tail("S001", 4).entries == [] and hub.ledger_tail("S002", 0).next_seq == 1
        with pytest.raises(rules.Unknown):
            hub.ledger_tail("W01", 0)

    def test_a_transfer_between_stores_shows_as_incoming_until_received(self, hub: Hub, stores: Stores) -> None:
        stores.node("S001").transfer_out("t-out", A.sku, 2, to_location="S002", transfer_id="TR-1", bin_="floor")
        stores.push("S001")
        stores.pull("S002")
        seen = stores.node("S002").lookup(A.sku)["incoming"]
        assert seen == [{"transfer_id": "TR-1", "from_location": "S001", "qty": 2}]
        stores.push("S002")  # its opening
        before = pos(hub, "S002", A.sku)["on_hand"]
        stores.node("S002").transfer_in("t-in", "TR-1", A.sku, 2, from_location="S001")
        stores.push("S002")
        assert pos(hub, "S002", A.sku)["on_hand"] == before + 2
        assert stores.node("S002").lookup(A.sku)["incoming"] == []
        assert hub.pull("S002", 0).transfers == []  # the hub closed it when the receipt arrived


# -- SQLite's one writer ---------------------------------------------------------------------


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_a_write_that_must_not_wait_says_so_and_writes_nothing(hub: Hub, stores: Stores, backend_url: str) -> None:
    # The HTTP edge runs pushes and reservations in place on SQLite only if nothing waits.
    stores.sell("S001", A.sku, 1)
    es = stores.entries("S001")
    other = sqlite3.connect(backend_url.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        with pytest.raises(WouldWait):
            hub.ingest("S001", batch("S001", es), no_wait=True)
        with pytest.raises(WouldWait):
            hub.reserve("k-1", C.sku, 1, location="W01", no_wait=True)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert hub.store_ledger("S001") == [] and pos(hub, "W01", C.sku)["reserved"] == 0
    assert hub.ingest("S001", batch("S001", es), no_wait=True).accepted == len(es)  # the lock is free now
    assert hub.reserve("k-1", C.sku, 1, location="W01", no_wait=True)["status"] == "held"
