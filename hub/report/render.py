"""The report's outputs: CSV per table, and the one self-contained HTML page (charts inlined as SVG)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from hub.report import charts
from hub.report.figures import money
from hub.report.model import TABLES, Report

_ENV = Environment(loader=FileSystemLoader(Path(__file__).parent), autoescape=select_autoescape(["html", "j2"]),
                   trim_blocks=True, lstrip_blocks=True)
_ENV.filters["money"] = money
_ENV.filters["signed"] = lambda v: "n/a" if v is None else f"{v:+,}" if isinstance(v, int) else f"{v:+,.2f}"
SKU_ROWS_ON_PAGE = 2000  # a one-store page lists this many SKU rows; the CSV and JSON have every one
SOLD_OUT_ON_PAGE = 200  # the page lists the sold-out SKUs longest out of stock first, this many; the CSV and JSON all


def table_rows(report: Report, table: str) -> list[dict]:
    if table not in TABLES:
        raise KeyError(table)
    return [row.model_dump() for row in getattr(report, table)]


def to_csv(report: Report, table: str) -> str:
    """One table as CSV, header first (the model's field names), even when it has no rows."""
    rows = table_rows(report, table)
    model = type(getattr(report, table)[0]) if rows else Report.model_fields[table].annotation.__args__[0]
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(model.model_fields), lineterminator="\n")
    w.writeheader()
    # a cell holding a list (a snapshot difference's explaining entries) is written as JSON
    w.writerows({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in r.items()} for r in rows)
    return out.getvalue()


def tile_text(tile: object) -> tuple[str, str]:
    v, c, unit = tile.value, tile.change, tile.unit
    if unit == "money":
        return money(v), "" if c is None else ("+" if c >= 0 else "-") + money(abs(c))
    if unit == "pct":
        return ("n/a" if v is None else f"{v:.2f}%"), "" if c is None else f"{c:+.2f} pts"
    return ("n/a" if v is None else f"{int(v):,}"), "" if c is None else f"{int(c):+,}"


def to_html(report: Report) -> str:
    return _ENV.get_template("page.html.j2").render(
        r=report, charts=charts.all_charts(report), tiles=[(t, *tile_text(t)) for t in report.tiles],
        sku_rows=report.roll_forward_skus[:SKU_ROWS_ON_PAGE],
        sku_rows_cut=len(report.roll_forward_skus) > SKU_ROWS_ON_PAGE, sold_out=sold_out_on_page(report))


def sold_out_on_page(report: Report) -> list:
    """Every sold-out SKU when there are few; else the SOLD_OUT_ON_PAGE longest out of stock, longest first
    (a chain's day can have tens of thousands: the page would be megabytes of them)."""
    if len(report.sold_out) <= SOLD_OUT_ON_PAGE:
        return report.sold_out
    return sorted(report.sold_out, key=lambda s: (-s.hours_out, s.store_id, s.sku))[:SOLD_OUT_ON_PAGE]


def write_dir(report: Report, html: str, root: str | Path) -> Path:
    """Write the report's page, JSON and CSVs under root/<date>/<scope>/ (the latest revision overwrites)."""
    d = Path(root) / report.business_date / report.scope
    d.mkdir(parents=True, exist_ok=True)
    (d / "report.html").write_text(html)
    (d / "report.json").write_text(report.model_dump_json(indent=1))
    for t in TABLES:
        (d / f"{t}.csv").write_text(to_csv(report, t))
    return d
