"""The SQL of the write path: balances in, a plan's ledger entries and stock out, holds, operations, catalog, meta.

Every function takes the connection of a transaction the caller opened
(`immediate`), so what it reads and writes is one consistent step.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from node.errors import UnknownSku
from node.rules import BACK, BINS, FLOOR, Balance, Hold, Plan, Sold
from sync.kinds import Kind, parse_stamp, stamp

LEDGER_COLS = (
    "seq, store_id, op_id, kind, sku, qty, floor_delta, back_delta, quota_delta, held_delta, over_quota, "
    "ref, amount, on_hand_after, quota_after, held_after, terminal, clerk, at, detail"
)
INSERT_LEDGER = f"INSERT INTO ledger ({LEDGER_COLS}) VALUES ({', '.join('?' * 20)})"
UPSERT_STOCK = (
    "INSERT INTO stock (sku, floor, back, quota, held, over_quota) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT(sku) DO UPDATE SET floor = excluded.floor, back = excluded.back, quota = excluded.quota, "
    "held = excluded.held, over_quota = excluded.over_quota"
)


def put_meta(c: sqlite3.Connection, **values: str) -> None:
    """Set settings or sync progress, replacing what was there."""
    c.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [(k, str(v)) for k, v in values.items()],
    )


def put_locations(c: sqlite3.Connection, rows: Iterable[tuple[str, str, str]]) -> None:
    c.executemany("INSERT OR REPLACE INTO locations (id, name, kind) VALUES (?, ?, ?)", list(rows))


def load_catalog(c: sqlite3.Connection, items: Iterable[Mapping[str, Any]]) -> None:
    """Items and every code that scans as them (a case code as its pack quantity); the search index rebuilt."""
    rows, codes = [], []
    for it in items:
        rows.append((it["sku"], it["gtin"], it["name"], it["price"], int(it.get("perishable", False)),
                     it.get("shelf_life_days"), it.get("case_gtin"), it.get("pack_qty", 1),
                     int(it.get("in_store", False)), it.get("safety_buffer", 0)))
        codes.append((it["gtin"].zfill(14), it["sku"], 1))
        if it.get("case_gtin"):
            codes.append((it["case_gtin"].zfill(14), it["sku"], it.get("pack_qty", 1)))
    c.executemany(
        "INSERT INTO items (sku, gtin, name, price, perishable, shelf_life_days, case_gtin, pack_qty, in_store, "
        "safety_buffer) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(sku) DO UPDATE SET gtin = excluded.gtin, "
        "name = excluded.name, price = excluded.price, perishable = excluded.perishable, "
        "shelf_life_days = excluded.shelf_life_days, case_gtin = excluded.case_gtin, pack_qty = excluded.pack_qty, "
        "in_store = excluded.in_store, safety_buffer = excluded.safety_buffer",
        rows,
    )
    c.executemany("INSERT OR REPLACE INTO barcodes (code, sku, pack_qty) VALUES (?, ?, ?)", codes)
    c.execute("INSERT INTO items_fts (items_fts) VALUES ('rebuild')")


def price(c: sqlite3.Connection, sku: str) -> int:
    row = c.execute("SELECT price FROM items WHERE sku = ?", (sku,)).fetchone()
    if row is None:
        raise UnknownSku(f"SKU {sku} is not in this store's catalog.")
    return row[0]


def balances(c: sqlite3.Connection, skus: Iterable[str]) -> dict[str, Balance]:
    """The figures of these SKUs; a SKU in the catalog but never stocked here starts from zero."""
    skus = list(dict.fromkeys(skus))
    marks = ", ".join("?" * len(skus))
    got = {r[0]: Balance(r[0], {FLOOR: r[1], BACK: r[2]}, r[3], r[4], r[5]) for r in c.execute(
        f"SELECT sku, floor, back, quota, held, over_quota FROM stock WHERE sku IN ({marks})", skus)}
    if len(got) < len(skus):  # in the catalog but never stocked here: start from zero
        missing = [s for s in skus if s not in got]
        for (sku,) in c.execute(f"SELECT sku FROM items WHERE sku IN ({', '.join('?' * len(missing))})", missing):
            got[sku] = Balance(sku, {FLOOR: 0, BACK: 0})
    return got


def put_balances(c: sqlite3.Connection, bals: Iterable[Balance]) -> None:
    c.executemany(UPSERT_STOCK, [(b.sku, b.bins.get(FLOOR, 0), b.bins.get(BACK, 0), b.quota, b.held, b.over_quota)
                                 for b in bals])


def last_seq(c: sqlite3.Connection) -> int:
    return c.execute("SELECT coalesce(max(seq), 0) FROM ledger").fetchone()[0]


def persist(c: sqlite3.Connection, plan: Plan, *, store_id: str, op_id: str, at: str, terminal: str,
            clerk: str) -> tuple[int, int]:
    """Write a plan: the stock it touched, its entries under the next sequences, the holds it opened or closed."""
    touched = {p.change.sku for p in plan.entries}
    put_balances(c, (b for b in plan.balances.values() if b.sku in touched))
    last = last_seq(c)
    rows = []
    for i, p in enumerate(plan.entries, start=last + 1):
        ch = p.change
        deltas = dict.fromkeys(BINS, 0)
        for bin_, d in ch.bins:
            deltas[bin_] += d
        rows.append((i, store_id, op_id, str(ch.kind), ch.sku, ch.qty, deltas[FLOOR], deltas[BACK],
                     ch.quota_delta, ch.held_delta, ch.over_quota, ch.ref, ch.amount, p.on_hand, p.quota,
                     p.held, terminal, clerk, at, json.dumps(dict(ch.detail), sort_keys=True)))
    c.executemany(INSERT_LEDGER, rows)
    if plan.opened_holds:
        c.executemany(
            "INSERT INTO holds (hold_id, sku, qty, expires_at, customer, terminal, clerk) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(h.hold_id, h.sku, h.qty, stamp(h.expires_at), h.customer, terminal, clerk)
             for h in plan.opened_holds],
        )
    if plan.closed_holds:
        close_holds(c, [(hid, str(kind).removeprefix("hold_")) for hid, kind in plan.closed_holds])
    return last + 1, last + len(rows)


def close_holds(c: sqlite3.Connection, closed: Iterable[tuple[str, str]]) -> None:
    """(hold id, status) pairs: released, expired or converted."""
    c.executemany("UPDATE holds SET status = ? WHERE hold_id = ?", [(st, h) for h, st in closed])


def open_holds(c: sqlite3.Connection, hold_ids: Iterable[str] | None = None) -> dict[str, Hold]:
    """The open holds (only these ids, if given)."""
    if hold_ids is None:
        rows = c.execute("SELECT hold_id, sku, qty, expires_at, customer FROM holds WHERE status = 'open'")
    else:
        ids = list(hold_ids)
        rows = c.execute(
            "SELECT hold_id, sku, qty, expires_at, customer FROM holds WHERE status = 'open' "
            f"AND hold_id IN ({', '.join('?' * len(ids))})", ids)
    return {r[0]: Hold(r[0], r[1], r[2], parse_stamp(r[3]), r[4]) for r in rows}


def a_hold_due(c: sqlite3.Connection, at: str) -> bool:
    return c.execute("SELECT 1 FROM holds WHERE status = 'open' AND expires_at <= ? LIMIT 1", (at,)).fetchone() \
        is not None


def next_receipt(c: sqlite3.Connection, terminal: str) -> int:
    """The terminal's next receipt number (gapless per terminal, under the write lock)."""
    return c.execute(
        "INSERT INTO terminals (terminal, last_receipt) VALUES (?, 1) ON CONFLICT(terminal) "
        "DO UPDATE SET last_receipt = last_receipt + 1 RETURNING last_receipt", (terminal,)
    ).fetchone()[0]


