"""The report reads a day's entries, not the whole history: its opening book is the hub's position less the
entries since the day's start. Rerun for an old date after more days arrived, made with no report of the day
before kept, and with a SKU that came to a store only after the day, it says what it said the first time, and
every row still ties to the ledger, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import text

from hub.report.days import day_bounds
from node.rules import SaleLine
from tests.hubfixtures import hub_backend_url, pg_server  # noqa: F401 - fixtures
from tests.report_day import A, B, DAY, build_day


def _rows(hub, day: str, store: str) -> list[tuple]:  # noqa: ANN001
    hub.make_report(day, store)
    r, _ = hub.report(day, store)
    return [(x.sku, x.opening, x.received, x.transfers_in, x.transfers_out, x.sold, x.returned, x.counts,
             x.written_off, x.other, x.closing) for x in r.roll_forward_skus]


def _ledger(hub, store: str, before: str) -> dict[str, int]:  # noqa: ANN001
    with hub.engine.connect() as conn:
        rows = conn.execute(text("SELECT sku, SUM(on_hand_delta) FROM store_entries WHERE store_id = :s AND at < :t "
                                 "GROUP BY sku"), {"s": store, "t": before}).all()
    return {sku: int(n) for sku, n in rows}


def test_a_rerun_for_an_old_date_after_more_days_says_the_same(
        hub_backend_url: str, tmp_path: Path) -> None:  # noqa: F811
    day = build_day(hub_backend_url, tmp_path)
    hub, s1, s3 = day.hub, day.nodes["S001"], day.nodes["S003"]
    day.push("S003", "2025-03-11T07:00:00")  # the late store's day arrives (tests/test_report.py: its revision)
    first = {s: _rows(hub, DAY, s) for s in ("S001", "S003")}
    assert [r[0] for r in first["S003"]] == [A.sku]  # S003 has never had B

    # Two more days: S001 sells on, S003 receives B for the first time; both push.
    day.clock.at("2025-03-11T10:00:00")
    s1.sell("s1-next", [SaleLine(A.sku, 2, 500)])
    day.clock.at("2025-03-12T09:00:00")
    s3.receive("s3-b", B.sku, 4)
    for s in ("S001", "S003"):
        day.push(s, "2025-03-12T12:00:00")

    # The old date again, after more days and with the day before's report never made: the same rows, and B at
    # S003 (first seen after the day) not among them.
    again = {s: _rows(hub, DAY, s) for s in ("S001", "S003")}
    assert again == first
    # The 12th, with no report of the 11th kept: the opening is the ledger before its start, the closing the
    # ledger before its end, every row tying out; B at S003 opens at zero and receives 4.
    for s in ("S001", "S003"):
        lo, hi = day_bounds(date(2025, 3, 12), "UTC")
        rows = {r[0]: r for r in _rows(hub, "2025-03-12", s)}
        assert {sku: r[1] for sku, r in rows.items()} == {sku: _ledger(hub, s, lo).get(sku, 0) for sku in rows}
        assert {sku: r[-1] for sku, r in rows.items()} == _ledger(hub, s, hi)
        assert all(r[1] + sum(r[2:-1]) == r[-1] for r in rows.values())
    assert {r[0]: (r[1], r[2], r[-1]) for r in _rows(hub, "2025-03-12", "S003")}[B.sku] == (0, 4, 4)
    hub.close()
