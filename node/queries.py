"""The node's read model: what a scan means, an item looked up, search, the ledger, holds, parked sales, problems.

Nothing here writes. Each function reads the node file through the
connection it is given; `Reads` offers them as `Node`'s methods.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from node.barcodes import DEFAULT_RCN_COUNTRY, Scan, parse_scan
from node.errors import ExpiredItem, HoldUnavailable, UnknownSku
from node.rules import Balance, Hold, SaleLine
from node.store import backup
from node.store.ledger import LEDGER_COLS, balances, last_seq, open_holds


@dataclass(frozen=True)
class Resolved:
    """What a scan or SKU means at this till: the item and how many units at what price."""

    sku: str
    name: str
    units: int  # a case scan means its pack quantity
    unit_price: int
    scan: Scan | None = None


def resolve(c: sqlite3.Connection, code: str, *, clock: Callable[[], datetime], today: date | None = None,
            for_sale: bool = True, country: str | None = DEFAULT_RCN_COUNTRY) -> Resolved:
    """A scan (or a typed SKU) as the item, units and price it stands for at this till.

    An expired perishable is refused only `for_sale`: looking it up or
    writing it off as expired must still work. In-store codes are read in
    `country`'s layout; a weight code keeps the catalog's price (a weight is
    never read as a price).
    """
    code = code.strip()
    if code.upper().startswith("SKU"):
        row = c.execute("SELECT sku, name, price FROM items WHERE sku = ?", (code.upper(),)).fetchone()
        if row is None:
            raise UnknownSku(f"SKU {code} is not in this store's catalog.")
        return Resolved(row[0], row[1], 1, row[2])
    scan = parse_scan(code, country)
    row = c.execute(
        "SELECT i.sku, i.name, i.price, b.pack_qty, i.perishable FROM barcodes b JOIN items i ON i.sku = b.sku "
        "WHERE b.code = ?", (scan.lookup_key,)).fetchone()
    if row is None:
        raise UnknownSku(f"Barcode {scan.raw} is not an item this store sells.")
    today = today or clock().date()
    if for_sale and row[4] and scan.expiry is not None and scan.expiry < today:
        raise ExpiredItem(f"{row[1]} expired on {scan.expiry:%Y-%m-%d}; it cannot be sold. Write it off as expired.")
    price = scan.embedded_price if scan.embedded_price is not None else row[2]
    return Resolved(row[0], row[1], row[3], price, scan)


def lookup(c: sqlite3.Connection, r: Resolved) -> dict:
    """Everything a clerk needs to answer "can you check in the back?"."""
    item = dict(c.execute("SELECT * FROM items WHERE sku = ?", (r.sku,)).fetchone())
    s = c.execute("SELECT floor, back, quota, held, over_quota FROM stock WHERE sku = ?", (r.sku,)).fetchone()
    figures = dict(s) if s else {"floor": 0, "back": 0, "quota": 0, "held": 0, "over_quota": 0}
    holds = [dict(h) for h in c.execute(
        "SELECT hold_id, qty, expires_at, customer, terminal, clerk FROM holds WHERE sku = ? AND status = 'open' "
        "ORDER BY expires_at", (r.sku,))]
    chain = [dict(x) for x in c.execute(
        "SELECT cs.location, coalesce(l.name, cs.location) AS name, coalesce(l.kind, '') AS kind, cs.on_hand, "
        "cs.available, cs.as_of FROM chain_stock cs LEFT JOIN locations l ON l.id = cs.location "
        "WHERE cs.sku = ? ORDER BY cs.location", (r.sku,))]
    incoming = [dict(x) for x in c.execute(
        "SELECT transfer_id, from_location, qty FROM incoming_transfers WHERE sku = ? AND status = 'in_transit'",
        (r.sku,))]
    return {**item, **figures, "on_hand": figures["floor"] + figures["back"], "scan_units": r.units,
            "scan_price": r.unit_price, "holds": holds, "chain": chain, "incoming": incoming}


def search(c: sqlite3.Connection, prefix: str, limit: int = 20) -> list[dict]:
    """Items whose name has words starting with what the clerk typed, in name order.

    Ranking every hit of a short prefix costs tens of milliseconds over a
    large catalog; the first hits, sorted by name, answer a clerk as well.
    """
    words = [w for w in "".join(ch if ch.isalnum() else " " for ch in prefix).split() if w]
    if not words:
        return []
    match = " ".join(f'"{w}"*' for w in words)
    rows = [dict(r) for r in c.execute(
        "SELECT i.sku, i.name, i.price, coalesce(s.floor, 0) AS floor, coalesce(s.back, 0) AS back, "
        "coalesce(s.quota, 0) AS quota FROM (SELECT rowid FROM items_fts WHERE items_fts MATCH ? LIMIT ?) f "
        "JOIN items i ON i.rowid = f.rowid LEFT JOIN stock s ON s.sku = i.sku", (match, max(limit * 5, 100)))]
    return sorted(rows, key=lambda r: r["name"].lower())[:limit]


def balance(c: sqlite3.Connection, sku: str) -> Balance:
    b = balances(c, [sku])
    if sku not in b:
        raise UnknownSku(f"SKU {sku} is not in this store's catalog.")
    return b[sku]


def ledger(c: sqlite3.Connection, *, after: int = 0, limit: int = 100) -> list[dict]:
    rows = c.execute(f"SELECT {LEDGER_COLS} FROM ledger WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit))
    return [{**dict(r), "detail": json.loads(r["detail"])} for r in rows]


def open_hold(c: sqlite3.Connection, hold_id: str) -> Hold:
    hold = open_holds(c, [hold_id]).get(hold_id)
    if hold is None:
        raise HoldUnavailable(f"Hold {hold_id} is not open (unknown, already released, sold or expired).")
    return hold


def holds(c: sqlite3.Connection, sku: str | None = None) -> list[dict]:
    """The open holds (of one SKU, if given), soonest to expire first."""
    q = "SELECT hold_id, sku, qty, expires_at, customer, terminal, clerk FROM holds WHERE status = 'open'"
    args: tuple = ()
    if sku:
        q += " AND sku = ?"
        args = (sku,)
    return [dict(r) for r in c.execute(q + " ORDER BY expires_at", args)]


def parked_sales(c: sqlite3.Connection, *, open_on: str | None = None) -> list[dict]:
    """Sales parked for recall, or (`open_on` a terminal) the sale that terminal had open."""
    where, args = ("open = 1 AND terminal = ?", (open_on,)) if open_on else ("open = 0", ())
    return [{**dict(r), "lines": [SaleLine(**ln) for ln in json.loads(r["lines"])]} for r in c.execute(
        f"SELECT park_id, terminal, clerk, lines, parked_at FROM parked_sales WHERE {where} ORDER BY parked_at",
        args)]


def problems(c: sqlite3.Connection, limit: int = 20) -> list[dict]:
    return [dict(r) for r in c.execute(
        "SELECT id, at, kind, ref, message FROM problems ORDER BY id DESC LIMIT ?", (limit,))]


def counts(c: sqlite3.Connection) -> dict[str, int]:
    """How many items the catalog has and how many holds are open."""
    return {"items": c.execute("SELECT count(*) FROM items").fetchone()[0],
            "open_holds": c.execute("SELECT count(*) FROM holds WHERE status = 'open'").fetchone()[0]}


class Reads:
    """The read side of `node.service.Node`: these functions as methods, over its connection and clock."""

    conn: sqlite3.Connection
    clock: Callable[[], datetime]
    _identity: Callable[[], dict[str, str]]  # the node's settings, read once (Node)

    @property
    def rcn_country(self) -> str:
        """The country whose layout gives this store's in-store codes their meaning (meta `rcn_country`)."""
        return self._identity().get("rcn_country") or DEFAULT_RCN_COUNTRY

    def resolve(self, code: str, *, today: date | None = None, for_sale: bool = True) -> Resolved:
        """A scan (or a typed SKU) as the item, units and price it stands for at this till."""
        return resolve(self.conn, code, clock=self.clock, today=today, for_sale=for_sale, country=self.rcn_country)

    def lookup(self, code: str) -> dict:
        """Everything a clerk needs to answer "can you check in the back?"."""
        return lookup(self.conn, self.resolve(code, for_sale=False))

    def search(self, prefix: str, limit: int = 20) -> list[dict]:
        return search(self.conn, prefix, limit)

    def balance(self, sku: str) -> Balance:
        return balance(self.conn, sku)

    def ledger(self, *, after: int = 0, limit: int = 100) -> list[dict]:
        return ledger(self.conn, after=after, limit=limit)

    def last_seq(self) -> int:
        return last_seq(self.conn)

    def open_hold(self, hold_id: str) -> Hold:
        return open_hold(self.conn, hold_id)

    def open_holds(self, sku: str | None = None) -> list[dict]:
        return holds(self.conn, sku)

    def parked_sales(self) -> list[dict]:
        return parked_sales(self.conn)

    def open_sale(self) -> dict | None:
        """The sale this terminal had on screen when it last stopped, if it was not finished."""
        found = parked_sales(self.conn, open_on=self.terminal)
        return found[-1] if found else None

    def problems(self, limit: int = 20) -> list[dict]:
        return problems(self.conn, limit)

    def backup(self, dest: str | Path) -> Path:
        return backup(self.conn, dest)
