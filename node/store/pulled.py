"""What pulls from the hub bring (grants, transfers on their way, web orders to hand over, the chain picture),
and the problems met.

Like `ledger`, every function takes the connection of a transaction the
caller opened.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING

from node.rules import Incoming, PulledGrant, PulledOrder
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


def pulled_order(c: sqlite3.Connection, order_id: str) -> PulledOrder | None:
    row = c.execute("SELECT order_id, sku, qty, how, status FROM web_orders WHERE order_id = ?",
                    (order_id,)).fetchone()
    return PulledOrder(*row) if row else None


def order_handed_over(c: sqlite3.Connection, order_id: str) -> None:
    c.execute("UPDATE web_orders SET status = 'handed_over' WHERE order_id = ?", (order_id,))


def orders_to_hand_over(c: sqlite3.Connection) -> list[dict]:
    """The web orders waiting at this store, oldest pulled first, with the item's name."""
    rows = c.execute("SELECT o.order_id, o.sku, coalesce(i.name, ''), o.qty, o.how, o.pulled_at FROM web_orders o "
                     "LEFT JOIN items i ON i.sku = o.sku WHERE o.status = 'to_hand_over' "
                     "ORDER BY o.pulled_at, o.order_id").fetchall()
    return [dict(zip(("order_id", "sku", "name", "qty", "how", "pulled_at"), r, strict=True)) for r in rows]


def handed_over_orders(c: sqlite3.Connection, orders: Iterable[tuple[str, str, int, str, str]]) -> None:
    """(order id, sku, qty, how, at) of orders found handed over in the ledger (a restore)."""
    c.executemany("INSERT INTO web_orders (order_id, sku, qty, how, status, pulled_at) "
                  "VALUES (?, ?, ?, ?, 'handed_over', ?) ON CONFLICT(order_id) DO UPDATE SET status = 'handed_over'",
                  list(orders))


def keep_orders(c: sqlite3.Connection, orders: list, at: str, complete: bool) -> None:
    """The web orders a pull lists for this store to hand over. One handed over here stays so; with a
    `complete` list, one pulled before and no longer listed was cancelled or moved: withdrawn."""
    c.executemany(
        "INSERT INTO web_orders (order_id, sku, qty, how, pulled_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (order_id) DO UPDATE SET sku = excluded.sku, qty = excluded.qty, how = excluded.how, "
        "status = 'to_hand_over', pulled_at = CASE WHEN status = 'to_hand_over' THEN pulled_at "
        "ELSE excluded.pulled_at END WHERE status != 'handed_over'",
        [(o.order_id, o.sku, o.qty, o.how, at) for o in orders])
    if complete:
        c.execute("UPDATE web_orders SET status = 'withdrawn' WHERE status = 'to_hand_over' "
                  "AND order_id NOT IN (SELECT value FROM json_each(?))", (json.dumps([o.order_id for o in orders]),))


def keep_pull(c: sqlite3.Connection, resp: PullResponse, at: str) -> None:
    """What a pull brought (catalog, locations, transfers on their way, web orders to hand over, chain
    picture) and its cursor."""
    from sync.models import MAX_ORDERS  # the wire is imported already: `resp` is one of its models

    if resp.catalog:
        load_catalog(c, (it.model_dump() for it in resp.catalog))
    if resp.locations:
        put_locations(c, [(loc.id, loc.name, loc.kind) for loc in resp.locations])
    # What is on its way here; a transfer already received keeps its status.
    c.executemany(
        "INSERT INTO incoming_transfers (transfer_id, from_location, sku, qty) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (transfer_id) DO NOTHING",
        [(t.transfer_id, t.from_location, t.sku, t.qty) for t in resp.transfers])
    keep_orders(c, list(resp.orders_to_hand_over), at, complete=len(resp.orders_to_hand_over) < MAX_ORDERS)
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
