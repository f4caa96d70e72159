"""The hub's tables (SQLAlchemy Core), as the newest migration leaves them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table, Text, UniqueConstraint,
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
    Column("status", String(16), nullable=False, default="open"),  # open | answered
    Column("released", Integer),
    Column("created_at", String(40), nullable=False),
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

schema_migrations = Table(
    "schema_migrations", metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", String(40), nullable=False),
)