def sold_on(c: sqlite3.Connection, receipt: str, sku: str) -> Sold | None:
    """What a receipt sold of a SKU, at what price, and how much came back on it; None if it sold none."""
    row = c.execute(
        "SELECT sum(CASE WHEN kind IN ('sale', 'hold_converted') THEN qty ELSE 0 END), "
        "max(CASE WHEN kind IN ('sale', 'hold_converted') THEN json_extract(detail, '$.unit_price') END), "
        "sum(CASE WHEN kind = 'return' THEN qty ELSE 0 END) FROM ledger WHERE ref = ? AND sku = ?",
        (receipt, sku)).fetchone()
    return Sold(row[0], row[1], row[2] or 0) if row[0] else None


def applied(c: sqlite3.Connection, kind: Kind, ref: str) -> bool:
    """Whether an entry of this kind with this reference (a grant, a transfer) is in the ledger."""
    return c.execute("SELECT 1 FROM ledger WHERE kind = ? AND ref = ?", (str(kind), ref)).fetchone() is not None


def done(c: sqlite3.Connection, op_id: str) -> sqlite3.Row | None:
    """An operation id's kind and recorded result, if it was done."""
    return c.execute("SELECT kind, result FROM operations WHERE op_id = ?", (op_id,)).fetchone()


def record(c: sqlite3.Connection, op_id: str, kind: str, result: Mapping[str, Any], at: str) -> None:
    c.execute("INSERT INTO operations (op_id, kind, result, at) VALUES (?, ?, ?, ?)",
              (op_id, kind, json.dumps(result), at))


def park(c: sqlite3.Connection, park_id: str, terminal: str, clerk: str, lines: str, at: str, *,
         open_: bool = False) -> None:
    c.execute("INSERT OR REPLACE INTO parked_sales (park_id, terminal, clerk, lines, parked_at, open) "
              "VALUES (?, ?, ?, ?, ?, ?)", (park_id, terminal, clerk, lines, at, int(open_)))


def drop_open(c: sqlite3.Connection, park_id: str) -> None:
    c.execute("DELETE FROM parked_sales WHERE park_id = ? AND open = 1", (park_id,))


def unpark(c: sqlite3.Connection, park_id: str) -> str | None:
    """A parked sale's lines (JSON), no longer parked; None if there is no such parked sale."""
    row = c.execute("SELECT lines FROM parked_sales WHERE park_id = ?", (park_id,)).fetchone()
    if row is None:
        return None
    c.execute("DELETE FROM parked_sales WHERE park_id = ?", (park_id,))
    return row[0]
