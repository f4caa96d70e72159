"""Routes for store nodes: opening, push (ledger), pull, end-of-day snapshots."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.exceptions import RequestValidationError

from hub.api.errors import BUSY, MALFORMED, TOO_LARGE, UNAUTHENTICATED, describe_invalid
from hub.deps import HubDep, StoreCaller, Token, json_body, off_loop, parse_body, write
from sync.models import (
    MAX_SEQ, DaySnapshot, LedgerTail, PullResponse, PushBatch, PushResult, SnapshotReceipt, StoreOpening,
)

router = APIRouter(prefix="/stores", tags=["stores"])


REFUSALS = {**UNAUTHENTICATED, 403: {"description": "not this store's token (nor ops')"},
            404: {"description": "unknown store, or an entry's unknown SKU"},
            409: {"description": "gap (says the sequence expected), divergence, or two entries under one sequence"},
            **TOO_LARGE, **MALFORMED, **BUSY}


@router.post("/{store_id}/ledger", response_model=PushResult, responses=REFUSALS, openapi_extra=json_body(PushBatch))
async def push(store_id: str, request: Request, hub: HubDep, token: Token) -> PushResult:
    """A batch of the store's ledger (a `PushBatch`). Only the store itself pushes its ledger;
    its token is checked in the same transaction that applies the batch."""
    try:
        batch = await parse_body(request, PushBatch)
    except RequestValidationError as err:
        await off_loop(request, hub.record_push_refusal, store_id, describe_invalid(err), token=token)
        raise
    return await write(request, hub.ingest, store_id, batch, token=token)


@router.get("/{store_id}/ledger", response_model=LedgerTail, responses=REFUSALS)
def ledger_tail(store_id: str, hub: HubDep, who: StoreCaller, after: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
                limit: Annotated[int, Query(ge=1, le=1000)] = 500) -> LedgerTail:
    """The hub's copy of the store's own entries after `after`, for a node restored from an old copy."""
    return hub.ledger_tail(store_id, after, limit)


@router.get("/{store_id}/pull", response_model=PullResponse, responses=REFUSALS)
def pull(store_id: str, hub: HubDep, who: StoreCaller,
         cursor: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0, limit: Annotated[int, Query(ge=1, le=10_000)] = 2000) -> PullResponse:
    return hub.pull(store_id, cursor, limit)


@router.get("/{store_id}/opening", response_model=StoreOpening, responses=REFUSALS)
def opening(store_id: str, hub: HubDep, who: StoreCaller) -> StoreOpening:
    return hub.opening(store_id)


SNAPSHOT_REFUSALS = {**UNAUTHENTICATED, 403: {"description": "not this store's token"},
                     404: {"description": "unknown store"},
                     409: {"description": "another snapshot (or other rows for this part) is held for that date, "
                                          "or the part does not add up (its date, its place among the parts, "
                                          "its rows' order)"},
                     **TOO_LARGE, **MALFORMED, **BUSY}


@router.put("/{store_id}/snapshots/{day}", response_model=SnapshotReceipt, responses=SNAPSHOT_REFUSALS,
            openapi_extra=json_body(DaySnapshot))
async def put_snapshot(store_id: str, day: Annotated[str, Path(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                                                               description="the business date, YYYY-MM-DD")],
                       request: Request, hub: HubDep, token: Token) -> SnapshotReceipt:
    """One part of the store's end-of-day snapshot (a `DaySnapshot`), sent by the store itself. A part the
    hub holds already is a repeat and changes nothing. Once whole, it is compared with the hub's copy of the
    store's ledger up to its sequence (now, or when those entries arrive); the nightly report shows it."""
    part = await parse_body(request, DaySnapshot)
    return await off_loop(request, hub.put_snapshot, store_id, day, part, token=token)
