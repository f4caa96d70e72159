"""Web orders at the store: the ones the hub asked this store to hand over, and the clerk's hand-over.

The hub lists them on every pull (`node.store.pulled.keep_orders`); the clerk hands one
over (picked up at the counter, or given to the carrier) with `Node.hand_over`: one
ledger entry, out of the hub's share, never the store's quota, once per order.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING

from node import rules
from node.rules import Kind
from node.store import ledger as sql
from node.store import pulled

if TYPE_CHECKING:
    from node.service import Node


class Orders:
    """`Node`'s web-order operations."""

    def orders_to_hand_over(self: Node) -> list[dict]:
        """Orders waiting here to be handed over (as of the last pull): id, SKU, name, units, pickup or ship."""
        return pulled.orders_to_hand_over(self.conn)

    def pulled_order(self: Node, order_id: str) -> rules.PulledOrder | None:
        return pulled.pulled_order(self.conn, order_id)

    def hand_over(self: Node, op_id: str, order_id: str) -> dict:
        """Hand a web order over: its units leave out of the hub's share here, recorded once."""
        def work(c: sqlite3.Connection, now: datetime) -> dict:
            order = pulled.pulled_order(c, order_id)
            plan = rules.hand_over(sql.balances(c, [order.sku]) if order else {}, order_id, order,
                                   already_applied=sql.applied(c, Kind.ORDER_HANDED_OVER, order_id))
            pulled.order_handed_over(c, order_id)
            return {"order_id": order_id, "how": order.how if order else None, **self._posted(c, plan, op_id, now)}

        return self._run(op_id, Kind.ORDER_HANDED_OVER, work)
