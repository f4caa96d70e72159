"""Routes for the balancer, for central ops: passes and what they did, pins, switches, promos, proposals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, Strict, StrictBool

from hub.api.errors import BUSY, MALFORMED, TOO_LARGE, UNAUTHENTICATED
from hub.deps import HubDep, NoBody, Ops, json_body, off_loop, only_query, parse_body
from sync.models import MAX_UNITS, bounded

router = APIRouter(prefix="/ops", tags=["balance"])

REFUSALS = {**UNAUTHENTICATED, 403: {"description": "not an ops token"},
            404: {"description": "unknown store, SKU, pin, promo or transfer proposal"},
            409: {"description": "a balancer pass is running now, the proposal was decided already, the "
                                 "warehouse can no longer send it, or a pin is above what may be the store's quota"},
            **TOO_LARGE, **MALFORMED, **BUSY}

StoreId = Annotated[str, Path(min_length=1, max_length=32)]
Sku = Annotated[str, Path(min_length=1, max_length=64)]
Limit = Annotated[int, Query(ge=1, le=5000)]


class RebalanceAsk(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dry_run: StrictBool = False  # return the moves a pass would make now, and write nothing
    full: StrictBool = False  # plan every SKU, not only the spots that changed since the last pass


class PinAsk(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quota: bounded(0, MAX_UNITS)


_YEARS = r"^(19\d\d|[2-8]\d\d\d|9[0-8]\d\d|99[0-8]\d|999[0-7])-"  # 1900-9997: a year on, any zone is a stamp


def _in_years(t: datetime) -> datetime:
    """A promo's start as typed, in the years the document allows (`_YEARS`), refused rather than moved."""
    if not 1900 <= t.year <= 9997:
        raise ValueError(f"a promo starts between the years 1900 and 9997, not in {t.year}")
    return t


class PromoAsk(BaseModel):
    """`sku` sells `factor` times its usual rate at `store_id` for `hours` from `starts_at` (None: every SKU,
    every store)."""

    model_config = ConfigDict(extra="forbid")
    sku: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    store_id: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    starts_at: Annotated[AwareDatetime, Strict(), AfterValidator(_in_years),
                         Field(json_schema_extra={"pattern": _YEARS})]
    hours: Annotated[float, Strict(), Field(ge=0.01, le=24 * 366, allow_inf_nan=False)]
    factor: Annotated[float, Strict(), Field(ge=0.01, le=100, allow_inf_nan=False)]
    note: Annotated[str, Field(max_length=200)] = ""

    def span(self) -> tuple[datetime, datetime]:
        start = self.starts_at.astimezone(UTC)
        return start, start + timedelta(hours=self.hours)


@router.post("/rebalance", responses=REFUSALS, openapi_extra=json_body(RebalanceAsk, optional=True))
async def rebalance(request: Request, hub: HubDep, who: Ops, limit: Limit = 500) -> dict:
    """Run a balancer pass now (a `RebalanceAsk`; no body: a pass of what changed): the moves it made (the
    first `limit`), each with its reason. 409 while another pass is running. A dry run writes nothing."""
    only_query(request, "limit")
    ask = await parse_body(request, RebalanceAsk, optional=True)
    done = await off_loop(request, hub.rebalance, dry_run=ask.dry_run, full=ask.full or None)
    return {**done, "moves": done["moves"][:limit], "more_moves": len(done["moves"]) > limit}


@router.get("/balance", responses=REFUSALS)
def balance(hub: HubDep, who: Ops, limit: Limit = 200,
            offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> dict:
    """The last pass (which process ran it, when, what it counted), a page of its moves with their reasons,
    the passes before it, and the top-ups made at stores' pulls since it started."""
    return hub.balance_view(limit, offset)


@router.get("/balance/settings", responses=REFUSALS)
def balance_settings(hub: HubDep, who: Ops) -> dict:
    """Pinned quotas, and the stores and SKUs the balancer is switched off for."""
    return hub.balancer_settings()


@router.put("/balance/pins/{store_id}/{sku}", responses=REFUSALS, openapi_extra=json_body(PinAsk))
async def pin(store_id: StoreId, sku: Sku, request: Request, hub: HubDep, who: Ops) -> dict:
    """Pin the store's quota of the SKU (a `PinAsk`): each pass brings it to the pin, and no band moves it until
    it is unpinned. A pin above what may be the store's quota (its units no hold or web order has) is refused."""
    ask = await parse_body(request, PinAsk)
    return await off_loop(request, hub.pin, store_id, sku, ask.quota)


@router.delete("/balance/pins/{store_id}/{sku}", responses=REFUSALS, dependencies=[NoBody])
def unpin(store_id: StoreId, sku: Sku, hub: HubDep, who: Ops) -> dict:
    return hub.unpin(store_id, sku)


@router.put("/balance/off/{scope}/{key}", responses=REFUSALS, dependencies=[NoBody])
def switch_off(scope: Literal["stores", "skus"], key: Sku, hub: HubDep, who: Ops) -> dict:
    """Switch the balancer off for a store (`stores/S001`) or a SKU (`skus/SKU000001`)."""
    return hub.switch_balancer(scope[:-1], key, on=False)


@router.delete("/balance/off/{scope}/{key}", responses=REFUSALS, dependencies=[NoBody])
def switch_on(scope: Literal["stores", "skus"], key: Sku, hub: HubDep, who: Ops) -> dict:
    """Switch the balancer back on for a store or a SKU."""
    return hub.switch_balancer(scope[:-1], key, on=True)


@router.get("/promos", responses=REFUSALS)
def promos(hub: HubDep, who: Ops, ended_too: bool = False, limit: Limit = 500) -> list[dict]:
    """The promo calendar: promos not yet over (or all of them), by start."""
    return hub.promos(ended_too=ended_too, limit=limit)


@router.post("/promos", status_code=201, responses=REFUSALS, openapi_extra=json_body(PromoAsk))
async def add_promo(request: Request, hub: HubDep, who: Ops) -> dict:
    """Add a promo (a `PromoAsk`); the next pass forecasts the SKUs and stores it touches with it."""
    ask = await parse_body(request, PromoAsk)
    start, end = ask.span()
    return await off_loop(request, hub.add_promo, starts_at=start, ends_at=end, factor=ask.factor, sku=ask.sku,
                          store_id=ask.store_id, note=ask.note)


@router.delete("/promos/{promo_id}", responses=REFUSALS, dependencies=[NoBody])
def delete_promo(promo_id: Annotated[str, Path(min_length=1, max_length=64)], hub: HubDep, who: Ops) -> dict:
    return hub.delete_promo(promo_id)


@router.get("/balance/proposals", responses=REFUSALS)
def proposals(hub: HubDep, who: Ops, status: Literal["open", "accepted", "dismissed", "superseded"] = "open",
              limit: Limit = 500) -> list[dict]:
    """Transfers the balancer proposes: stock sitting at one location that another will run out of."""
    return hub.proposals(status, limit)


@router.post("/balance/proposals/{proposal_id}/{decision}", responses=REFUSALS, dependencies=[NoBody])
def decide(proposal_id: Annotated[str, Path(min_length=1, max_length=64)], decision: Literal["accept", "dismiss"],
           hub: HubDep, who: Ops) -> dict:
    """Accept a proposal (from the warehouse: the hub ships it now; from a store: what that store must send) or
    dismiss it; 409 if it was decided already. Either way the same move is not proposed again for a day."""
    return hub.decide_proposal(proposal_id, accept=decision == "accept")
