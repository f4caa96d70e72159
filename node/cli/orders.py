"""Web orders at the store: the ones to hand over, and handing one over."""

from __future__ import annotations

import argparse

from node.cli.common import emit_json, op_id_of, open_node, prior, show, table
from node.present import local_time
from node.rules import Kind

HOW = {"pickup": "picked up here", "ship": "to send off"}


def cmd_orders(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        orders = node.orders_to_hand_over()
    if args.json:
        emit_json(orders)
        return
    if not orders:
        print("No web orders to hand over (as of the last sync).")
        return
    print(table([(o["order_id"], o["sku"], o["name"], o["qty"], HOW.get(o["how"], o["how"]),
                  local_time(o["pulled_at"])) for o in orders],
                ("Order", "SKU", "Item", "Qty", "How", "Since"), right=(3,)))


def cmd_hand_over(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        result = prior(node, args, Kind.ORDER_HANDED_OVER)
        if result is None:
            result = node.hand_over(op_id_of(args), args.order_id)
    show(args, result, "Handed over", f"Order {args.order_id} handed over ({HOW.get(result.get('how'), 'web order')}).")
