"""The nightly report as data: these models are its documented schema (`Report.model_json_schema()`).

Units are whole units; money is in minor units (cents), tax included, at the catalog's retail price.
Sign convention, everywhere: a movement is signed as it moves the book (+ into stock, - out of it);
a variance, a write-off and shrink are negative for a loss and positive for a gain.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

SIGN_CONVENTION = ("Negative means loss, everywhere: a variance, a write-off and shrink are negative for units "
                   "gone and positive for units found. In the roll-forward each movement is signed as it moves "
                   "the book: + into stock, - out of it, so every row reads opening + movements = closing.")


class Row(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Completeness(Row):
    store_id: str
    name: str
    tz: str
    day_start: str  # the store's business day, [day_start, day_end) in UTC
    day_end: str
    last_seq: int  # the last entry the hub holds
    last_entry_at: str | None  # when the store wrote it
    last_sync: str | None  # the last time the store pushed
    snapshot: bool | None  # its end-of-day snapshot for the date arrived whole (None: a report made before snapshots)
    partial: bool  # the hub has not heard from the store since its day closed: entries may be missing
    why: str
    # The end-of-day snapshot: missing | incomplete (parts missing) | waiting (whole; the hub does not hold the
    # entries up to its sequence yet) | compared (with the ledger up to snapshot_seq; snapshot_differences SKUs differ)
    snapshot_status: str = "missing"
    snapshot_taken_at: str | None = None  # when the store took it
    snapshot_seq: int | None = None  # the last ledger entry it covers
    snapshot_signed_by: str | None = None  # terminal/clerk
    snapshot_differences: int | None = None  # SKUs that differ from the ledger; None until compared
    snapshot_note: str = "missing"  # in words: "received (at ..., seq N)..." or "missing"


class RollForward(Row):
    store_id: str
    opening: int
    received: int
    transfers_in: int
    transfers_out: int
    sold: int
    returned: int
    counts: int
    written_off: int
    handed_over: int  # web orders handed over at the store
    other: int  # anything else that moved on hand (0 unless a new kind appears)
    closing: int  # opening + every movement
    ledger_closing: int  # the sum of every entry's on-hand change up to the day's end, read separately
    ties: bool  # closing == ledger_closing
    skus: int  # rows summed, zero and negative ones included
    zero_rows: int
    negative_rows: int
    partial: bool


class SkuRollForward(Row):
    store_id: str
    sku: str
    opening: int
    received: int
    transfers_in: int
    transfers_out: int
    sold: int
    returned: int
    counts: int
    written_off: int
    handed_over: int
    other: int
    closing: int


class Kpis(Row):
    sales_units: int = 0
    sales_revenue: int = 0
    returns_units: int = 0
    returns_value: int = 0  # refunded: negative
    shrink_units: int = 0  # counts and write-offs: negative = loss
    shrink_value: int = 0
    shrink_pct: float | None = None  # shrink value over sales revenue, %; None with no sales
    accuracy_pct: float | None = None  # counted SKUs within tolerance, %; None with no counts
    counted_skus: int = 0
    over_quota_units: int = 0  # units sold past quota
    at_risk_orders: int = 0  # web orders and reservations at risk, as the report was made
    divergences: int = 0  # divergences recorded in the day
    # Units walk-ins were turned away for want of quota, over the stores whose end-of-day snapshot arrived
    # (the notes name any missing); None when none arrived, or in a report made before they were counted.
    refused_walk_ins: int | None = None


class Tile(Row):
    key: str
    label: str
    value: float | None
    previous: float | None
    change: float | None  # value - previous
    unit: str  # units | money | pct | count


class Shrink(Row):
    store_id: str
    sales_revenue: int
    shrink_units: int  # counts and write-offs: negative = loss
    shrink_value: int
    shrink_pct: float | None  # of sales revenue; None with no sales


class Variance(Row):
    store_id: str
    sku: str
    name: str
    units: int  # negative = loss
    value: int
    last_counted: str | None


class VarianceTotals(Row):
    store_id: str
    loss_units: int
    loss_value: int
    gain_units: int
    gain_value: int


class WriteOff(Row):
    store_id: str
    reason: str  # damaged | expired | lost | count
    units: int  # negative = loss
    value: int


class Holds(Row):
    store_id: str
    placed: int
    converted: int
    expired: int
    released: int


class Quota(Row):
    store_id: str
    granted: int
    released: int
    used: int  # units sold within quota
    stranded: int  # quota left at close on SKUs that sold nothing that day
    over_quota_sales: int
    # Walk-ins turned away for want of quota (refused strict sales, scans the till refused for it), units and
    # times, from the store's end-of-day snapshot; None while no whole snapshot of the day has arrived.
    refused_walk_ins: int | None
    refused_walk_in_times: int | None = None


class Move(Row):
    store_id: str
    sku: str
    kind: str
    qty: int
    outcome: str
    reason: str
    at: str


class Web(Row):
    location: str
    reservations: int  # made in the day
    orders: int  # of those, committed
    fulfilled: int  # of those, done by the time the report was made
    at_risk: int  # open ones at risk now
    resourced: int | None  # orders ops re-sourced away from here in the day (None: a report made before it was kept)


class SoldOut(Row):
    store_id: str
    sku: str
    sold_out_at: str
    hours_out: float  # hours of the business day at zero or below


class ExplainingEntry(Row):
    """A ledger entry that explains a snapshot difference: what it did and the store's balances after it."""

    seq: int
    kind: str
    qty: int
    at: str
    on_hand_after: int
    quota_after: int
    held_after: int
    terminal: str
    clerk: str


class Exception_(Row):
    store_id: str
    kind: str  # sequence_gap | divergence | negative_stock | snapshot_difference | sync_stall | incident kinds
    seq: int | None  # a snapshot difference: the snapshot's sequence
    message: str
    at: str | None
    sku: str | None = None  # a snapshot difference's SKU
    # A snapshot difference: the SKU's last entries up to the snapshot's sequence, oldest first (in the CSV, as JSON)
    entries: list[ExplainingEntry] = Field(default_factory=list)


class TrendPoint(Row):
    business_date: str
    sales_units: int | None
    shrink_units: int | None
    over_quota_units: int | None


class Report(Row):
    business_date: str
    scope: str  # "chain" or a store id
    revision: int
    made_at: str
    sign_convention: str = SIGN_CONVENTION
    partial: bool
    completeness: list[Completeness]
    kpis: Kpis
    previous_kpis: Kpis | None  # the day before, same scope
    tiles: list[Tile]
    roll_forward: list[RollForward]  # one row per store, and a last row "chain" summing them
    roll_forward_skus: list[SkuRollForward] = Field(default_factory=list)  # a one-store report: every SKU row
    shrink: list[Shrink]  # per store
    variance_top: list[Variance]  # top 20 by retail value of the variance
    variance_totals: list[VarianceTotals]
    write_offs: list[WriteOff]
    holds: list[Holds]
    quota: list[Quota]
    moves: list[Move]
    moves_note: str
    web: list[Web]
    sold_out: list[SoldOut]
    exceptions: list[Exception_]
    trend: list[TrendPoint]
    notes: list[str]
    changes: list[str] = Field(default_factory=list)  # what changed since the previous revision


TABLES = ("completeness", "tiles", "roll_forward", "roll_forward_skus", "shrink", "variance_top", "variance_totals",
          "write_offs", "holds", "quota", "moves", "web", "sold_out", "exceptions", "trend")
