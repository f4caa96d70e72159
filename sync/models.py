"""The wire between stores and the hub, versioned. Both sides import it; it imports neither.

Ints are strict on purpose: a ledger is money and units, and `"12"` or
`true` arriving as a quantity is a bug upstream, not something to guess at.
A whole JSON number written with a point (`12.0`) is an integer to JSON
Schema, so it is taken as one; `12.5` is refused.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from datetime import date

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StringConstraints

from sync.kinds import Kind, Policy

WIRE_VERSION = 1
MAX_BATCH = 1000  # entries per push; a day offline drains in several batches
MAX_ORDERS = 1000  # web orders to hand over in one pull; more wait for the next, once these are handed over

# Bounds on every number, so what a store sends fits the hub's columns (a barcode typed into a
# quantity field is refused here, not overflowed there): units within a billion either way,
# money (minor units) within 10**15, sequences and cursors within 10**18.
MAX_UNITS = 1_000_000_000
MAX_AMOUNT = 10**15
MAX_SEQ = 10**18  # within a signed 64-bit integer, and exact as a JSON number (a double)
# An end-of-day snapshot holds a row per SKU, at most MAX_SNAPSHOT_ROWS, sent in parts of SNAPSHOT_PART_ROWS
# (a part of the longest SKUs and largest figures stays under the hub's 2 MB body limit).
MAX_SNAPSHOT_ROWS = 200_000
SNAPSHOT_PART_ROWS = 10_000
MAX_SNAPSHOT_PARTS = MAX_SNAPSHOT_ROWS // SNAPSHOT_PART_ROWS



def _whole(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


Int = Annotated[StrictInt, BeforeValidator(_whole)]  # an integer, however JSON spells it; never "12" or true


def bounded(lo: int, hi: int) -> Any:
    """An `Int` from `lo` to `hi` (the bounds go before the conversion, so the schema states them)."""
    return Annotated[StrictInt, Field(ge=lo, le=hi), BeforeValidator(_whole)]


Id = Annotated[str, StringConstraints(min_length=1, max_length=128, strip_whitespace=False)]
Stamp = Annotated[str, StringConstraints(min_length=1, max_length=40)]  # ISO-8601 UTC
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]  # ISO 3166-1 alpha-2
Count = bounded(0, MAX_UNITS)
Delta = bounded(-MAX_UNITS, MAX_UNITS)
Amount = bounded(-MAX_AMOUNT, MAX_AMOUNT)
Seq = bounded(1, MAX_SEQ)
Cursor = bounded(0, MAX_SEQ)
Units = bounded(1, MAX_UNITS)  # a quantity that must be at least one unit

EntryKind = Kind  # the wire's name for it, kept for callers


class Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LedgerEntry(Wire):
    """One entry of a store's ledger, exactly as the store wrote it."""

    seq: Seq
    store_id: Id
    op_id: Id
    kind: EntryKind
    sku: Id
    qty: Count
    floor_delta: Delta
    back_delta: Delta
    quota_delta: Delta
    held_delta: Delta
    over_quota: Count
    ref: Id | None = None
    amount: Amount
    on_hand_after: Delta
    quota_after: Count
    held_after: Count
    terminal: Id
    clerk: Id
    at: Stamp  # as written by the store
    detail: dict[str, Any] = Field(default_factory=dict)

    @property
    def on_hand_delta(self) -> int:
        return self.floor_delta + self.back_delta

    def canonical_json(self) -> str:
        """The entry as JSON that is the same for the same content.

        Fields serialise in declaration order; only `detail`, a free-form
        dict, needs its keys sorted, and a node already sends it sorted, so
        the common case costs one serialisation.
        """
        if _is_sorted(self.detail):
            return self.model_dump_json()
        return self.model_copy(update={"detail": _sorted(self.detail)}).model_dump_json()

    def content_hash(self) -> str:
        """What makes two entries under one sequence the same entry."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


def _is_sorted(value: Any) -> bool:
    # A plain loop, and scalars not recursed into: a node's detail is a flat dict of
    # scalars, and the hub runs this for every entry it takes in.
    if isinstance(value, dict):
        keys = list(value)
        if keys != sorted(keys):
            return False
        values: Any = value.values()
    elif isinstance(value, list):
        values = value
    else:
        return True
    for v in values:
        if isinstance(v, (dict, list)) and not _is_sorted(v):
            return False
    return True


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


class PushBatch(Wire):
    version: Literal[1] = WIRE_VERSION
    store_id: Id
    entries: Annotated[list[LedgerEntry], Field(min_length=1, max_length=MAX_BATCH)]


class PushResult(Wire):
    """The hub's answer to a push: how much it took and where the store should continue."""

    accepted: Count  # new entries applied
    duplicates: Count  # entries it already had, unchanged
    next_seq: Seq  # the sequence the hub expects next


class Refusal(Wire):
    """Why the hub refused a request; `code` is for programs, `message` for people."""

    code: str
    message: str
    expected_seq: int | None = None


class Grant(Wire):
    grant_id: Id
    grant_no: Seq  # gapless per store
    sku: Id
    qty: Units


class ReleaseRequest(Wire):
    request_id: Id
    sku: Id
    qty: Units


class TransferOrder(Wire):
    """Units on their way to the store that pulls this: received with `transfer in` under its id."""

    transfer_id: Id
    sku: Id
    qty: Units
    from_location: Id
    to_location: Id


class OrderToHandOver(Wire):
    """A web order the store is asked to hand over out of the hub's share there: to the customer at the
    counter (`pickup`) or to a carrier (`ship`). Handed over with an `order_handed_over` entry under its id."""

    order_id: Id
    sku: Id
    qty: Units
    how: Literal["pickup", "ship"]


