"""What pulls from the hub bring (grants, transfers on their way, the chain picture), and the problems met.

Like `ledger`, every function takes the connection of a transaction the
caller opened.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING

from node.rules import Incoming, PulledGrant
from node.store.ledger import load_catalog, put_locations, put_meta

if TYPE_CHECKING:
    from sync.models import PullResponse


def pulled_grant(c: sqlite3.Connection, grant_id: str) -> PulledGrant | None:
    row = c.execute("SELECT grant_id, sku, qty FROM grants WHERE grant_id = ?", (grant_id,)).fetchone()
    return PulledGrant(*row) if row else None


def keep_grant(c: sqlite3.Connection, g: PulledGrant) -> None:
    c.execute("INSERT INTO grants (grant_id, sku, qty) VALUES (?, ?, ?)", (g.grant_id, g.sku, g.qty))


def grant_applied(c: sqlite3.Connection, grant_id: str) -> None:
    c.execute("UPDATE grants SET status = 'applied' WHERE grant_id = ?", (grant_id,))


def grants_to_apply(c: sqlite3.Connection) -> list[PulledGrant]:
    """Grants pulled and not applied yet, in the order they came."""
    rows = c.execute("SELECT grant_id, sku, qty FROM grants WHERE status = 'pulled' ORDER BY rowid").fetchall()
    return [PulledGrant(*r) for r in rows]


def applied_grants(c: sqlite3.Connection, grants: Iterable[tuple[str, str, int]]) -> None:
    """(grant id, sku, qty) of grants found applied in the ledger (a restore): never applied again."""
    c.executemany("INSERT INTO grants (grant_id, sku, qty, status) VALUES (?, ?, ?, 'applied') "
                  "ON CONFLICT(grant_id) DO UPDATE SET status = 'applied'", list(grants))


def incoming(c: sqlite3.Connection, transfer_id: str) -> tuple[Incoming | None, bool]:
    """A transfer to this store as the hub described it, and whether it was received already."""
    row = c.execute("SELECT transfer_id, sku, qty, from_location, status FROM incoming_transfers "
                    "WHERE transfer_id = ?", (transfer_id,)).fetchone()
    if row is None:
        return None, False
    return Incoming(row[0], row[1], row[2], row[3]), row[4] == "received"


def transfer_received(c: sqlite3.Connection, transfer_id: str) -> None:
    c.execute("UPDATE incoming_transfers SET status = 'received' WHERE transfer_id = ?", (transfer_id,))


def received_transfers(c: sqlite3.Connection, arrived: Iterable[tuple[str, str, str, int]]) -> None:
    """(transfer id, from, sku, qty) of transfers found received in the ledger (a restore)."""
    c.executemany("INSERT INTO incoming_transfers (transfer_id, from_location, sku, qty, status) "
                  "VALUES (?, ?, ?, ?, 'received') ON CONFLICT(transfer_id) DO UPDATE SET status = 'received'",
                  list(arrived))


def keep_pull(c: sqlite3.Connection, resp: PullResponse) -> None:
    """What a pull brought (catalog, locations, transfers on their way, chain picture) and its cursor."""
    if resp.catalog:
        load_catalog(c, (it.model_dump() for it in resp.catalog))
    if resp.locations:
        put_locations(c, [(loc.id, loc.name, loc.kind) for loc in resp.locations])
    # What is on its way here; a transfer already received keeps its status.
    c.executemany(
        "INSERT INTO incoming_transfers (transfer_id, from_location, sku, qty) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (transfer_id) DO NOTHING",
        [(t.transfer_id, t.from_location, t.sku, t.qty) for t in resp.transfers])
    c.executemany(
        "INSERT OR REPLACE INTO chain_stock (location, sku, on_hand, available, as_of) VALUES (?, ?, ?, ?, ?)",
        [(x.location, x.sku, x.on_hand, x.available, x.as_of) for x in resp.chain_stock])
    put_meta(c, pull_cursor=str(resp.cursor))


def note_problem(c: sqlite3.Connection, kind: str, ref: str | None, message: str, at: str) -> None:
    """Keep a problem once per message."""
    seen = c.execute("SELECT 1 FROM problems WHERE kind = ? AND ref IS ? AND message = ?",
                     (kind, ref, message)).fetchone()
    if seen is None:
        c.execute("INSERT INTO problems (at, kind, ref, message) VALUES (?, ?, ?, ?)", (at, kind, ref, message))
