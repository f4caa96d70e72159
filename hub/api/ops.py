"""Routes for central ops: stock, sync state, quota moves, incidents, at-risk orders, the changefeed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from hub.api.errors import BUSY, MALFORMED, TOO_LARGE, UNAUTHENTICATED
from hub.deps import HubDep, Ops, json_body, off_loop, parse_body
from hub.service.orders import at_risk_view
from sync.models import MAX_SEQ, bounded

router = APIRouter(prefix="/ops", tags=["ops"])

KEY = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)]
REFUSALS = {**UNAUTHENTICATED, 403: {"description": "not an ops token"},
            404: {"description": "unknown SKU, store or incident"},
            409: {"description": "not enough hub share, the store is blocked, or the idempotency key was used "
                                 "for another request"},
            **TOO_LARGE, **MALFORMED, **BUSY}


class QuotaMove(BaseModel):
    model_config = ConfigDict(extra="forbid")
    store_id: str = Field(min_length=1, max_length=32)
    sku: str = Field(min_length=1, max_length=64)
    qty: bounded(1, 1_000_000)


@router.get("/stock/{sku}", responses=REFUSALS)
def stock(sku: str, hub: HubDep, who: Ops) -> dict:
    return hub.stock(sku)


@router.get("/stores", responses=REFUSALS)
def sync_state(hub: HubDep, who: Ops) -> list[dict]:
    return hub.sync_state()


@router.get("/stores/{store_id}/ledger", responses=REFUSALS)
def store_ledger(store_id: str, hub: HubDep, who: Ops, after: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
                 limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> list[dict]:
    return hub.store_ledger(store_id, after, limit)


# Bodies are parsed after the caller is checked (parse_body), so a stranger hears 401 before
# anything about the body: FastAPI would decode the JSON before running any dependency.
@router.post("/grants", status_code=201, responses=REFUSALS, openapi_extra=json_body(QuotaMove))
async def grant(request: Request, hub: HubDep, who: Ops, idempotency_key: KEY = None) -> dict:
    """Hub -> store: a quota grant (a `QuotaMove`), out of the hub's share at the store."""
    move = await parse_body(request, QuotaMove)
    return await off_loop(request, hub.grant, move.store_id, move.sku, move.qty, idempotency_key)


@router.post("/release-requests", status_code=201, responses=REFUSALS, openapi_extra=json_body(QuotaMove))
async def request_release(request: Request, hub: HubDep, who: Ops, idempotency_key: KEY = None) -> dict:
    """Ask a store to release quota (a `QuotaMove`); the units move when its release entry arrives."""
    move = await parse_body(request, QuotaMove)
    return await off_loop(request, hub.request_release, move.store_id, move.sku, move.qty, idempotency_key)


@router.get("/at-risk", responses=REFUSALS)
def at_risk(hub: HubDep, who: Ops) -> list[dict]:
    return [at_risk_view(r) for r in hub.at_risk()]


class Resource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    location: str = Field(default="best", min_length=1, max_length=32,
                          description="where to move the order: a location id, or 'best' (the most promisable)")


RESOURCE_REFUSALS = {**REFUSALS, 404: {"description": "unknown order or location"},
                     409: {"description": "the order is not at risk or not open, no location can promise its units, "
                                          "or the idempotency key was used for another request"}}


@router.post("/orders/{order_id}/resource", responses=RESOURCE_REFUSALS,
             openapi_extra=json_body(Resource, optional=True))
async def resource(request: Request, order_id: Annotated[str, Path(min_length=1, max_length=64)], hub: HubDep,
                   who: Ops, idempotency_key: KEY = None) -> dict:
    """Move an at-risk order (a `Resource`; no body: to the best location) to another location's hub share,
    in one transaction: reserved there, its claim where it was released, no longer at risk; `ordered`
    again (ship or pick up anew)."""
    req = await parse_body(request, Resource, optional=True)
    return await off_loop(request, hub.resource, order_id, req.location, idempotency_key)


@router.get("/incidents", responses=REFUSALS)
def incidents(hub: HubDep, who: Ops, include_cleared: bool = False) -> list[dict]:
    return hub.incidents(include_cleared)


@router.post("/incidents/{incident_id}/clear", responses=REFUSALS)
def clear_incident(incident_id: Annotated[int, Path(ge=1, le=MAX_SEQ)], hub: HubDep, who: Ops) -> dict:
    return hub.clear_incident(incident_id)


@router.get("/changefeed", responses=REFUSALS)
def changefeed(hub: HubDep, who: Ops, after: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
               limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> dict:
    return hub.feed(after, limit)