class CatalogItem(Wire):
    sku: Id
    gtin: Id
    name: str
    price: Count  # minor units, tax included
    perishable: bool = False
    shelf_life_days: int | None = None
    case_gtin: str | None = None
    pack_qty: Units = 1
    in_store: bool = False
    safety_buffer: Count = 0


class LocationInfo(Wire):
    id: Id
    name: str
    kind: Literal["store", "warehouse"]


class ChainStock(Wire):
    """Another location's figures for "check in the back", true as of `as_of`."""

    location: Id
    sku: Id
    on_hand: Int
    available: Int
    as_of: str


class PullResponse(Wire):
    version: Literal[1] = WIRE_VERSION
    cursor: Cursor  # give it back next time to get only what is new; it goes back if the hub restarted the feed
    # The store's sequence the hub expects next: a node whose own ledger ends before
    # `next_seq - 1` was restored from an old copy and must recover the tail first.
    next_seq: Seq | None = None
    grants: list[Grant] = []
    release_requests: list[ReleaseRequest] = []
    transfers: list[TransferOrder] = []
    catalog: list[CatalogItem] = []
    locations: list[LocationInfo] = []
    chain_stock: list[ChainStock] = []
    more: bool = False  # there is more to pull right away
    # Every web order this store is asked to hand over now, oldest first, on every page. A full list
    # (fewer than MAX_ORDERS) is the whole truth: an order pulled before and missing now was cancelled
    # or moved, and must not be handed over.
    orders_to_hand_over: Annotated[list[OrderToHandOver], Field(max_length=MAX_ORDERS)] = []


class LedgerTail(Wire):
    """The hub's copy of a store's own ledger after a sequence: how a restored node gets back what it lost."""

    entries: list[LedgerEntry]
    next_seq: Seq  # the sequence the hub expects next
    more: bool = False


class StoreOpening(Wire):
    """Everything a node needs to start as a store (or to restore a replaced machine)."""

    store_id: Id
    name: str
    policy: Policy
    catalog: list[CatalogItem]
    locations: list[LocationInfo]
    stock: list[tuple[str, str, int, int]]  # sku, bin, on_hand, quota
    ledger: list[LedgerEntry] = []  # the hub's copy, for a replaced machine
    # Whose layout the chain's in-store (price and weight) codes are printed in; None: the node keeps its own.
    rcn_country: Country | None = None
    next_grant_no: int = 1


BusinessDate = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]  # YYYY-MM-DD, the store's local day
# sku, floor, back, quota, held; then the units and times walk-ins were turned away for want of quota that
# business date (refused strict sales, none of them in the ledger). A row of five (a node from before) means 0, 0.
SnapshotRow = tuple[Id, Count, Count, Count, Count] | tuple[Id, Count, Count, Count, Count, Count, Count]


class Signature(Wire):
    """Who signed a snapshot off: the terminal and clerk (the runner's own, when its schedule took it)."""

    terminal: Id
    clerk: Id


class DaySnapshot(Wire):
    """One part of a store's end-of-day snapshot: every SKU's on hand by bin, quota and held units as the
    balances after ledger entry `last_seq` (0: before any entry), for business date `business_date`.

    A snapshot of `row_count` rows is sent as `parts` parts, in SKU order, each of exactly
    SNAPSHOT_PART_ROWS rows but the last (one empty part for no rows); every part repeats the header.
    The split is fixed, so a part sent again is the same part (`problem` says what breaks it)."""

    version: Literal[1] = WIRE_VERSION
    store_id: Id
    business_date: BusinessDate
    last_seq: Cursor
    taken_at: Stamp
    signed_by: Signature
    row_count: bounded(0, MAX_SNAPSHOT_ROWS)
    part: bounded(1, MAX_SNAPSHOT_PARTS)
    parts: bounded(1, MAX_SNAPSHOT_PARTS)
    rows: Annotated[list[SnapshotRow], Field(max_length=SNAPSHOT_PART_ROWS)]

    def problem(self) -> str | None:
        """What does not add up in this part (its date, its place in the split, its rows' order), in words;
        None if nothing. Not a validator: the schema cannot say these, and a request the schema allows is
        refused by the hub as a conflict, not as malformed."""
        try:
            date.fromisoformat(self.business_date)
        except ValueError:
            return f"business date {self.business_date} is not a calendar date"
        parts = max(1, -(-self.row_count // SNAPSHOT_PART_ROWS))
        if self.parts != parts:
            return f"{self.row_count} rows are sent as {parts} parts of at most {SNAPSHOT_PART_ROWS}, not {self.parts}"
        if self.part > self.parts:
            return f"part {self.part} of {self.parts} does not exist"
        want = min(SNAPSHOT_PART_ROWS, self.row_count - (self.part - 1) * SNAPSHOT_PART_ROWS)
        if len(self.rows) != want:
            return f"part {self.part} of {self.parts} holds {want} rows, not {len(self.rows)}"
        skus = [r[0] for r in self.rows]
        if any(a >= b for a, b in zip(skus, skus[1:], strict=False)):
            return "a part's rows are in SKU order, each SKU once"
        return None


class SnapshotReceipt(Wire):
    """The hub's answer to a part: how many parts it holds, and where the snapshot stands: `incomplete`
    (parts missing), `waiting` (whole; the hub holds entries only up to before `last_seq` yet),
    `compared` (with the hub's copy of the ledger up to `last_seq`; `differences` SKUs differ)."""

    store_id: Id
    business_date: BusinessDate
    parts_in: Count
    parts: Count
    status: Literal["incomplete", "waiting", "compared"]
    differences: Count | None = None
