"""End-of-day snapshots at the hub: the comparison as a plain function, and the hub's service on SQLite and
PostgreSQL with real node files (taken in once, compared with the ledger at the snapshot's sequence, kept
waiting until that ledger arrives, shown in the report, a late one re-issuing it)."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub import rules
from hub.report.snapshots import Derived, Entry, compare, explain
from hub.service import Hub
from node import runner
from node.rules import SaleLine
from node.service import Node
from node.snapshots import send_snapshots
from sync.client import Refused
from sync.models import DaySnapshot, Signature
from tests.hubfixtures import LocalClient, hub_backend_url, pg_server, tiny_chain, tiny_item  # noqa: F401

A, B, C = tiny_item(1, price=500), tiny_item(2, price=1000), tiny_item(3, price=250)
CHAIN = tiny_chain([A, B, C], [("S001", A.sku, "floor", 10), ("S001", B.sku, "back", 5), ("S002", A.sku, "floor", 4),
                               ("W01", A.sku, "back", 20)], stores=2)


# -- the comparison, a plain function ------------------------------------------------------------------------


def test_equal_figures_give_no_difference() -> None:
    rows = [("A", 3, 2, 4, 1), ("B", 0, 0, 0, 0), ("Z", 0, 0, 0, 0)]  # Z: stocked once, never in the ledger
    derived = [Derived("A", 5, 4, 1, 7), Derived("B", 0, 0, 0, 9)]
    assert compare(rows, derived) == []


def test_a_planted_difference_is_reported_with_its_explaining_entries() -> None:
    rows = [("A", 3, 1, 4, 1), ("B", 2, 0, 2, 0)]  # A: one unit fewer on hand than the ledger says
    derived = [Derived("A", 5, 4, 1, 12), Derived("B", 2, 2, 0, 3), Derived("C", 1, 0, 0, 8)]  # C: not in the snapshot
    found = compare(rows, derived)
    assert [(d.sku, d.fields, d.delta("on_hand")) for d in found] == [("A", ("on_hand",), -1), ("C", ("on_hand",), -1)]
    entries = [Entry("A", seq, "sale", 1, f"t{seq}", 20 - seq, 4, 1, "T1", "ann") for seq in (2, 5, 7, 9, 11, 12)]
    entries += [Entry("B", 6, "sale", 1, "t6", 2, 2, 0, "T1", "ann")]
    a, c = explain(found, entries, per_sku=5)
    assert [e.seq for e in a.entries] == [5, 7, 9, 11, 12] and c.entries == ()
    assert a.message(12).startswith("A: the snapshot says on hand 4 against 5 (-1) in the ledger up to seq 12")
    assert (a.floor, a.back, a.last_seq) == (3, 1, 12)


# -- the hub's service ---------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 10, 9, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def at(self, text: str) -> None:
        self.now = datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def world(hub_backend_url: str, tmp_path: Path):  # noqa: F811
    clock = Clock()
    hub = Hub.open(hub_backend_url, clock=clock)
    hub.load_chain(CHAIN, quota_share=0.5)
    nodes, clients = {}, {}
    for s in ("S001", "S002"):
        clients[s] = LocalClient(hub, s)
        nodes[s] = Node(tmp_path / f"{s}.sqlite", clock=clock, terminal="T1", clerk="ann")
        runner.initialise_from_hub(nodes[s], clients[s], s, hub_url="local", token="-")
        runner.push(nodes[s], clients[s])
    yield hub, clock, nodes, clients
    for n in nodes.values():
        n.close()
    hub.close()


def rows_of(hub: Hub, table: str) -> list[tuple]:
    with hub.reads.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1, 2, 3").all()]


def parts_of(node: Node, day: str) -> list[DaySnapshot]:
    """The parts the node would send for `day` (as send_snapshots makes them)."""
    s = next(x for x in node.snapshots_to_send() if x["business_date"] == day)
    rows = node.snapshot_rows(day)
    return [DaySnapshot(store_id=node.store_id, business_date=day, last_seq=s["last_seq"], taken_at=s["taken_at"],
                        signed_by=Signature(terminal=s["terminal"], clerk=s["clerk"]), row_count=len(rows),
                        part=1, parts=1, rows=rows)]


def test_a_snapshot_agrees_and_a_resend_changes_nothing(world) -> None:
    hub, clock, nodes, clients = world
    s1 = nodes["S001"]
    clock.at("2025-03-10T10:00:00")
    s1.sell("sale", [SaleLine(A.sku, 3, 500)])
    s1.hold("hold", A.sku, 1)
    s1.move("move", B.sku, 2, from_bin="back", to_bin="floor")
    clock.at("2025-03-10T21:00:00")
    s1.close_day()
    part = parts_of(s1, "2025-03-10")[0]
    assert runner.sync_once(s1, clients["S001"])["snapshots"] == 1
    before = {t: rows_of(hub, t) for t in ("day_snapshots", "snapshot_parts", "snapshot_rows", "snapshot_differences")}
    assert [r[10] for r in before["day_snapshots"]] == ["compared"] and before["snapshot_differences"] == []
    assert before["snapshot_rows"] == []  # compared: only differences are kept

    again = hub.put_snapshot("S001", "2025-03-10", part)  # its reply was lost: the node sends it again
    assert (again.status, again.differences, again.parts_in) == ("compared", 0, 1)
    assert {t: rows_of(hub, t) for t in before} == before

    other = part.model_copy(update={"rows": [(A.sku, 99, 0, 0, 0), *part.rows[1:]]})
    with pytest.raises(rules.Conflict, match="other rows"):
        hub.put_snapshot("S001", "2025-03-10", other)
    later = part.model_copy(update={"last_seq": part.last_seq + 1})
    with pytest.raises(rules.Conflict, match="already sent another end-of-day snapshot"):
        hub.put_snapshot("S001", "2025-03-10", later)
    with pytest.raises(rules.WrongStore):
        hub.put_snapshot("S002", "2025-03-10", part)
    with pytest.raises(rules.BadRequest, match="address says"):
        hub.put_snapshot("S001", "2025-03-11", part)
    s2_token = hub.issue_token("store", "S002")
    with pytest.raises(rules.WrongStore, match="belongs to store S002"):
        hub.put_snapshot("S001", "2025-03-10", part, token=s2_token)
    with pytest.raises(rules.Forbidden):
        hub.put_snapshot("S001", "2025-03-10", part, token=hub.issue_token("ops"))
    assert {t: rows_of(hub, t) for t in before} == before

    report = hub.make_report("2025-03-10", "S001")
    r, _ = hub.report("2025-03-10", "S001")
    c = r.completeness[0]
    assert (c.snapshot, c.snapshot_status, c.snapshot_seq, c.snapshot_differences) == (True, "compared", part.last_seq, 0)
    assert c.snapshot_note.startswith("received (at 2025-03-10T21:00:00") and "agrees with the ledger" in c.snapshot_note
    assert not [x for x in r.exceptions if x.kind == "snapshot_difference"] and report["revision"] == 1


def test_a_tampered_snapshot_shows_in_the_report_with_its_entries(world) -> None:
    hub, clock, nodes, clients = world
    s1 = nodes["S001"]
    clock.at("2025-03-10T10:00:00")
    s1.sell("sale", [SaleLine(A.sku, 3, 500)])
    s1.sell("sale-2", [SaleLine(A.sku, 1, 500)])
    runner.sync_once(s1, clients["S001"])
    hub.make_report("2025-03-10")  # issued before the snapshot came
    clock.at("2025-03-10T22:00:00")
    s1.close_day()
    with sqlite3.connect(s1.path) as raw:  # a unit gone from the snapshot that the ledger still holds
        raw.execute("UPDATE day_snapshot_rows SET floor = floor - 1 WHERE sku = ?", (A.sku,))
    clock.at("2025-03-11T02:30:00")
    runner.sync_once(s1, clients["S001"])
    [diff] = rows_of(hub, "snapshot_differences")
    assert diff[2] == A.sku and diff[3] == "on_hand" and diff[4] == 5 and diff[8] == 6  # floor 5 against on hand 6

    assert [x["revision"] for x in hub.recheck_reports()] == [2]  # the snapshot re-issues the report
    r, html = hub.report("2025-03-10")
    [x] = [x for x in r.exceptions if x.kind == "snapshot_difference"]
    assert x.store_id == "S001" and x.sku == A.sku and x.seq == s1.last_seq()
    assert "on hand 5 against 6 (-1)" in x.message
    assert [(e.kind, e.qty, e.on_hand_after) for e in x.entries] == [("receive", 10, 10), ("sale", 3, 7),
                                                                     ("sale", 1, 6)]
    assert r.completeness[0].snapshot_differences == 1 and "1 SKU differ" in r.completeness[0].snapshot_note
    assert any("end-of-day snapshot received" in c for c in r.changes)
    assert "on hand 5 against 6 (-1)" in html and "seq 4 sale 1 at" in html
    s2 = next(c for c in r.completeness if c.store_id == "S002")
    assert (s2.snapshot, s2.snapshot_status, s2.snapshot_note) == (False, "missing", "missing")
    [row] = [r for r in csv.DictReader(io.StringIO(hub.report_csv("2025-03-10", "exceptions")))
             if r["kind"] == "snapshot_difference"]
    assert [e["seq"] for e in json.loads(row["entries"])] == [e.seq for e in x.entries]  # as JSON in its cell


def test_a_snapshot_beyond_the_ledger_waits_for_its_entries(world) -> None:
    hub, clock, nodes, clients = world
    s2 = nodes["S002"]
    clock.at("2025-03-10T15:00:00")
    s2.sell("sale", [SaleLine(A.sku, 2, 500)])
    s2.close_day()
    assert send_snapshots(s2, clients["S002"]) == 1  # before the push: the hub lacks the sale
    assert [(r[10], r[13]) for r in rows_of(hub, "day_snapshots")] == [("waiting", None)]
    hub.make_report("2025-03-10", "S002")
    assert hub.report("2025-03-10", "S002")[0].completeness[0].snapshot_status == "waiting"
    runner.push(s2, clients["S002"])
    # Compared as the push that brought its entries committed, before any report asked.
    assert [(r[10], r[13]) for r in rows_of(hub, "day_snapshots")] == [("compared", 0)]
    assert [x["revision"] for x in hub.recheck_reports()] == [2]  # the report re-issued with it
    c = hub.report("2025-03-10", "S002")[0].completeness[0]
    assert (c.snapshot_status, c.snapshot_differences) == ("compared", 0)
    assert hub.recheck_reports() == []


def test_a_snapshot_in_parts_in_any_order(world, monkeypatch: pytest.MonkeyPatch) -> None:
    import sync.models

    hub, clock, nodes, clients = world
    s1 = nodes["S001"]
    s1.receive("more", C.sku, 4)
    runner.push(s1, clients["S001"])
    s1.close_day()
    [whole] = parts_of(s1, "2025-03-10")
    monkeypatch.setattr(sync.models, "SNAPSHOT_PART_ROWS", 1)
    parts = [whole.model_copy(update={"part": i + 1, "parts": 3, "rows": [r]}) for i, r in enumerate(whole.rows)]
    parts = [DaySnapshot.model_validate(p.model_dump()) for p in parts]
    assert [hub.put_snapshot("S001", "2025-03-10", p).status for p in (parts[2], parts[0], parts[2])] == [
        "incomplete", "incomplete", "incomplete"]
    twice = DaySnapshot.model_validate({**parts[1].model_dump(), "rows": parts[0].rows})
    with pytest.raises(rules.BadRequest, match="two parts"):
        hub.put_snapshot("S001", "2025-03-10", twice)
    done = hub.put_snapshot("S001", "2025-03-10", parts[1])
    assert (done.status, done.parts_in, done.differences) == ("compared", 3, 0)


def test_the_node_hears_a_refusal_and_keeps_syncing(world) -> None:
    hub, clock, nodes, clients = world
    s1 = nodes["S001"]
    s1.close_day()
    part = parts_of(s1, "2025-03-10")[0]
    hub.put_snapshot("S001", "2025-03-10", part.model_copy(update={"taken_at": "2025-03-10T08:00:00+00:00"}))
    out = runner.sync_once(s1, clients["S001"])
    assert out["online"] and "stopped" not in out
    assert s1.snapshots()[0]["status"] == "refused"
    assert "already sent another" in s1.problems(limit=1)[0]["message"]
    with pytest.raises(Refused):
        clients["S001"].put_snapshot(part)


def test_a_push_completing_a_waiting_snapshot_is_not_compared_on_the_event_loop(world) -> None:
    """The API first runs a push inline (no_wait); one that completes a waiting snapshot steps aside, having
    written nothing, and is run again on a database thread, where the comparison follows it. A push to a
    store with no snapshot waiting is not held up."""
    from hub.db import WouldWait

    hub, clock, nodes, clients = world
    s1, s2 = nodes["S001"], nodes["S002"]
    clock.at("2025-03-10T15:00:00")
    s1.sell("s1-sale", [SaleLine(A.sku, 1, 500)])
    s2.sell("sale", [SaleLine(A.sku, 2, 500)])
    s2.close_day()
    assert send_snapshots(s2, clients["S002"]) == 1

    class Inline(LocalClient):
        def push(self, batch):  # type: ignore[no-untyped-def]
            return self._call(lambda *a: self.hub.ingest(*a, no_wait=True), self.store_id, batch)

    runner.push(s1, Inline(hub, "S001"))  # S001 has nothing waiting: inline as ever
    with pytest.raises(WouldWait):
        runner.push(s2, Inline(hub, "S002"))
    assert [(r[0], r[10]) for r in rows_of(hub, "day_snapshots")] == [("S002", "waiting")]
    runner.push(s2, clients["S002"])
    assert [(r[0], r[10], r[13]) for r in rows_of(hub, "day_snapshots")] == [("S002", "compared", 0)]
