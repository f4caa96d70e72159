"""Routes for the web shop: availability and cart holds (reserve, commit, cancel)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, ConfigDict, Field

from hub.api.errors import BUSY, MALFORMED, TOO_LARGE, UNAUTHENTICATED
from hub.deps import HubDep, Token, WebShop, json_body, parse_body, write
from sync.models import bounded

router = APIRouter(prefix="/web", tags=["web shop"])

KEY = Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=200)]
REFUSALS = {**UNAUTHENTICATED, 403: {"description": "not a web or ops token"},
            404: {"description": "unknown SKU, location or reservation"},
            409: {"description": "not enough to promise, the reservation's state forbids it (an order cannot "
                                 "expire, a cancelled one cannot become an order), or the idempotency key was "
                                 "used for another request"},
            **TOO_LARGE, **MALFORMED, **BUSY}


class ReserveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=64)
    qty: bounded(1, 10_000)
    location: str | None = Field(default=None, max_length=32)
    ttl_s: bounded(1, 7 * 24 * 3600) = 900


@router.get("/availability/{sku}", responses=REFUSALS)
def availability(sku: str, hub: HubDep, who: WebShop) -> dict:
    return hub.availability(sku)


@router.post("/reservations", status_code=201, responses=REFUSALS, openapi_extra=json_body(ReserveRequest))
async def reserve(request: Request, hub: HubDep, token: Token, idempotency_key: KEY) -> dict:
    """A cart hold (a `ReserveRequest`) against the hub share. The web shop's hot path: the
    token is checked in the same statement that makes the promise."""
    req = await parse_body(request, ReserveRequest)
    return await write(request, hub.reserve, idempotency_key, req.sku, req.qty, location=req.location,
                       ttl_s=req.ttl_s, token=token)


@router.post("/reservations/{reservation_id}/commit", responses=REFUSALS)
def commit(reservation_id: str, hub: HubDep, who: WebShop, idempotency_key: KEY) -> dict:
    return hub.commit(reservation_id, idempotency_key)


@router.post("/reservations/{reservation_id}/cancel", responses=REFUSALS)
def cancel(reservation_id: str, hub: HubDep, who: WebShop, idempotency_key: KEY) -> dict:
    return hub.cancel(reservation_id, idempotency_key)
