"""The nightly report against a hand-built day whose every total is known (tests/report_day.py), on SQLite
and on PostgreSQL: completeness, roll-forward, KPIs, variance, write-offs, sold-out hours, exceptions, and a
late store's entries re-issuing the report with what changed."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from hub.report.model import TABLES, Report
from tests.hubfixtures import hub_backend_url, pg_server  # noqa: F401 - fixtures
from tests.report_day import DAY, build_day


def by_store(rows: list, key: str = "store_id") -> dict:
    return {getattr(r, key): r for r in rows}


def test_hand_built_day_every_total(hub_backend_url: str, tmp_path: Path) -> None:  # noqa: F811
    day = build_day(hub_backend_url, tmp_path)
    hub = day.hub
    done = hub.make_report(DAY, out_dir=str(tmp_path / "out"))
    assert done["revision"] == 1 and done["partial"] is True
    r, html = hub.report(DAY)

    c = by_store(r.completeness)
    assert [c[s].partial for s in ("S001", "S002", "S003")] == [False, False, True]
    assert c["S002"].tz == "America/New_York" and c["S002"].day_start == "2025-03-10T04:00:00.000000+00:00"
    assert c["S003"].last_sync == "2025-03-10T11:00:00.000000+00:00"

    rf = by_store(r.roll_forward)
    s1, s2, s3, chain = rf["S001"], rf["S002"], rf["S003"], rf["chain"]
    assert (s1.opening, s1.transfers_out, s1.sold, s1.returned, s1.counts, s1.written_off, s1.closing) == (
        15, -2, -5, 1, -2, -1, 6)
    assert (s1.zero_rows, s1.negative_rows, s1.skus) == (1, 0, 2)  # B sold out: its zero row is kept
    # S002's 03:00Z sale was still the 9th in New York: it is in the opening, not the day.
    assert (s2.opening, s2.transfers_in, s2.written_off, s2.sold, s2.closing) == (7, 2, -1, -4, 4)
    assert (s3.opening, s3.sold, s3.closing, s3.partial) == (6, -1, 5, True)
    assert (chain.opening, chain.closing, chain.sold) == (28, 15, -10)
    assert all(x.ties for x in r.roll_forward)

    k = r.kpis
    assert (k.sales_units, k.sales_revenue, k.returns_units, k.returns_value) == (10, 6000, 1, -500)
    assert (k.shrink_units, k.shrink_value, k.shrink_pct) == (-4, -2500, round(-2500 / 6000 * 100, 2))
    assert (k.counted_skus, k.accuracy_pct, k.over_quota_units, k.divergences) == (1, 0.0, 4, 1)
    assert r.previous_kpis is not None and r.previous_kpis.sales_units == 1  # S002's sale on its 9th

    assert [(v.store_id, v.units, v.value) for v in r.variance_top] == [("S001", -2, -1000)]
    wo = {(w.store_id, w.reason): (w.units, w.value) for w in r.write_offs if w.units}
    assert wo == {("S001", "damaged"): (-1, -1000), ("S001", "count"): (-2, -1000), ("S002", "lost"): (-1, -500)}
    q = by_store(r.quota)
    assert (q["S001"].over_quota_sales, q["S002"].over_quota_sales, q["S002"].stranded) == (2, 2, 2)
    # No store sent an end-of-day snapshot: walk-ins turned away are not known for any, and the page says so.
    assert q["S001"].refused_walk_ins is None and r.kpis.refused_walk_ins is None
    assert any("Not counted for S001, S002, S003" in n for n in r.notes)
    assert [(s.store_id, s.hours_out) for s in r.sold_out] == [("S001", 8.0)]
    kinds = {(e.store_id, e.kind) for e in r.exceptions}
    assert {("S001", "divergence"), ("S003", "sync_stall")} <= kinds
    assert r.sign_convention.startswith("Negative means loss")
    assert "Partial:" in html and html.count("<svg") == 5

    # The CSVs and the JSON written out say the same.
    out = tmp_path / "out" / DAY / "chain"
    assert Report.model_validate_json((out / "report.json").read_text()) == r
    for t in TABLES:
        rows = list(csv.DictReader(io.StringIO((out / f"{t}.csv").read_text())))
        assert len(rows) == len(getattr(r, t)), t

    # The same entries held: a rerun issues nothing new.
    assert hub.make_report(DAY)["new"] is False
    # S003's late entries arrive: the re-check re-issues the report as revision 2, saying what changed.
    day.push("S003", "2025-03-11T07:00:00")
    again = hub.recheck_reports()
    assert [(x["scope"], x["revision"], x["partial"]) for x in again] == [("chain", 2, False)]
    r2, html2 = hub.report(DAY)
    assert by_store(r2.roll_forward)["S003"].closing == 3 and r2.kpis.sales_units == 12
    assert any("S003" in ch and "complete" in ch for ch in r2.changes) and "What changed since revision 1" in html2
    assert [x["revision"] for x in hub.list_reports()] == [1, 2]

    # One store's report lists every SKU's roll-forward, the sold-out one at zero included.
    hub.make_report(DAY, "S001")
    one, _ = hub.report(DAY, "S001")
    assert [(x.sku, x.closing) for x in one.roll_forward_skus] == [("SKU000001", 6), ("SKU000002", 0)]
    hub.close()


def test_report_tables_have_headers_even_when_empty(tmp_path: Path) -> None:
    day = build_day(f"sqlite:///{tmp_path}/hub.sqlite", tmp_path)
    day.hub.make_report("2025-01-01")
    for t in TABLES:
        assert day.hub.report_csv("2025-01-01", t).splitlines()[0]
    day.hub.close()
