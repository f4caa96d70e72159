"""The `node` command tree (every command and its flags) and running a parsed command."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Sequence

from node.cli.common import (
    EXIT_FILE,
    EXIT_OK,
    EXIT_REFUSED,
    FileProblem,
    Handler,
    common_options,
    emit_json,
    quota_share,
)
from node.cli.closing import cmd_close_day
from node.cli.orders import cmd_hand_over, cmd_orders
from node.cli.reads import cmd_ledger, cmd_lookup, cmd_search
from node.cli.sales import cmd_expire, cmd_hold, cmd_release, cmd_return, cmd_sell
from node.cli.setup import cmd_backup, cmd_init, cmd_recover, cmd_run, cmd_status, cmd_sync
from node.cli.tuning import cmd_settings
from node.cli.stock import (
    cmd_count,
    cmd_grant,
    cmd_move,
    cmd_receive,
    cmd_release_quota,
    cmd_transfer_in,
    cmd_transfer_out,
    cmd_write_off,
)
from node.errors import StoreError
from node.rules import BACK, BINS, FLOOR, Kind, Policy, Tender

def _add(sub: argparse._SubParsersAction, name: str, handler: Handler, help_: str, common: argparse.ArgumentParser,
         description: str | None = None) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_, description=description or help_, parents=[common],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(_node_handler=handler)
    return p


def _code_qty(p: argparse.ArgumentParser, code: str = "CODE_OR_SKU", qty: str = "QTY") -> None:
    p.add_argument("code", metavar=code, help="a barcode (a case code means its pack quantity) or a SKU")
    p.add_argument("qty", metavar=qty, help="how many (of cases, for a case code)")


def _bin(p: argparse.ArgumentParser, default: str, what: str = "bin") -> None:
    p.add_argument("--bin", choices=BINS, default=default, help=f"{what} (default: {default})")


def build_parser(subparsers: argparse._SubParsersAction | None = None) -> argparse.ArgumentParser:
    """The `node` command tree: on `subparsers` of a parent (as `node`), or as its own parser."""
    description = "A store's node: sell, return, receive, hold, count and look up stock, offline."
    if subparsers is None:
        root = argparse.ArgumentParser(prog="backroom node", description=description)
    else:
        root = subparsers.add_parser("node", help="work with this store's node file", description=description)
    root.set_defaults(_node_handler=None, _node_parser=root)
    common = common_options()
    sub = root.add_subparsers(title="commands", metavar="COMMAND")

    p = _add(sub, "init", cmd_init, "set up a new node file as one store of the demo chain", common)
    p.add_argument("--store", required=True, metavar="ID", help="store id in the demo chain, e.g. S001")
    p.add_argument("--policy", choices=[str(x) for x in Policy], default=str(Policy.IN_HAND),
                   help="a sale past quota: strict refuses it, in-hand records it over quota (default: in-hand)")
    p.add_argument("--quota-share", type=quota_share, default=0.7, metavar="SHARE",
                   help="share of each SKU's unbuffered stock the store may sell offline (default: 0.7)")
    p.add_argument("--hub", metavar="URL", help="set the store up from this hub (its catalog, stock and quota; "
                   "a replaced machine gets its ledger back) instead of the demo fixtures")
    p.add_argument("--token", metavar="TOKEN", help="this store's credential for --hub")
    p.add_argument("--country", metavar="XX", help="ISO 3166 alpha-2 code whose layout gives in-store price and "
                   "weight codes their meaning, e.g. DE or SE (default: the hub's, else DK)")

    p = _add(sub, "sell", cmd_sell, "sell scanned items and print the receipt", common,
             "Sell scanned items and print the receipt.\n\nCODE is a barcode or a SKU, optionally preceded by "
             "QTY* (e.g. '3*9309243598147', quoted so the shell leaves the * alone).\n"
             "A case code sells its pack quantity; an in-store code carries its price.")
    p.add_argument("codes", nargs="*", metavar="[QTY*]CODE", help="barcode or SKU, with an optional QTY* before it")
    p.add_argument("--tender", choices=[str(t) for t in Tender], default=str(Tender.CASH),
                   help="how the customer pays (default: cash)")
    p.add_argument("--hold", action="extend", nargs="+", default=[], metavar="HOLD_ID",
                   help="also sell the units of these holds (the customer came)")
    p.add_argument("--confirm-found", action="store_true",
                   help="the customer really holds more units than the book shows (found at the till)")

    p = _add(sub, "return", cmd_return, "take back units a customer returns, and refund them", common)
    _code_qty(p)
    p.add_argument("--receipt", metavar="R", help="the receipt they were sold on (refund at the price paid)")
    p.add_argument("--not-resellable", action="store_true",
                   help="the units cannot be sold again (refund only; the stock is unchanged)")
    _bin(p, BACK, "where resellable units go")

    p = _add(sub, "receive", cmd_receive, "receive a delivery into the store", common)
    _code_qty(p)
    _bin(p, BACK, "where the units go")
    p.add_argument("--delivery", metavar="REF", help="the delivery note's reference")

    p = _add(sub, "hold", cmd_hold, "put units aside for a customer (out of the store's quota)", common)
    _code_qty(p)
    p.add_argument("--minutes", default="120", help="how long the hold lasts (default: 120)")
    p.add_argument("--customer", default="", metavar="NAME", help="who the units are for")

    p = _add(sub, "release", cmd_release, "release a hold: its units go back to the quota", common)
    p.add_argument("hold_id", metavar="HOLD_ID", help="the hold to release")

    _add(sub, "expire", cmd_expire, "expire every hold past its time", common)

    p = _add(sub, "count", cmd_count, "record a shelf count; the book is corrected to it", common)
    p.add_argument("code", metavar="CODE_OR_SKU", help="a barcode (a case code counts packs) or a SKU")
    _bin(p, FLOOR, "the bin counted")
    p.add_argument("counted", metavar="COUNTED", help="how many are there (0 or more)")
    p.add_argument("--confirm-found", action="store_true",
                   help="the count really finds far more than the book shows")

    for kind, text in ((Kind.DAMAGED, "write off damaged units"), (Kind.EXPIRED, "write off expired units"),
                       (Kind.LOST, "write off lost units")):
        p = _add(sub, str(kind), cmd_write_off, text, common)
        p.set_defaults(kind=str(kind))
        _code_qty(p)
        _bin(p, FLOOR, "the bin they leave")
        p.add_argument("--reason", default="", help="a note for the ledger")

    p = _add(sub, "move", cmd_move, "move units between bins (e.g. back to floor)", common)
    _code_qty(p)
    p.add_argument("--from", dest="from_bin", choices=BINS, required=True, help="bin the units leave")
    p.add_argument("--to", dest="to_bin", choices=BINS, required=True, help="bin the units go to")

    p = sub.add_parser("transfer", help="send units to, or receive them from, another location",
                       description="Send units to, or receive them from, another location.")
    p.set_defaults(_node_handler=None, _node_parser=p)
    tsub = p.add_subparsers(title="directions", metavar="DIRECTION")
    t = _add(tsub, "out", cmd_transfer_out, "send units to another location (out of this store's quota)", common)
    _code_qty(t)
    t.add_argument("--to", required=True, metavar="LOCATION", help="where they go, e.g. S002")
    t.add_argument("--transfer-id", metavar="ID", help="the transfer's id (default: the operation id)")
    _bin(t, BACK, "the bin they leave first")
    t = _add(tsub, "in", cmd_transfer_in, "receive a transfer from another location", common)
    t.add_argument("transfer_id", metavar="TRANSFER_ID", help="the transfer's id (received once)")
    _code_qty(t)
    t.add_argument("--from", dest="from_location", required=True, metavar="LOCATION",
                   help="where they come from, e.g. S002")
    _bin(t, BACK, "where the units go")

    p = _add(sub, "grant", cmd_grant, "apply a quota grant pulled from the hub (once, as the hub sent it)",
             common)
    p.add_argument("grant_id", metavar="GRANT_ID", help="the hub's grant id")
    p.add_argument("sku", metavar="SKU", nargs="?", help="the SKU (or a barcode), checked against the hub's grant")
    p.add_argument("qty", metavar="QTY", nargs="?", help="units granted, checked against the hub's grant")

    p = _add(sub, "release-quota", cmd_release_quota, "give unused quota back to the hub", common)
    p.add_argument("sku", metavar="SKU", help="the SKU (or a barcode)")
    p.add_argument("qty", metavar="QTY", help="units to release at most")

    _add(sub, "orders", cmd_orders, "list the web orders the hub asked this store to hand over", common)
    p = _add(sub, "hand-over", cmd_hand_over, "hand a web order over (picked up, or sent off): out of the hub's "
             "share, never the store's quota", common)
    p.add_argument("order_id", metavar="ORDER_ID", help="the web order's id, as `backroom node orders` lists it")

    p = _add(sub, "lookup", cmd_lookup,
             "show an item: floor, back, quota, holds, the rest of the chain, incoming", common)
    p.add_argument("code", metavar="CODE_OR_SKU", help="a barcode or a SKU")

    p = _add(sub, "search", cmd_search, "find items by the start of words in their name", common)
    p.add_argument("prefix", metavar="PREFIX", help="the start of one or more words, e.g. 'oat mil'")
    p.add_argument("--limit", default="20", metavar="N", help="at most N items (default: 20)")

    p = _add(sub, "ledger", cmd_ledger, "show ledger entries in order (JSON lines with --json)", common)
    p.add_argument("--after", default="0", metavar="SEQ", help="entries after this sequence number (default: 0)")
    p.add_argument("--limit", default="100", metavar="N", help="at most N entries (default: 100)")

    p = _add(sub, "backup", cmd_backup, "write a consistent copy of the node file (terminals keep selling)",
             common)
    p.add_argument("dest", metavar="DEST", help="a new file to write")

    p = _add(sub, "settings", cmd_settings, "show the store's own settings (line limits, receipt width), or change them",
             common, "Show the store's own settings, or change them with KEY=VALUE pairs, e.g.\n"
             "  backroom node settings receipt_width=48 confirm_line_qty=12\nEach value is checked before any is written.")
    p.add_argument("pairs", nargs="*", metavar="KEY=VALUE", help="a setting and its new value")

    p = _add(sub, "close-day", cmd_close_day, "take the end-of-day snapshot (on hand by bin, quota, held per SKU) "
             "for the hub to check", common,
             "Take the end-of-day snapshot: every SKU's floor, back, quota and held units as of the ledger's last\n"
             "sequence, signed off by this terminal and clerk, sent to the hub at the next sync. One per business\n"
             "date (the store's local day, setting tz); again for the same date shows the first. The runner takes\n"
             "it by itself at the store's closing time (setting close_at, e.g. 22:00; off until set).")
    p.add_argument("--date", metavar="YYYY-MM-DD", help="the business date (default: today in the store's zone); "
                   "an earlier day only if nothing was written since it ended")

    _add(sub, "status", cmd_status, "show the store, its policy, the ledger and its sync state (online, waiting)",
         common)
    _add(sub, "sync", cmd_sync, "push the ledger to the hub and pull from it, once", common)
    _add(sub, "recover", cmd_recover, "a node restored from an old copy: get the entries it lacks back from the hub",
         common)
    p = _add(sub, "run", cmd_run, "keep syncing: push shortly after each sale, pull on an interval", common)
    p.add_argument("--pull-every", type=float, default=10.0, metavar="SECONDS",
                   help="how often to pull grants, release requests and the chain picture (default 10)")
    p.add_argument("--seconds", type=float, default=0, help="stop after this long (default: run until stopped)")
    return root


# -- running -------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    """Run a parsed `node` command; the exit code."""
    handler = getattr(args, "_node_handler", None)
    if handler is None:
        args._node_parser.print_help(sys.stderr)
        return EXIT_REFUSED
    try:
        handler(args)
    except StoreError as e:
        if getattr(args, "json", False):
            emit_json({"error": {"code": e.code, "message": str(e)}})
        print(str(e), file=sys.stderr)
        return EXIT_REFUSED
    except FileProblem as e:
        print(str(e), file=sys.stderr)
        return EXIT_FILE
    except sqlite3.DatabaseError as e:
        print(f"The node file cannot be used: {e}.", file=sys.stderr)
        return EXIT_FILE
    except BrokenPipeError:  # e.g. `backroom node ledger | head`
        return EXIT_OK
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """`backroom node COMMAND ...`: the exit code (a leading `node` is accepted too)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "node":
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    return run(args)
