"""The hub's tables (SQLAlchemy Core), as the newest migration leaves them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger, Boolean, Column, Float, Index, Integer, MetaData, String, Table, Text, UniqueConstraint,
)

from sync.kinds import Policy

metadata = MetaData()

locations = Table(
    "locations", metadata,
    Column("id", String(32), primary_key=True),
    Column("name", Text, nullable=False),
    Column("kind", String(16), nullable=False),  # store | warehouse
    Column("policy", String(16), nullable=False, default=Policy.IN_HAND.value),
    Column("next_seq", BigInteger, nullable=False, default=1),  # the store entry the hub expects next
    Column("next_grant_no", BigInteger, nullable=False, default=1),
    Column("last_seen", String(40)),
    Column("blocked", Boolean, nullable=False, default=False),  # open divergence: no grants
    Column("tz", String(64), nullable=False, default="UTC", server_default="UTC"),  # IANA zone: the store's business day (the report)
)

items = Table(
    "items", metadata,
    Column("sku", String(64), primary_key=True),
    Column("gtin", String(14), nullable=False),
    Column("name", Text, nullable=False),
    Column("price", Integer, nullable=False),
    Column("perishable", Boolean, nullable=False, default=False),
    Column("shelf_life_days", Integer),
    Column("case_gtin", String(14)),
    Column("pack_qty", Integer, nullable=False, default=1),
    Column("in_store", Boolean, nullable=False, default=False),
    Column("safety_buffer", Integer, nullable=False, default=0),
    Column("feed_id", BigInteger, nullable=False, default=0),  # changefeed id of its last change
)

positions = Table(
    "positions", metadata,
    Column("location", String(32), primary_key=True),
    Column("sku", String(64), primary_key=True),
    Column("on_hand", BigInteger, nullable=False, default=0),
    Column("quota", BigInteger, nullable=False, default=0),
    Column("held", BigInteger, nullable=False, default=0),
    Column("in_flight", BigInteger, nullable=False, default=0),
    Column("hub_share", BigInteger, nullable=False, default=0),
    Column("reserved", BigInteger, nullable=False, default=0),
    Column("shortfall", BigInteger, nullable=False, default=0),
    Column("safety_buffer", BigInteger, nullable=False, default=0),
    Index("positions_sku", "sku"),  # a SKU at every location (the balancer, the web shop's sourcing)
)

opening_stock = Table(
    "opening_stock", metadata,
    Column("location", String(32), primary_key=True),
    Column("sku", String(64), primary_key=True),
    Column("bin", String(16), primary_key=True),
    Column("qty", Integer, nullable=False),
    Column("quota", Integer, nullable=False),
)

store_entries = Table(
    "store_entries", metadata,
    Column("store_id", String(32), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("hash", String(64), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("qty", Integer, nullable=False),
    Column("on_hand_delta", Integer, nullable=False),
    Column("quota_delta", Integer, nullable=False),
    Column("held_delta", Integer, nullable=False),
    Column("over_quota", Integer, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("at", String(40), nullable=False),
    Column("body", Text, nullable=False),  # the entry as the store sent it (JSON)
    Index("store_entries_sku", "store_id", "sku", "seq"),  # a SKU's entries at a store in order (the report)
)

grants = Table(
    "grants", metadata,
    Column("grant_id", String(64), primary_key=True),
    Column("store_id", String(32), nullable=False),
    Column("grant_no", BigInteger, nullable=False),
    Column("sku", String(64), nullable=False),
    Column("qty", Integer, nullable=False),
    Column("status", String(16), nullable=False, default="in_flight"),  # in_flight | applied
    Column("created_at", String(40), nullable=False),
    UniqueConstraint("store_id", "grant_no"),
)

release_requests = Table(
    "release_requests", metadata,
    Column("request_id", String(64), primary_key=True),
    Column("store_id", String(32), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("qty", Integer, nullable=False),
    Column("status", String(16), nullable=False, default="open"),  # open | answered | withdrawn (to be sent instead)
    Column("released", Integer),
    Column("created_at", String(40), nullable=False),
    Index("release_requests_open", "status", "store_id"),  # the open ones (the balancer; a store's pull)
)

reservations = Table(
    "reservations", metadata,
    Column("reservation_id", String(64), primary_key=True),
    Column("location", String(32), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("qty", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # held | ordered | to_hand_over | done | cancelled | expired
    Column("expires_at", String(40)),
    Column("at_risk", Boolean, nullable=False, default=False),
    Column("created_at", String(40), nullable=False),
    Column("how", String(16)),  # an order's fulfilment once asked for: pickup | ship
    Index("reservations_open", "status", "expires_at"),
    Index("reservations_at", "location", "sku"),
    Index("reservations_to_hand_over", "location", "status"),  # a store's pull lists its orders to hand over
)

incidents = Table(
    "incidents", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("store_id", String(32), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("seq", BigInteger),
    Column("message", Text, nullable=False),
    Column("at", String(40), nullable=False),
    Column("cleared_at", String(40)),
)

# An ordered, resumable feed of stock changes: written in the same
# transaction as the change itself (a transactional outbox). Readers page by
# `position`, not `id`: an id is drawn before its transaction commits, so on
# PostgreSQL a row can commit after a higher id was read and a cursor would
# pass it by. Rows are written without a position; `assign_feed_positions`
# numbers committed rows, one step at a time, so positions follow commits.
changefeed = Table(
    "changefeed", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("position", BigInteger, unique=True),
    Column("location", String(32), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # level | sold_out | back_in_stock | catalog
    Column("on_hand", BigInteger, nullable=False),
    Column("available", BigInteger, nullable=False),
    Column("at", String(40), nullable=False),
)

tokens = Table(
    "tokens", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("role", String(16), nullable=False),  # store | ops | web
    Column("store_id", String(32)),
    Column("created_at", String(40), nullable=False),
    Column("revoked_at", String(40)),
)

idempotency = Table(
    "idempotency", metadata,
    Column("key", String(220), primary_key=True),  # the caller's key (up to 200) after its purpose
    Column("response", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
)

# Units on their way between two stores: the sender's transfer_out entry opens one,
# the receiver's transfer_in entry (same id) closes it; the receiver's pull lists it.
transfers = Table(
    "transfers", metadata,
    Column("transfer_id", String(128), primary_key=True),  # a store's id (the wire's Id)
    Column("from_location", String(32), nullable=False),
    Column("to_location", String(32), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("qty", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # in_transit | received
    Column("sent_at", String(40), nullable=False),
    Index("transfers_to", "to_location", "status"),
)

# -- the balancer (hub/service/balance*.py): ops' settings for it, its runs, what it keeps between passes --

balance_pins = Table(  # ops pinned a store's quota of a SKU: the balancer moves no quota there
    "balance_pins", metadata,
    Column("store_id", String(32), primary_key=True),
    Column("sku", String(64), primary_key=True),
    Column("quota", BigInteger, nullable=False),
    Column("at", String(40), nullable=False),
)

balance_off = Table(  # the balancer switched off for a whole store or a whole SKU
    "balance_off", metadata,
    Column("scope", String(8), primary_key=True),  # store | sku
    Column("key", String(64), primary_key=True),
    Column("at", String(40), nullable=False),
)

promos = Table(  # the promo calendar: a SKU (or all) at a store (or all) sells `factor` times its rate
    "promos", metadata,
    Column("promo_id", String(64), primary_key=True),
    Column("sku", String(64)),
    Column("store_id", String(32)),
    Column("starts_at", String(40), nullable=False),
    Column("ends_at", String(40), nullable=False),
    Column("factor", Float, nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
)

balance_runs = Table(
    "balance_runs", metadata,
    Column("run_id", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),  # the hub process that ran it
    Column("started_at", String(40), nullable=False),
    Column("finished_at", String(40)),
    Column("status", String(16), nullable=False),  # running | done | failed
    Column("full_pass", Boolean, nullable=False),  # every SKU planned, or only the spots that changed
    Column("feed_cursor", BigInteger, nullable=False),  # the changefeed position it had read to
    Column("spots", Integer, nullable=False, default=0),  # spots planned
    Column("grants", Integer, nullable=False, default=0),
    Column("releases", Integer, nullable=False, default=0),
    Column("transfers", Integer, nullable=False, default=0),
    Column("skipped", Integer, nullable=False, default=0),  # moves the hub's records no longer allowed
    Column("message", Text),
    Index("balance_runs_started", "started_at"),
)

balance_moves = Table(  # every move a run (or a store's pull) made, why, and what became of it
    "balance_moves", metadata,
    Column("move_id", String(96), primary_key=True),
    Column("run_id", String(64)),  # None: a top-up made in a store's pull
    Column("kind", String(16), nullable=False),  # grant | release | transfer
    Column("store_id", String(32), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("qty", Integer, nullable=False),
    Column("source", String(32)),  # a transfer's source
    Column("reason", Text, nullable=False),
    Column("outcome", String(16), nullable=False),  # granted | asked | proposed | skipped
    Column("ref", String(128)),  # the grant id, release request id or transfer proposal id; why, if skipped
    Column("at", String(40), nullable=False),
    Index("balance_moves_run", "run_id"),
)

transfer_proposals = Table(  # physical moves the balancer suggests; ops accept or dismiss them
    "transfer_proposals", metadata,
    Column("proposal_id", String(64), primary_key=True),
    Column("from_location", String(32), nullable=False),
    Column("to_location", String(32), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("qty", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", String(16), nullable=False),  # open | accepted | dismissed | superseded
    Column("created_at", String(40), nullable=False),
    Column("decided_at", String(40)),
    Index("transfer_proposals_open", "status", "sku"),
)

leases = Table(  # a job that runs in one hub process at a time, whichever holds its lease
    "leases", metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128)),  # None: nobody is running it now
    Column("expires_at", String(40), nullable=False),  # the holder's claim lapses then
)

store_contacts = Table(  # when the hub heard from each store (pulls and pushes), as intervals
    "store_contacts", metadata,
    Column("store_id", String(32), primary_key=True),
    Column("since", String(40), primary_key=True),
    Column("until", String(40), nullable=False),
)

balance_sales = Table(  # walk-in units sold less returned, per store, SKU and hour, over the history
    "balance_sales", metadata,
    Column("store_id", String(32), primary_key=True),
    Column("sku", String(64), primary_key=True),
    Column("hour", String(40), primary_key=True),
    Column("units", Integer, nullable=False),
    Index("balance_sales_sku", "sku"),
)

balance_stores = Table(  # how far the balancer has read each store
    "balance_stores", metadata,
    Column("store_id", String(32), primary_key=True),
    Column("seq", BigInteger, nullable=False),  # its entries are in balance_sales up to this one
    Column("refreshed_at", String(40), nullable=False),  # its forecasts were last all made then
)

balance_demand = Table(  # each spot's forecast walk-ins over the balancer's window, as last made
    "balance_demand", metadata,
    Column("store_id", String(32), primary_key=True),
    Column("sku", String(64), primary_key=True),
    Column("demand", Float, nullable=False),
    Index("balance_demand_sku", "sku"),
)

balance_watch = Table(  # spots near a top-up: a store's pull plans them if quota + in flight <= below
    "balance_watch", metadata,
    Column("store_id", String(32), primary_key=True),
    Column("sku", String(64), primary_key=True),
    Column("below", BigInteger, nullable=False),
)

balance_tight = Table(  # SKUs the last plan that saw all of their locations found scarce or the web short:
    # a plan of changed spots alone (no web demand) cannot tell, and must not watch them for a top-up at a pull
    "balance_tight", metadata,
    Column("sku", String(64), primary_key=True),
)

balance_dirty = Table(  # what ops changed since the last pass: "sku:X", "store:S", or "*" (everything)
    "balance_dirty", metadata,
    Column("key", String(100), primary_key=True),
)

BALANCER_TABLES = ("balance_pins", "balance_off", "promos", "balance_runs", "balance_moves", "transfer_proposals",
                   "leases", "store_contacts", "balance_sales", "balance_stores", "balance_demand", "balance_watch",
                   "balance_dirty", "balance_tight")

schema_migrations = Table(
    "schema_migrations", metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", String(40), nullable=False),
)

# The nightly report's and the end-of-day snapshots' tables (on this metadata), kept apart for length.
from hub.db.schema_report import (  # noqa: E402, F401
    reports,
    day_snapshots,
    snapshot_parts,
    snapshot_rows,
    snapshot_differences,
    snapshot_refusals,
    order_resourcings,
    SNAPSHOT_TABLES,
    REPORT_EVENT_TABLES,
)
