"""Routes for central ops: stock, sync state, quota moves, incidents, at-risk orders, the changefeed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from hub.deps import HubDep, Ops

router = APIRouter(prefix="/ops", tags=["ops"])

KEY = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
REFUSALS = {401: {"description": "no or bad token"}, 403: {"description": "not an ops token"},
            404: {"description": "unknown SKU, store or incident"},
            409: {"description": "not enough hub share, or the store is blocked"},
            422: {"description": "malformed request"}}


class QuotaMove(BaseModel):
    model_config = ConfigDict(extra="forbid")
    store_id: str = Field(min_length=1, max_length=32)
    sku: str = Field(min_length=1, max_length=64)
    qty: Annotated[StrictInt, Field(ge=1, le=1_000_000)]


@router.get("/stock/{sku}", responses=REFUSALS)
def stock(sku: str, hub: HubDep, who: Ops) -> dict:
    return hub.stock(sku)


@router.get("/stores", responses=REFUSALS)
def sync_state(hub: HubDep, who: Ops) -> list[dict]:
    return hub.sync_state()


@router.get("/stores/{store_id}/ledger", responses=REFUSALS)
def store_ledger(store_id: str, hub: HubDep, who: Ops, after: Annotated[int, Query(ge=0)] = 0,
                 limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> list[dict]:
    return hub.store_ledger(store_id, after, limit)


@router.post("/grants", status_code=201, responses=REFUSALS)
def grant(move: QuotaMove, hub: HubDep, who: Ops, idempotency_key: KEY = None) -> dict:
    return hub.grant(move.store_id, move.sku, move.qty, idempotency_key)


@router.post("/release-requests", status_code=201, responses=REFUSALS)
def request_release(move: QuotaMove, hub: HubDep, who: Ops, idempotency_key: KEY = None) -> dict:
    return hub.request_release(move.store_id, move.sku, move.qty, idempotency_key)


@router.get("/at-risk", responses=REFUSALS)
def at_risk(hub: HubDep, who: Ops) -> list[dict]:
    return hub.at_risk()


@router.get("/incidents", responses=REFUSALS)
def incidents(hub: HubDep, who: Ops, include_cleared: bool = False) -> list[dict]:
    return hub.incidents(include_cleared)


@router.post("/incidents/{incident_id}/clear", responses=REFUSALS)
def clear_incident(incident_id: int, hub: HubDep, who: Ops) -> dict:
    return hub.clear_incident(incident_id)


@router.get("/changefeed", responses=REFUSALS)
def changefeed(hub: HubDep, who: Ops, after: Annotated[int, Query(ge=0)] = 0,
               limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> dict:
    return hub.feed(after, limit)
