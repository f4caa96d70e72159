"""Reading the node file: lookup, search, the ledger."""

from __future__ import annotations

import argparse

from node.cli.common import emit_json, open_node, pairs, scan, signed, table, whole
from node.errors import BadQuantity
from node.present import local_time, money

def cmd_lookup(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        r = scan(node, args.code)
        info = node.lookup(r.sku)
    info = {**info, "scan_units": r.units, "scan_price": r.unit_price}
    if args.json:
        emit_json(info)
        return
    print(lookup_text(info))


def lookup_text(d: dict) -> str:
    head = [("Item", f"{d['sku']}  {d['name']}"), ("Price", money(d["price"])), ("GTIN", d["gtin"])]
    if d.get("case_gtin"):
        head.append(("Case", f"{d['case_gtin']} (pack of {d['pack_qty']})"))
    if d.get("scan_units", 1) != 1 or d.get("scan_price") != d["price"]:
        head.append(("This scan", f"{d['scan_units']} unit(s) at {money(d['scan_price'])} each"))
    head += [("Floor", d["floor"]), ("Back", d["back"]), ("On hand", d["on_hand"]), ("Quota", d["quota"]),
             ("Held", d["held"]), ("Over quota", d["over_quota"])]
    out = [pairs(head)]
    if d["holds"]:
        out += ["", "Holds:", table([(h["hold_id"], h["qty"], local_time(h["expires_at"]), h["customer"],
                                      h["terminal"], h["clerk"]) for h in d["holds"]],
                                    ("Hold", "Qty", "Expires", "Customer", "Terminal", "Clerk"), right=(1,))]
    if d["chain"]:
        out += ["", "Elsewhere in the chain:", table(
            [(x["location"], x["name"], x["on_hand"], x["available"], local_time(x["as_of"])) for x in d["chain"]],
            ("Where", "Name", "On hand", "Available", "As of"), right=(2, 3))]
    else:
        out += ["", "Elsewhere in the chain: no picture yet (it comes from the hub when the node syncs)."]
    if d["incoming"]:
        out += ["", "Incoming:", table([(x["transfer_id"], x["from_location"], x["qty"]) for x in d["incoming"]],
                                       ("Transfer", "From", "Qty"), right=(2,))]
    return "\n".join(out)


def cmd_search(args: argparse.Namespace) -> None:
    limit = whole(args.limit, "Limit")
    if limit < 1:
        raise BadQuantity(f"Limit must be at least 1, not {limit}.")
    with open_node(args) as node:
        found = node.search(args.prefix, limit=limit)
    if args.json:
        emit_json(found)
    elif not found:
        print(f"Nothing found for {args.prefix!r}.")
    else:
        print(table([(x["sku"], x["name"], money(x["price"]), x["floor"], x["back"], x["quota"]) for x in found],
                    ("SKU", "Name", "Price", "Floor", "Back", "Quota"), right=(2, 3, 4, 5)))


LEDGER_HEADER = ("Seq", "Time", "Kind", "SKU", "Qty", "Floor", "Back", "Quota", "Held", "Over", "On hand",
                 "Quota after", "Ref", "Amount", "Term", "Clerk")


def cmd_ledger(args: argparse.Namespace) -> None:
    after, limit = whole(args.after, "--after"), whole(args.limit, "Limit")
    if after < 0 or limit < 1:
        raise BadQuantity(f"--after must be 0 or more and --limit at least 1, not {after} and {limit}.")
    with open_node(args) as node:
        rows = node.ledger(after=after, limit=limit)
    if args.json:
        for r in rows:
            emit_json(r)
        return
    if not rows:
        print(f"No ledger entries after seq {after}.")
        return
    print(table([(r["seq"], local_time(r["at"]), r["kind"], r["sku"], r["qty"], signed(r["floor_delta"]),
                  signed(r["back_delta"]), signed(r["quota_delta"]), signed(r["held_delta"]),
                  r["over_quota"] or "", r["on_hand_after"], r["quota_after"], r["ref"] or "",
                  money(r["amount"]) if r["amount"] else "", r["terminal"], r["clerk"]) for r in rows],
                LEDGER_HEADER, right=(0, 4, 5, 6, 7, 8, 9, 10, 11, 13)))
