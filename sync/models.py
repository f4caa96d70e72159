"""The wire between stores and the hub, versioned. Both sides import it; it imports neither.

Every wire name is importable from here. The building blocks (bounded
numbers and ids, the `Wire` base) are in `sync.fields`; a store's ledger on
the wire (entries, pushes, the hub's copy) in `sync.ledger`. This module
holds the rest: refusals, what a pull brings, a store's opening and the
end-of-day snapshot.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from sync.fields import (  # noqa: F401 - re-exported: every wire name is importable from sync.models
    MAX_AMOUNT,
    MAX_SEQ,
    MAX_UNITS,
    WIRE_VERSION,
    Amount,
    Count,
    Country,
    Cursor,
    Delta,
    Id,
    Int,
    Seq,
    Stamp,
    Units,
    Wire,
    bounded,
)
from sync.kinds import Policy
from sync.ledger import (  # noqa: F401 - re-exported
    MAX_BATCH,
    EntryKind,
    LedgerEntry,
    LedgerTail,
    PushBatch,
    PushResult,
)

MAX_ORDERS = 1000  # web orders to hand over in one pull; more wait for the next, once these are handed over
# An end-of-day snapshot holds a row per SKU, at most MAX_SNAPSHOT_ROWS, sent in parts of SNAPSHOT_PART_ROWS
# (a part of the longest SKUs and largest figures stays under the hub's 2 MB body limit).
MAX_SNAPSHOT_ROWS = 200_000
SNAPSHOT_PART_ROWS = 10_000
MAX_SNAPSHOT_PARTS = MAX_SNAPSHOT_ROWS // SNAPSHOT_PART_ROWS


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
