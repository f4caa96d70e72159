"""Routes for the web shop: availability, cart holds (reserve, commit, cancel) and orders (status, ship,
pick up, cancel)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from hub.api.errors import BUSY, MALFORMED, TOO_LARGE, UNAUTHENTICATED
from hub.deps import HubDep, NoBody, Token, WebShop, json_body, parse_body, write
from sync.models import bounded

router = APIRouter(prefix="/web", tags=["web shop"])

KEY = Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=200)]
MAYBE_KEY = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)]
ORDER_ID = Annotated[str, Path(min_length=1, max_length=64, description="the reservation's id, kept by its order")]
REFUSALS = {**UNAUTHENTICATED, 403: {"description": "not a web or ops token"},
            404: {"description": "unknown SKU, location or reservation"},
            409: {"description": "not enough to promise, the reservation's state forbids it (an order cannot "
                                 "expire, a cancelled one cannot become an order), or the idempotency key was "
                                 "used for another request"},
            **TOO_LARGE, **MALFORMED, **BUSY}


def _not_blank(location: str) -> str:
    # Blank is not "anywhere": a web shop that sends "" has lost the location it meant.
    if not location.strip():
        raise PydanticCustomError("blank", "a location id cannot be blank; leave location out to reserve "
                                           "wherever most can be promised")
    return location


# The schema's pattern says what _not_blank checks, so a client generated from it knows.
LOCATION = Annotated[str, Field(min_length=1, max_length=32, json_schema_extra={"pattern": r"\S"}),
                     AfterValidator(_not_blank)]


class ReserveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=64)
    qty: bounded(1, 10_000)
    location: LOCATION | None = Field(default=None, description="where to reserve: a location id; left out, "
                                                                "wherever most can be promised")
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


@router.post("/reservations/{reservation_id}/commit", responses=REFUSALS, dependencies=[NoBody])
def commit(reservation_id: str, hub: HubDep, who: WebShop, idempotency_key: KEY) -> dict:
    return hub.commit(reservation_id, idempotency_key)


@router.post("/reservations/{reservation_id}/cancel", responses=REFUSALS, dependencies=[NoBody])
def cancel(reservation_id: str, hub: HubDep, who: WebShop, idempotency_key: KEY) -> dict:
    return hub.cancel(reservation_id, idempotency_key)


# Orders after checkout. Each answers the order as it stands (`order_id`, `status`: ordered, to_hand_over
# (its store is asked to hand it over), done, cancelled; `location`, `sku`, `qty`, `at_risk`, `how`).
# Asking again changes nothing, with or without an Idempotency-Key. Once an order is to be shipped or
# picked up, the other is refused: its store may have acted on the first already.
ORDER_REFUSALS = {**REFUSALS, 404: {"description": "unknown order"},
                  409: {"description": "the order's state forbids it: a cart hold not yet committed, cancelled or "
                                       "expired, handed over already (it cannot be cancelled), asked of its store "
                                       "the other way already (to be shipped, or picked up: cancel it and order "
                                       "again), or picked up where there is no counter (a warehouse); or the "
                                       "idempotency key was used for another request"}}


@router.get("/orders/{order_id}", responses=ORDER_REFUSALS)
def order(order_id: ORDER_ID, hub: HubDep, who: WebShop) -> dict:
    return hub.order(order_id)


@router.post("/orders/{order_id}/ship", responses=ORDER_REFUSALS, dependencies=[NoBody])
def ship(order_id: ORDER_ID, hub: HubDep, who: WebShop, idempotency_key: MAYBE_KEY = None) -> dict:
    """Ship the order: from the warehouse now (done); from a store, asked of it (to_hand_over): its
    next pull lists the order, and its hand-over entry makes it done. Not once it is to be picked up."""
    return hub.fulfil(order_id, "ship", idempotency_key)


@router.post("/orders/{order_id}/pickup", responses=ORDER_REFUSALS, dependencies=[NoBody])
def pickup(order_id: ORDER_ID, hub: HubDep, who: WebShop, idempotency_key: MAYBE_KEY = None) -> dict:
    """The customer collects the order at its store (to_hand_over): the store's next pull lists it,
    and the clerk's hand-over makes it done. Not once it is to be shipped."""
    return hub.fulfil(order_id, "pickup", idempotency_key)


@router.post("/orders/{order_id}/cancel", responses=ORDER_REFUSALS, dependencies=[NoBody])
def cancel_order(order_id: ORDER_ID, hub: HubDep, who: WebShop, idempotency_key: MAYBE_KEY = None) -> dict:
    """Cancel the order: its units return to the hub's share. Not once it was handed over."""
    return hub.cancel_order(order_id, idempotency_key)
