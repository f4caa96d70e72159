"""Stock operations: receive, count, write off, move, transfers out and in, quota grants and releases."""

from __future__ import annotations

import argparse

from node.cli.common import item_units, op_id_of, open_node, prior, scan, show
from node.errors import UnknownGrant
from node.rules import Kind

def cmd_receive(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        result = prior(node, args, Kind.RECEIVE)
        if result is None:
            r, units = item_units(node, args.code, args.qty)
            result = node.receive(op_id_of(args), r.sku, units, bin_=args.bin, delivery=args.delivery)
    show(args, result, "Received")


def cmd_count(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        result = prior(node, args, Kind.COUNT)
        if result is None:
            r, units = item_units(node, args.code, args.counted, "A counted figure", allow_zero=True)
            result = node.count(op_id_of(args), r.sku, args.bin, units, confirm_found=args.confirm_found)
    show(args, result, "Counted difference")


def cmd_write_off(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        result = prior(node, args, Kind(args.kind))
        if result is None:
            r, units = item_units(node, args.code, args.qty)
            result = node.write_off(op_id_of(args), Kind(args.kind), r.sku, units, bin_=args.bin, reason=args.reason)
    show(args, result, "Wrote off")


def cmd_move(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        result = prior(node, args, Kind.MOVE)
        if result is None:
            r, units = item_units(node, args.code, args.qty)
            result = node.move(op_id_of(args), r.sku, units, from_bin=args.from_bin, to_bin=args.to_bin)
    e = result["entries"][0]
    show(args, result, "Moved", f"Moved {e['qty']} of {e['sku']} from {args.from_bin} to {args.to_bin}.")


def cmd_transfer_out(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        op_id = op_id_of(args)
        result = prior(node, args, Kind.TRANSFER_OUT)
        if result is None:
            r, units = item_units(node, args.code, args.qty)
            result = node.transfer_out(op_id, r.sku, units, to_location=args.to, transfer_id=args.transfer_id,
                                       bin_=args.bin)
    result = {"transfer_id": args.transfer_id or op_id, **result}
    show(args, result, "Sent", f"Transfer {result['transfer_id']} to {args.to}.")


def cmd_transfer_in(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        result = prior(node, args, Kind.TRANSFER_IN)
        if result is None:
            r, units = item_units(node, args.code, args.qty)
            result = node.transfer_in(op_id_of(args), args.transfer_id, r.sku, units,
                                      from_location=args.from_location, bin_=args.bin)
    show(args, result, "Received", f"Transfer {args.transfer_id} from {args.from_location}.")


def cmd_grant(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        result = prior(node, args, Kind.QUOTA_GRANTED)
        if result is None:
            # The hub's quantity, always: a typed SKU and quantity are only checked against it.
            pulled = node.pulled_grant(args.grant_id)
            if pulled is None:
                raise UnknownGrant(f"Grant {args.grant_id} has not come from the hub; sync first.")
            sku, units = pulled.sku, pulled.qty
            if args.sku is not None:
                sku = scan(node, args.sku).sku
            if args.qty is not None:
                units = item_units(node, sku, args.qty)[1]
            result = node.apply_grant(op_id_of(args), args.grant_id, sku, units)
    show(args, result, "Granted", f"Grant {args.grant_id} applied.")


def cmd_release_quota(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        result = prior(node, args, Kind.QUOTA_RELEASED)
        if result is None:
            r, units = item_units(node, args.sku, args.qty)
            result = node.release_quota(op_id_of(args), r.sku, units)
    show(args, result, "Released quota")
