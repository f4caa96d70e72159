"""Routes for the web shop: availability and cart holds (reserve, commit, cancel)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from hub.deps import HubDep, WebShop

router = APIRouter(prefix="/web", tags=["web shop"])

KEY = Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=200)]
REFUSALS = {401: {"description": "no or bad token"}, 403: {"description": "not a web or ops token"},
            404: {"description": "unknown SKU, location or reservation"},
            409: {"description": "not enough to promise"}, 422: {"description": "malformed request"}}


class ReserveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=64)
    qty: Annotated[StrictInt, Field(ge=1, le=10_000)]
    location: str | None = Field(default=None, max_length=32)
    ttl_s: Annotated[StrictInt, Field(ge=1, le=7 * 24 * 3600)] = 900


@router.get("/availability/{sku}", responses=REFUSALS)
def availability(sku: str, hub: HubDep, who: WebShop) -> dict:
    return hub.availability(sku)


@router.post("/reservations", status_code=201, responses=REFUSALS)
def reserve(req: ReserveRequest, hub: HubDep, who: WebShop, idempotency_key: KEY) -> dict:
    return hub.reserve(idempotency_key, req.sku, req.qty, location=req.location, ttl_s=req.ttl_s)


@router.post("/reservations/{reservation_id}/commit", responses=REFUSALS)
def commit(reservation_id: str, hub: HubDep, who: WebShop, idempotency_key: KEY) -> dict:
    return hub.commit(reservation_id, idempotency_key)


@router.post("/reservations/{reservation_id}/cancel", responses=REFUSALS)
def cancel(reservation_id: str, hub: HubDep, who: WebShop, idempotency_key: KEY) -> dict:
    return hub.cancel(reservation_id, idempotency_key)
