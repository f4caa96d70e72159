"""Walk-ins turned away for want of quota, from the till to the nightly report, on SQLite and on PostgreSQL.

A strict store's node notes each sale it refuses for want of quota (and the till each scan it refuses for it)
apart from the ledger, which the refusal leaves untouched; its end-of-day snapshot carries each SKU's units and
times turned away that business date; the hub keeps them and the report counts them per store and for the
chain, saying which stores' snapshots have not arrived (their figure empty, the chain's partial).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.service import Hub
from node import runner
from node.errors import QuotaExceeded
from node.rules import SaleLine
from node.service import Node
from node.snapshots import send_snapshots
from sync.models import DaySnapshot, Signature
from tests.hubfixtures import LocalClient, hub_backend_url, pg_server, tiny_chain, tiny_item  # noqa: F401

DAY = "2025-03-10"
A = tiny_item(1, price=500)
CHAIN = tiny_chain([A], [("S001", A.sku, "floor", 10), ("S002", A.sku, "floor", 4)], stores=2)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 9, 8, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def at(self, text: str) -> Clock:
        self.now = datetime.fromisoformat(text).replace(tzinfo=UTC)
        return self


def _stock(node: Node) -> tuple:
    return tuple(node.conn.execute("SELECT floor, back, quota, held FROM stock WHERE sku = ?", (A.sku,)).fetchone())


def test_walk_ins_turned_away_reach_the_report(hub_backend_url: str, tmp_path: Path) -> None:  # noqa: F811
    clock = Clock()
    hub = Hub.open(hub_backend_url, clock=clock)
    hub.load_chain(CHAIN, quota_share=0.5)
    nodes = {}
    for s in ("S001", "S002"):
        n = Node(tmp_path / f"{s}.sqlite", clock=clock)
        runner.initialise_from_hub(n, LocalClient(hub, s), s, hub_url="local", token="-")
        runner.push(n, LocalClient(hub, s))
        nodes[s] = n
    s1, s2 = nodes["S001"], nodes["S002"]
    s1.set_meta(policy="strict")
    assert _stock(s1)[2] == 5  # half of its 10 units

    clock.at("2025-03-09T12:00:00")
    with pytest.raises(QuotaExceeded):
        s1.sell("s1-yesterday", [SaleLine(A.sku, 6, 500)])  # the 9th's: not the 10th's count
    clock.at("2025-03-10T10:00:00")
    s1.sell("s1-ok", [SaleLine(A.sku, 2, 500)])
    seq, stock = s1.last_seq(), _stock(s1)
    for op, qty in (("s1-seven", 7), ("s1-four", 4)):
        with pytest.raises(QuotaExceeded, match="policy strict"):
            s1.sell(op, [SaleLine(A.sku, qty, 500)])
    s1.record_refusal(A.sku, 1, "till")  # what the till sends when it refuses a scan
    # Nothing of a refusal reaches the ledger or the stock: no entry, no quota moved, no operation kept.
    assert (s1.last_seq(), _stock(s1)) == (seq, stock)
    assert s1.result_of("s1-seven", "sale") is None
    assert s1.refused_sales(DAY) == {A.sku: (12, 3)} and s1.refused_sales("2025-03-09") == {A.sku: (6, 1)}
    # An in-hand store sells past quota instead: nothing is turned away there.
    s2.sell("s2-over", [SaleLine(A.sku, 3, 500)])
    assert s2.refused_sales(DAY) == {}

    clock.at("2025-03-11T00:10:00")
    for s, n in nodes.items():
        runner.push(n, LocalClient(hub, s))
    s1.close_day(DAY)
    rows = s1.snapshot_rows(DAY)
    assert rows == [(A.sku, 8, 0, 3, 0, 12, 3)]
    assert send_snapshots(s1, LocalClient(hub, "S001")) == 1

    hub.make_report(DAY)
    r, html = hub.report(DAY)
    q = {x.store_id: x for x in r.quota}
    assert (q["S001"].refused_walk_ins, q["S001"].refused_walk_in_times) == (12, 3)
    assert (q["S002"].refused_walk_ins, q["S002"].refused_walk_in_times) == (None, None)  # no snapshot yet
    assert r.kpis.refused_walk_ins == 12
    assert any("Not counted for S002" in n for n in r.notes)
    assert "no snapshot yet" in html and 'data-tile="refused_walk_ins"' in html
    assert next(t for t in r.tiles if t.key == "refused_walk_ins").value == 12

    # S002's snapshot arrives: the report is re-issued, its count known (0) and the chain's whole.
    clock.at("2025-03-11T01:00:00")
    s2.close_day(DAY)
    assert send_snapshots(s2, LocalClient(hub, "S002")) == 1
    again = hub.recheck_reports()
    assert [(x["scope"], x["revision"]) for x in again] == [("chain", 2)]
    r2, _ = hub.report(DAY)
    q2 = {x.store_id: x for x in r2.quota}
    assert (q2["S001"].refused_walk_ins, q2["S002"].refused_walk_ins, r2.kpis.refused_walk_ins) == (12, 0, 12)
    assert not any("Not counted for" in n for n in r2.notes)
    # The comparison with the ledger drops a snapshot's rows; the walk-ins turned away are kept.
    hub.compare_waiting()
    hub.make_report(DAY, "S001")
    one, _ = hub.report(DAY, "S001")
    assert one.quota[0].refused_walk_ins == 12 and one.kpis.refused_walk_ins == 12
    for n in nodes.values():
        n.close()
    hub.close()


def _part(rows: list) -> DaySnapshot:
    return DaySnapshot(store_id="S001", business_date=DAY, last_seq=0, taken_at="2025-03-10T23:00:00.000000+00:00",
                       signed_by=Signature(terminal="T1", clerk="ann"), row_count=len(rows), part=1, parts=1, rows=rows)


def test_snapshot_rows_from_before_still_validate_and_new_fields_are_bounded() -> None:
    old = _part([("A", 1, 2, 3, 4)])  # a node from before sends five: nothing turned away
    assert old.rows == [("A", 1, 2, 3, 4)] and old.problem() is None
    assert _part([("A", 1, 2, 3, 4, 5, 2)]).rows[0][5:] == (5, 2)
    for bad in ([("A", 1, 2, 3, 4, -1, 1)], [("A", 1, 2, 3, 4, 10**12, 1)], [("A", 1, 2, 3, 4, 5)]):
        with pytest.raises(ValidationError):
            _part(bad)


def _strict_node(path: Path, clock: Clock) -> Node:
    n = Node(path, clock=clock)
    n.initialise(store_id="S001", name="One", policy="strict", items=[{
        "sku": A.sku, "gtin": A.gtin, "name": A.name, "price": A.price}], stock=[(A.sku, "floor", 6, 2)])
    return n


def test_a_refused_sale_retried_under_its_operation_id_turns_one_walk_in_away(tmp_path: Path) -> None:
    clock = Clock().at("2025-03-10T10:00:00")
    n = _strict_node(tmp_path / "s.sqlite", clock)
    # A terminal that crashed after the refusal asks again under the same id, a moment later: one walk-in.
    for _ in range(2):
        with pytest.raises(QuotaExceeded):
            n.sell("walk-in-1", [SaleLine(A.sku, 3, 500)])
        clock.at("2025-03-10T10:00:05")
    with pytest.raises(QuotaExceeded):
        n.sell("walk-in-2", [SaleLine(A.sku, 4, 500)])  # another customer: counted
    n.record_refusal(A.sku, 1, "till")
    n.record_refusal(A.sku, 1, "till")  # two scans refused at the till: no op id, both counted
    assert n.refused_sales(DAY) == {A.sku: (9, 4)}
    n.close()


def test_a_node_file_from_before_keeps_its_refusals_and_counts_a_retry_once(tmp_path: Path) -> None:
    from sqlite_utils import Database

    from node.store.schema import migrations

    path = tmp_path / "old.sqlite"
    db = Database(path)
    migrations.apply(db, stop_before="m009_refusals_once_per_operation")
    db.execute("INSERT INTO refused_sales (business_date, sku, qty, at, terminal, clerk, source) VALUES "
               "(?, ?, 2, '2025-03-10T09:00:00.000000+00:00', 'T1', 'ann', 'sale')", (DAY, A.sku))
    db.conn.commit()
    db.conn.close()
    clock = Clock().at("2025-03-10T10:00:00")
    n = _strict_node(path, clock)
    for _ in range(2):
        with pytest.raises(QuotaExceeded):
            n.sell("walk-in-1", [SaleLine(A.sku, 3, 500)])
    assert n.refused_sales(DAY) == {A.sku: (5, 2)}
    n.close()
