"""Selling and what follows a sale: sell (and the sale as printed), return, hold, release, expire."""

from __future__ import annotations

import argparse
from datetime import timedelta

from node.bounds import MAX_HOLD
from node.cli.common import emit_json, item_units, op_id_of, open_node, prior, scan, show, table, whole
from node.errors import TooLarge
from node.present import local_time, money
from node.rules import Kind, SaleLine, Tender

def _hold_line(node, hold_id: str) -> SaleLine:  # noqa: ANN001
    hold = node.open_hold(hold_id)
    r = node.resolve(hold.sku)
    return SaleLine(r.sku, hold.qty, r.unit_price, hold_id=hold_id)


def cmd_sell(args: argparse.Namespace) -> None:
    from node.entry import read_entry  # biip takes 170 ms to import: the parser (and --help) stays without it

    with open_node(args) as node:
        result = prior(node, args, Kind.SALE)
        if result is None:
            lines = []
            for arg in args.codes:
                entry = read_entry(arg, most=node.limits.max_line_qty)
                r = scan(node, entry.code, check_expiry=True)
                lines.append(SaleLine(r.sku, entry.times * r.units, r.unit_price))
            lines += [_hold_line(node, h) for h in args.hold]
            result = node.sell(op_id_of(args), lines, tender=Tender(args.tender), confirm_found=args.confirm_found)
        names = {ln["sku"]: node.resolve(ln["sku"]).name for ln in result["lines"]}
        store_name = node.meta().get("store_name", "")
    if args.json:
        emit_json(result)
        return
    print(sale_text(result, names, store_name))


def sale_text(result: dict, names: dict[str, str], store_name: str) -> str:
    """A sale as `sell` shows it to the clerk: each line with its SKU, the total, the tender, units over quota.

    The customer's receipt (the terminal UI prints and files it) is `node.present.receipt_text`.
    """
    rows = []
    for ln in result["lines"]:
        name = names.get(ln["sku"], ln["sku"])
        if ln.get("hold_id"):
            name += f" (hold {ln['hold_id']})"
        rows.append((ln["qty"], "x", name, ln["sku"], "@", money(ln["unit_price"]), money(ln["qty"] * ln["unit_price"])))
    body = table(rows, ("Qty", "", "Item", "SKU", "", "Each", "Amount"), right=(0, 5, 6))
    width = max(len(x) for x in body.splitlines())
    total = f"TOTAL {money(result['total'])}"
    out = [
        f"{result['store_id']}  {store_name}".rstrip(),
        f"Receipt {result['receipt']}   {local_time(result['at'])}",
        "",
        body,
        "-" * width,
        total.rjust(width),
        f"Tender: {result['tender']}",
    ]
    if result.get("over_quota"):
        out.append(f"Over quota: {result['over_quota']} unit(s) recorded for the hub to settle.")
    return "\n".join(out)


def cmd_return(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        result = prior(node, args, Kind.RETURN)
        if result is None:
            r, units = item_units(node, args.code, args.qty)
            result = node.return_items(op_id_of(args), r.sku, units, resellable=not args.not_resellable,
                                       receipt=args.receipt, bin_=args.bin)
    show(args, result, "Returned", f"Refund {money(result['refund'])}.")


def cmd_hold(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        result = prior(node, args, Kind.HOLD)
        if result is None:
            r, units = item_units(node, args.code, args.qty, check_expiry=True)
            minutes = whole(args.minutes, "Minutes")
            if minutes > MAX_HOLD.total_seconds() / 60:
                raise TooLarge(f"A hold may last at most {MAX_HOLD.days} days, not {minutes} minutes.")
            result = node.hold(op_id_of(args), r.sku, units, ttl=timedelta(minutes=minutes), customer=args.customer)
    show(args, result, "Held",
          f"Hold {result['hold_id']} until {local_time(result['expires_at'])}.")


def cmd_release(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        result = prior(node, args, "hold_release") or node.release_hold(op_id_of(args), args.hold_id)
    show(args, result, "Released", f"Hold {args.hold_id} closed.")


def cmd_expire(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        result = node.expire_holds(args.op_id)
    if args.json:
        emit_json(result)
    elif not result["expired"]:
        print("No hold is past its time.")
    else:
        show(args, result, "Expired", f"Expired {len(result['expired'])} hold(s): {', '.join(result['expired'])}.")
