"""The hub's tables for the nightly report and the end-of-day snapshots, on `hub.db.schema`'s metadata.

Kept apart from schema.py only for length; `hub.db.schema` imports every name here, and the rest of the
hub reads them from there.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Table, Text

from hub.db.schema import metadata, store_entries

# -- the nightly report (hub/report/, hub/service/reports.py) --

reports = Table(  # every issue of a report: a business date's, for the chain or one store, revised as entries arrive
    "reports", metadata,
    Column("business_date", String(10), primary_key=True),  # YYYY-MM-DD, each store's local day
    Column("scope", String(32), primary_key=True),  # "chain", or a store's id
    Column("revision", Integer, primary_key=True),  # 1, then one more each time late entries re-issue it
    Column("made_at", String(40), nullable=False),
    Column("partial", Boolean, nullable=False),  # some store's day had not all arrived
    Column("seen", Text, nullable=False),  # JSON {store: last sequence the hub held}: what it was made from
    Column("figures", Text, nullable=False),  # the report's JSON (hub/report/model.py)
    Column("html", Text, nullable=False),
)

# A store's entries by time: the report reads the day before's start onward (a range per store), never the history
# before it; it is on store_entries, defined here because only the report reads by it.
store_entries_at = Index("store_entries_at", store_entries.c.store_id, store_entries.c.at)

# -- end-of-day snapshots (hub/service/snapshots.py): each store's figures at its close, checked against its ledger --

day_snapshots = Table(  # one per store and business date, signed off by the store; never replaced
    "day_snapshots", metadata,
    Column("store_id", String(32), primary_key=True),
    Column("business_date", String(10), primary_key=True),
    Column("last_seq", BigInteger, nullable=False),  # the store's figures are the balances after this entry
    Column("taken_at", String(40), nullable=False),
    Column("terminal", String(128), nullable=False),
    Column("clerk", String(128), nullable=False),
    Column("row_count", Integer, nullable=False),
    Column("parts", Integer, nullable=False),
    Column("header", String(64), nullable=False),  # a hash of the above: every part must carry the same
    Column("parts_in", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # incomplete | waiting (for entries up to last_seq) | compared
    Column("received_at", String(40)),  # its last part arrived
    Column("compared_at", String(40)),
    Column("differences", Integer),  # SKUs that differ from the ledger, once compared
    Index("day_snapshots_status", "status"),
)

snapshot_parts = Table(  # the parts of a snapshot received, so a part sent again is known for a repeat
    "snapshot_parts", metadata,
    Column("store_id", String(32), primary_key=True),
    Column("business_date", String(10), primary_key=True),
    Column("part", Integer, primary_key=True),
    Column("hash", String(64), nullable=False),
    Column("at", String(40), nullable=False),
)

snapshot_rows = Table(  # a snapshot's rows until it is compared (then only its differences are kept)
    "snapshot_rows", metadata,
    Column("store_id", String(32), primary_key=True),
    Column("business_date", String(10), primary_key=True),
    Column("sku", String(128), primary_key=True),
    Column("floor", BigInteger, nullable=False),
    Column("back", BigInteger, nullable=False),
    Column("quota", BigInteger, nullable=False),
    Column("held", BigInteger, nullable=False),
)

snapshot_differences = Table(  # each SKU whose snapshot figures differ from the ledger's at the snapshot's sequence
    "snapshot_differences", metadata,
    Column("store_id", String(32), primary_key=True),
    Column("business_date", String(10), primary_key=True),
    Column("sku", String(128), primary_key=True),
    Column("fields", String(32), nullable=False),  # on_hand,quota,held: those that differ
    Column("floor", BigInteger, nullable=False),
    Column("back", BigInteger, nullable=False),
    Column("quota", BigInteger, nullable=False),
    Column("held", BigInteger, nullable=False),
    Column("ledger_on_hand", BigInteger, nullable=False),
    Column("ledger_quota", BigInteger, nullable=False),
    Column("ledger_held", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),  # the SKU's last entry up to the snapshot's sequence
    Column("entries", Text, nullable=False),  # JSON: the entries that explain it (hub/report/snapshots.Entry)
)

SNAPSHOT_TABLES = ("day_snapshots", "snapshot_parts", "snapshot_rows", "snapshot_differences")

snapshot_refusals = Table(  # walk-ins a store turned away for want of quota, per SKU, as its snapshot says; kept
    "snapshot_refusals", metadata,
    Column("store_id", String(32), primary_key=True),
    Column("business_date", String(10), primary_key=True),
    Column("sku", String(128), primary_key=True),
    Column("units", BigInteger, nullable=False),
    Column("times", BigInteger, nullable=False),
)

order_resourcings = Table(  # each at-risk order ops re-sourced (hub/service/orders.py), for the nightly report
    "order_resourcings", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reservation_id", String(64), nullable=False),
    Column("from_location", String(32), nullable=False),
    Column("to_location", String(32), nullable=False),
    Column("qty", Integer, nullable=False),
    Column("at", String(40), nullable=False),
    Index("order_resourcings_at", "from_location", "at"),
)

REPORT_EVENT_TABLES = ("snapshot_refusals", "order_resourcings")
