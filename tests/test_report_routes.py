"""The nightly report's HTTP routes on a real hub (`backroom hub serve` under uvicorn on 127.0.0.1), and the page's
sold-out list cut at its limit.

The hand-built day (tests/report_day.py) is made and reported in process on a SQLite file; a hub process then
serves it: the list, the page, the JSON and a CSV per table, a clear 404 for a date or table it does not keep,
422 for a malformed date or scope, 401 without a valid token and 403 for a token that is not ops'.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub.report.model import TABLES, Report, SoldOut
from hub.report.render import SOLD_OUT_ON_PAGE, to_html
from tests.hubfixtures import HubProcess
from tests.report_day import DAY, build_day

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("report-routes")
    url = f"sqlite:///{tmp}/hub.sqlite"
    day = build_day(url, tmp)
    day.hub.make_report(DAY)
    tokens = {"ops": day.hub.issue_token("ops"), "store": day.hub.issue_token("store", "S001"),
              "web": day.hub.issue_token("web")}
    for n in day.nodes.values():
        n.close()
    day.hub.close()
    with HubProcess(url, log_dir=tmp).start() as hub:
        yield hub.url, tokens


def get(served: tuple[str, dict[str, str]], path: str, role: str | None = "ops", token: str | None = None,
        **kw: object) -> httpx.Response:
    base, tokens = served
    tok = token if token is not None else (tokens[role] if role else None)
    headers = {"Authorization": f"Bearer {tok}"} if tok else {}
    return httpx.get(base + path, headers=headers, timeout=30, **kw)


def test_the_kept_report_is_served_as_page_json_and_csv(served: tuple[str, dict[str, str]]) -> None:
    listed = get(served, "/ops/reports")
    assert listed.status_code == 200
    assert [(r["business_date"], r["scope"], r["revision"]) for r in listed.json()] == [(DAY, "chain", 1)]

    page = get(served, f"/ops/reports/{DAY}.html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.text.count("<svg") == 5 and "Walk-ins turned away" in page.text and "<script" not in page.text

    js = get(served, f"/ops/reports/{DAY}.json")
    assert js.status_code == 200 and js.headers["content-type"] == "application/json"
    r = Report.model_validate(js.json())
    assert (r.business_date, r.scope, r.revision, r.kpis.sales_units) == (DAY, "chain", 1, 10)
    assert get(served, f"/ops/reports/{DAY}.json", params={"revision": 1}).json() == js.json()

    for table in TABLES:
        got = get(served, f"/ops/reports/{DAY}/{table}.csv")
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv"), table
        rows = list(csv.DictReader(io.StringIO(got.text)))
        assert len(rows) == len(getattr(r, table)), table
    quota = csv.DictReader(io.StringIO(get(served, f"/ops/reports/{DAY}/quota.csv").text))
    assert {"refused_walk_ins", "refused_walk_in_times"} <= set(quota.fieldnames or [])
    web = csv.DictReader(io.StringIO(get(served, f"/ops/reports/{DAY}/web.csv").text))
    assert "resourced" in (web.fieldnames or [])


def test_what_is_not_kept_is_a_clear_404_and_a_malformed_ask_a_422(served: tuple[str, dict[str, str]]) -> None:
    for path in ("/ops/reports/2024-01-01.html", "/ops/reports/2024-01-01.json", "/ops/reports/2024-01-01/quota.csv"):
        got = get(served, path)
        assert got.status_code == 404, path
        assert "No report is kept for 2024-01-01" in got.text, got.text
    got = get(served, f"/ops/reports/{DAY}/nonsense.csv")
    assert got.status_code == 404 and "has no table 'nonsense'" in got.text and "quota" in got.text
    got = get(served, f"/ops/reports/{DAY}.json", params={"scope": "S999"})
    assert got.status_code == 404 and "S999" in got.text
    for path, params in (("/ops/reports/10-03-2025.json", {}), ("/ops/reports/2025-3-10.html", {}),
                         (f"/ops/reports/{DAY}.json", {"scope": "x" * 33}),
                         (f"/ops/reports/{DAY}.json", {"revision": 0})):
        got = get(served, path, params=params)
        assert got.status_code == 422, (path, params, got.status_code, got.text)


def test_only_ops_may_read_reports(served: tuple[str, dict[str, str]]) -> None:
    for path in ("/ops/reports", f"/ops/reports/{DAY}.html", f"/ops/reports/{DAY}.json",
                 f"/ops/reports/{DAY}/quota.csv"):
        assert get(served, path, role=None).status_code == 401, path
        assert get(served, path, token="not-a-token").status_code == 401, path
        for role in ("store", "web"):
            got = get(served, path, role=role)
            assert got.status_code == 403, (path, role, got.status_code)


def test_the_page_lists_sold_out_skus_up_to_its_limit_and_says_how_many_are_left_out(tmp_path: Path) -> None:
    day = build_day(f"sqlite:///{tmp_path}/hub.sqlite", tmp_path)
    day.hub.make_report(DAY)
    r, _ = day.hub.report(DAY)
    day.hub.close()
    n = SOLD_OUT_ON_PAGE + 57
    many = [SoldOut(store_id="S001", sku=f"SKU{i:06d}", sold_out_at="2025-03-10T12:00:00.000000+00:00",
                    hours_out=float(i % 24)) for i in range(n)]
    html = to_html(r.model_copy(update={"sold_out": many}))
    section = html.split("<h2>Sold out</h2>", 1)[1].split("<h2>", 1)[0]
    assert section.count("<tr><td>S001</td>") == SOLD_OUT_ON_PAGE == 200
    assert f"The 200 longest out of stock of {n} sold out" in section and "57 more are left out here" in section
    assert "23.00" in section  # longest first: the 23-hour ones are on the page
    # At the limit exactly, every one is listed and nothing is said to be left out.
    html = to_html(r.model_copy(update={"sold_out": many[:SOLD_OUT_ON_PAGE]}))
    section = html.split("<h2>Sold out</h2>", 1)[1].split("<h2>", 1)[0]
    assert section.count("<tr><td>S001</td>") == 200 and "left out" not in section
