"""The node file's tables, as numbered migrations: a file of any age is brought up to date on opening.

The ledger is append-only (triggers refuse UPDATE and DELETE); a grant, a
transfer in or a web order's hand-over is applied once (a unique index),
whatever the code above does.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("backroom-node")


@migrations()
def m001_core(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

        CREATE TABLE items (
            sku TEXT PRIMARY KEY,
            gtin TEXT NOT NULL,
            name TEXT NOT NULL,
            price INTEGER NOT NULL CHECK (price >= 0),
            perishable INTEGER NOT NULL DEFAULT 0,
            shelf_life_days INTEGER,
            case_gtin TEXT,
            pack_qty INTEGER NOT NULL DEFAULT 1 CHECK (pack_qty >= 1),
            in_store INTEGER NOT NULL DEFAULT 0,
            safety_buffer INTEGER NOT NULL DEFAULT 0
        );
        CREATE VIRTUAL TABLE items_fts USING fts5(
            name, content='items', content_rowid='rowid', tokenize='unicode61'
        );

        -- every scannable code (GTIN-14 form) and how many units one scan means
        CREATE TABLE barcodes (
            code TEXT PRIMARY KEY,
            sku TEXT NOT NULL REFERENCES items(sku),
            pack_qty INTEGER NOT NULL DEFAULT 1
        );

        -- the store's figures per SKU; the CHECKs back the rules up
        CREATE TABLE stock (
            sku TEXT PRIMARY KEY REFERENCES items(sku),
            floor INTEGER NOT NULL DEFAULT 0 CHECK (floor >= 0),
            back INTEGER NOT NULL DEFAULT 0 CHECK (back >= 0),
            quota INTEGER NOT NULL DEFAULT 0 CHECK (quota >= 0),
            held INTEGER NOT NULL DEFAULT 0 CHECK (held >= 0),
            over_quota INTEGER NOT NULL DEFAULT 0 CHECK (over_quota >= 0)
        );

        CREATE TABLE holds (
            hold_id TEXT PRIMARY KEY,
            sku TEXT NOT NULL,
            qty INTEGER NOT NULL CHECK (qty > 0),
            expires_at TEXT NOT NULL,
            customer TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'open',
            terminal TEXT NOT NULL,
            clerk TEXT NOT NULL
        );
        CREATE INDEX holds_open ON holds(status, expires_at);

        -- append-only: also the outbox the runner pushes to the hub
        CREATE TABLE ledger (
            seq INTEGER PRIMARY KEY,
            store_id TEXT NOT NULL,
            op_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            sku TEXT NOT NULL,
            qty INTEGER NOT NULL,
            floor_delta INTEGER NOT NULL,
            back_delta INTEGER NOT NULL,
            quota_delta INTEGER NOT NULL,
            held_delta INTEGER NOT NULL,
            over_quota INTEGER NOT NULL,
            ref TEXT,
            amount INTEGER NOT NULL,
            on_hand_after INTEGER NOT NULL,
            quota_after INTEGER NOT NULL,
            held_after INTEGER NOT NULL,
            terminal TEXT NOT NULL,
            clerk TEXT NOT NULL,
            at TEXT NOT NULL,
            detail TEXT NOT NULL
        );
        CREATE INDEX ledger_sku ON ledger(sku, seq);
        CREATE INDEX ledger_ref ON ledger(ref) WHERE ref IS NOT NULL;
        -- a grant or a transfer in is applied once, whatever the code above does
        CREATE UNIQUE INDEX ledger_once ON ledger(kind, ref)
            WHERE kind IN ('quota_granted', 'transfer_in');
        CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
            BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
        CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
            BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;

        -- one row per operation id: a repeated id returns this result
        CREATE TABLE operations (
            op_id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            result TEXT NOT NULL,
            at TEXT NOT NULL
        );

        CREATE TABLE terminals (
            terminal TEXT PRIMARY KEY,
            last_receipt INTEGER NOT NULL DEFAULT 0
        );

        -- the chain's stock picture as last pulled from the hub
        CREATE TABLE chain_stock (
            location TEXT NOT NULL,
            sku TEXT NOT NULL,
            on_hand INTEGER NOT NULL,
            available INTEGER NOT NULL,
            as_of TEXT NOT NULL,
            PRIMARY KEY (sku, location)
        );
        CREATE TABLE locations (
            id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL
        );
        CREATE TABLE incoming_transfers (
            transfer_id TEXT PRIMARY KEY,
            from_location TEXT NOT NULL,
            sku TEXT NOT NULL,
            qty INTEGER NOT NULL,
            status TEXT NOT NULL DEFAULT 'in_transit'
        );
        """
    )


@migrations()
def m002_parked_sales(db: Database) -> None:
    # A parked sale is a cart, not stock: it lives in the node file so that a
    # terminal closing (or a clerk signing out) never loses it.
    db.executescript(
        """
        CREATE TABLE parked_sales (
            park_id TEXT PRIMARY KEY,
            terminal TEXT NOT NULL,
            clerk TEXT NOT NULL,
            lines TEXT NOT NULL,
            parked_at TEXT NOT NULL
        );
        """
    )


@migrations()
def m003_faster_search_and_fewer_pages(db: Database) -> None:
    # Prefix indexes let "oat" find names without scanning every token;
    # the per-SKU ledger index cost a page per sale and served no query.
    db.executescript(
        """
        DROP INDEX IF EXISTS ledger_sku;
        DROP TABLE items_fts;
        CREATE VIRTUAL TABLE items_fts USING fts5(
            name, content='items', content_rowid='rowid', tokenize='unicode61', prefix='2 3 4'
        );
        INSERT INTO items_fts (items_fts) VALUES ('rebuild');
        """
    )


