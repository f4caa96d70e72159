"""Routes for the nightly report (ops): the kept reports, each as its page, its JSON and a CSV per table."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from hub.api.errors import BUSY, MALFORMED, UNAUTHENTICATED
from hub.deps import HubDep, Ops
from hub.report.model import TABLES

router = APIRouter(prefix="/ops/reports", tags=["ops"])

REFUSALS = {**UNAUTHENTICATED, 403: {"description": "not an ops token"},
            404: {"description": "no report kept for that date and scope, or no such table"},
            **MALFORMED, **BUSY}
DAY = Annotated[str, Path(pattern=r"^\d{4}-\d{2}-\d{2}$", description="the business date, YYYY-MM-DD")]
SCOPE = Annotated[str, Query(min_length=1, max_length=32, description="'chain', or a store's id")]
REVISION = Annotated[int | None, Query(ge=1, le=1_000_000, description="a revision; the latest unless given")]


@router.get("", responses=REFUSALS)
def list_reports(hub: HubDep, who: Ops) -> list[dict]:
    """Every kept report: business date, scope, revision, when made, partial or not (newest date first)."""
    return hub.list_reports()


@router.get("/{day}.html", response_class=HTMLResponse, responses=REFUSALS)
def report_html(day: DAY, hub: HubDep, who: Ops, scope: SCOPE = "chain", revision: REVISION = None) -> HTMLResponse:
    """The report's one self-contained page (inline SVG charts, no scripts, nothing fetched)."""
    return HTMLResponse(hub.report(day, scope, revision)[1])


@router.get("/{day}.json", responses=REFUSALS)
def report_json(day: DAY, hub: HubDep, who: Ops, scope: SCOPE = "chain", revision: REVISION = None) -> Response:
    """The report's figures (schema: hub.report.model.Report)."""
    return Response(hub.report(day, scope, revision)[0].model_dump_json(), media_type="application/json")


@router.get("/{day}/{table}.csv", response_class=PlainTextResponse, responses=REFUSALS)
def report_csv(day: DAY, table: Annotated[str, Path(description=f"one of: {', '.join(TABLES)}")], hub: HubDep,
               who: Ops, scope: SCOPE = "chain") -> PlainTextResponse:
    return PlainTextResponse(hub.report_csv(day, table, scope), media_type="text/csv")