@migrations()
def m004_grants_and_problems(db: Database) -> None:
    # Grants as the hub sent them: a grant is applied only with the hub's quantity, and a
    # grant id seen again is a repeat only if its content is the same. Problems are what
    # the node could not do by itself (a conflicting grant, a push refused), kept for the
    # status line and for ops, never silently dropped.
    db.executescript(
        """
        CREATE TABLE grants (
            grant_id TEXT PRIMARY KEY,
            sku TEXT NOT NULL,
            qty INTEGER NOT NULL,
            status TEXT NOT NULL DEFAULT 'pulled'
        );
        INSERT OR IGNORE INTO grants (grant_id, sku, qty, status)
            SELECT ref, sku, qty, 'applied' FROM ledger WHERE kind = 'quota_granted' AND ref IS NOT NULL;
        CREATE TABLE problems (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            ref TEXT,
            message TEXT NOT NULL
        );
        """
    )


@migrations()
def m005_open_sales(db: Database) -> None:
    # The sale on a terminal's screen is saved as the clerk builds it, marked open, so a
    # terminal that crashes or is killed gets it back on its next start; open sales are not
    # offered for recall elsewhere (their terminal is still working on them).
    db.executescript("ALTER TABLE parked_sales ADD COLUMN open INTEGER NOT NULL DEFAULT 0;")


@migrations()
def m006_orders_to_hand_over(db: Database) -> None:
    # Web orders the hub asked this store to hand over (picked up, or sent off), as the last pull
    # listed them: handed over once, out of the hub's share; one the hub no longer lists (cancelled,
    # moved elsewhere) is withdrawn and must not be handed over. The ledger takes one hand-over per order.
    db.executescript(
        """
        CREATE TABLE web_orders (
            order_id TEXT PRIMARY KEY,
            sku TEXT NOT NULL,
            qty INTEGER NOT NULL CHECK (qty > 0),
            how TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'to_hand_over',
            pulled_at TEXT NOT NULL
        );
        INSERT OR IGNORE INTO web_orders (order_id, sku, qty, how, status, pulled_at)
            SELECT ref, sku, qty, coalesce(json_extract(detail, '$.how'), 'pickup'), 'handed_over', at
            FROM ledger WHERE kind = 'order_handed_over' AND ref IS NOT NULL;
        DROP INDEX ledger_once;
        CREATE UNIQUE INDEX ledger_once ON ledger(kind, ref)
            WHERE kind IN ('quota_granted', 'transfer_in', 'order_handed_over');
        """
    )


@migrations()
def m007_day_snapshots(db: Database) -> None:
    # End-of-day snapshots (`backroom node close-day`, or the runner at the store's close): the figures
    # per SKU as of the last sequence they cover, kept until the hub acknowledges them. Once it has, the
    # rows go (the hub holds them) and the header stays, so a date is snapshotted once.
    db.executescript(
        """
        CREATE TABLE day_snapshots (
            business_date TEXT PRIMARY KEY,
            last_seq INTEGER NOT NULL,
            taken_at TEXT NOT NULL,
            terminal TEXT NOT NULL,
            clerk TEXT NOT NULL,
            row_count INTEGER NOT NULL,
            status TEXT NOT NULL DEFAULT 'to_send',
            sent_at TEXT,
            answer TEXT
        );
        CREATE TABLE day_snapshot_rows (
            business_date TEXT NOT NULL REFERENCES day_snapshots(business_date),
            sku TEXT NOT NULL,
            floor INTEGER NOT NULL,
            back INTEGER NOT NULL,
            quota INTEGER NOT NULL,
            held INTEGER NOT NULL,
            PRIMARY KEY (business_date, sku)
        );
        """
    )


@migrations()
def m008_refused_sales(db: Database) -> None:
    # Walk-ins turned away for want of quota (a strict store's sale refused, or the till refusing a scan):
    # a local record only, never the ledger, which the refusal leaves untouched. The end-of-day snapshot
    # carries each SKU's units and times turned away that business date.
    db.executescript(
        """
        CREATE TABLE refused_sales (
            id INTEGER PRIMARY KEY,
            business_date TEXT NOT NULL,
            sku TEXT NOT NULL,
            qty INTEGER NOT NULL CHECK (qty > 0),
            at TEXT NOT NULL,
            terminal TEXT NOT NULL,
            clerk TEXT NOT NULL,
            source TEXT NOT NULL
        );
        CREATE INDEX refused_sales_day ON refused_sales (business_date, sku);
        ALTER TABLE day_snapshot_rows ADD COLUMN refused_units INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE day_snapshot_rows ADD COLUMN refused_times INTEGER NOT NULL DEFAULT 0;
        """
    )


@migrations()
def m009_refusals_once_per_operation(db: Database) -> None:
    # A terminal that crashes and retries a refused sale under the same operation id turned one walk-in away,
    # not two: a refused sale is kept under its operation id, once. A till's refused scan has no operation id
    # (NULL, and NULLs never collide), so each one is still kept.
    db.executescript(
        """
        ALTER TABLE refused_sales ADD COLUMN op_id TEXT;
        CREATE UNIQUE INDEX refused_sales_op ON refused_sales (op_id) WHERE op_id IS NOT NULL;
        """
    )
