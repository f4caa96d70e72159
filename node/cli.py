"""`backroom node ...`: a store's node from the command line.

Every command opens the store's node file (``--db``), calls one function of
``node.service`` and prints the result: aligned plain text for people (times
in local time; the file stores UTC), or ``--json`` for programs.

A refusal (``node.errors.StoreError``) prints one plain sentence on stderr
and exits with 2; nothing was written. A missing or unreadable node file
exits with 1, also with one sentence. Every write takes an operation id
(``--op-id``, a fresh one by default): run a command again with the same id
and it returns the first result without writing anything, so a retry after a
crash or a timeout is always safe.

``build_parser(subparsers)`` attaches the ``node`` tree to a parent parser
(the ``backroom`` root); ``run(args)`` runs a parsed command; ``main(argv)``
runs it standalone, with or without a leading ``node``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sqlite3
import sys
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from node.bounds import MAX_HOLD
from node.errors import BadQuantity, StoreError, TooLarge, UnknownGrant
from node.present import local_time, money
from node.rules import BACK, BINS, FLOOR, Kind, Policy, SaleLine, Tender

EXIT_OK = 0
EXIT_FILE = 1  # the node file is missing or unreadable
EXIT_REFUSED = 2  # bad input or a refusal (and argparse's usage errors)

DEFAULT_DB = "./store.sqlite"
DEFAULT_TERMINAL = "T1"

Handler = Callable[[argparse.Namespace], Any]


class _Refused(StoreError):
    """A refusal that does not come from the service (e.g. a backup target that exists)."""

    code = "refused"


class FileProblem(Exception):
    """The node file cannot be used (missing, not SQLite, unreadable)."""


# -- formatting -------------------------------------------------------------


def table(rows: Sequence[Sequence[Any]], header: Sequence[str], right: Sequence[int] = ()) -> str:
    """Rows as aligned columns; columns whose index is in `right` are right-aligned."""
    cells = [[str(c) for c in header]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for r in cells:
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def pairs(items: Sequence[tuple[str, Any]]) -> str:
    width = max(len(k) for k, _ in items)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in items)


def emit_json(value: Any) -> None:
    print(json.dumps(value, sort_keys=True, default=str))


def _signed(n: int) -> str:
    return f"{n:+d}" if n else "0"


# -- arguments -----------------------------------------------------------------


def whole(text: str, what: str = "Quantity") -> int:
    try:
        return int(text.strip())
    except (ValueError, AttributeError):
        raise BadQuantity(f"{what} must be a whole number of units, not {text!r}.") from None


_TIMES = re.compile(r"^(?P<code>.+?)[xX](?P<qty>-?\d+)$")


def split_times(arg: str) -> tuple[str, str]:
    """``CODE[xQTY]`` as (code, qty text); no suffix means 1."""
    m = _TIMES.match(arg.strip())
    if m is None:
        return arg, "1"
    return m["code"], m["qty"]


def _quota_share(text: str) -> float:
    try:
        share = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"quota share must be a number from 0 to 1, not {text!r}") from None
    if not 0 <= share <= 1:
        raise argparse.ArgumentTypeError(f"quota share must be from 0 to 1, not {text}")
    return share


def _common() -> argparse.ArgumentParser:
    """Options every command takes (after its name): the file, who is working, output, op id."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("common options")
    g.add_argument("--db", metavar="PATH",
                   help=f"the store's node file (default: $BACKROOM_NODE_DB or {DEFAULT_DB})")
    g.add_argument("--terminal", metavar="ID",
                   help=f"this terminal's id (default: $BACKROOM_TERMINAL or {DEFAULT_TERMINAL})")
    g.add_argument("--clerk", metavar="NAME", help="who is working (default: $BACKROOM_CLERK or $USER)")
    g.add_argument("--json", action="store_true", help="print JSON for programs instead of text")
    g.add_argument("--op-id", metavar="ID",
                   help="operation id (default: a fresh uuid4); pass the same id again to retry safely: "
                        "the first result is returned and nothing new is written")
    return p


def _settings(args: argparse.Namespace) -> tuple[Path, str, str]:
    db = Path(args.db or os.environ.get("BACKROOM_NODE_DB") or DEFAULT_DB)
    terminal = args.terminal or os.environ.get("BACKROOM_TERMINAL") or DEFAULT_TERMINAL
    clerk = args.clerk or os.environ.get("BACKROOM_CLERK") or os.environ.get("USER") or _login() or "clerk"
    return db, terminal, clerk


def _login() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name is not an error here
        return None


def _op_id(args: argparse.Namespace) -> str:
    return args.op_id or str(uuid.uuid4())


def _prior(node, args: argparse.Namespace, kind: str) -> dict | None:  # noqa: ANN001
    """The first answer to a retried operation id, looked up before anything else is checked.

    A retry comes exactly when the state has moved on (the hold it sold is
    closed, the units it took are gone): checking the request first would
    refuse what was in fact done.
    """
    return node.result_of(args.op_id, kind) if args.op_id else None


# -- the node file ---------------------------------------------------------------


def open_node(args: argparse.Namespace, *, create: bool = False):  # noqa: ANN201 - node.service.Node
    from node.service import Node

    db, terminal, clerk = _settings(args)
    if not create and not db.exists():
        raise FileProblem(f"No node file at {db}; give --db PATH or run `backroom node init --store S001` first.")
    if not create and not db.is_file():
        raise FileProblem(f"{db} is not a node file (it is not a regular file).")
    try:
        node = Node(db, terminal=terminal, clerk=clerk)
        node.meta()
    except sqlite3.DatabaseError as e:
        raise FileProblem(f"{db} cannot be read as a node file ({e}).") from None
    except OSError as e:
        raise FileProblem(f"{db} cannot be opened ({e.strerror or e}).") from None
    return node


def _scan(node, code: str, *, check_expiry: bool = False):  # noqa: ANN001, ANN202
    """What a code stands for; only a sale or hold refuses an expired perishable."""
    return node.resolve(code, for_sale=check_expiry)


def _units(node, code: str, qty_text: str, what: str = "Quantity", *, check_expiry: bool = False,  # noqa: ANN001
           allow_zero: bool = False) -> tuple[Any, int]:
    """(resolved item, units): a case code stands for its pack quantity times QTY."""
    r = _scan(node, code, check_expiry=check_expiry)
    n = whole(qty_text, what)
    if n < 0 or (n == 0 and not allow_zero):
        raise BadQuantity(f"{what} must be at least {0 if allow_zero else 1}, not {n}.")
    return r, n * r.units


# -- commands ------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> None:
    from node.service import initialise_from_chain

    if bool(args.hub) != bool(args.token):
        raise FileProblem("--hub and --token go together: the hub's address and this store's token.")
    db, _, _ = _settings(args)
    existed = db.exists()
    node = open_node(args, create=True)
    try:
        try:
            if args.hub:
                from node.runner import initialise_from_hub
                from sync.client import HubClient, SyncError

                try:
                    with HubClient(args.hub, args.token) as client:
                        initialise_from_hub(node, client, args.store, hub_url=args.hub, token=args.token)
                except SyncError as err:
                    raise FileProblem(f"The hub could not set this store up: {err}") from None
            else:
                from fixtures.chain import demo_chain

                initialise_from_chain(node, demo_chain(), args.store, policy=Policy(args.policy),
                                      quota_share=args.quota_share)
        except BaseException:
            node.close()
            if not existed:  # leave nothing behind for a refused init
                for suffix in ("", "-wal", "-shm", "-journal"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)
            raise
        st = _status(node, db)
    finally:
        node.close()
    if args.json:
        emit_json(st)
    else:
        print(f"Initialised {st['store_id']} ({st['store_name']}) in {db}: {st['items']} items, "
              f"policy {st['policy']}, ledger at seq {st['last_seq']}.")


def _status(node, db: Path) -> dict:  # noqa: ANN001
    from node.runner import status as sync_status

    meta = node.meta()
    store_id = node.store_id
    c = node.conn
    return {
        "store_id": store_id,
        "store_name": meta.get("store_name", ""),
        "policy": str(node.policy),
        "created_at": meta.get("created_at"),
        "last_seq": node.last_seq(),
        "items": c.execute("SELECT count(*) FROM items").fetchone()[0],
        "open_holds": c.execute("SELECT count(*) FROM holds WHERE status = 'open'").fetchone()[0],
        "db": str(db),
        "terminal": node.terminal,
        "clerk": node.clerk,
        **{k: v for k, v in sync_status(node).items() if k in ("hub", "online", "last_sync_at", "last_error",
                                                                "pushed_seq", "waiting", "sync_stopped",
                                                                "last_problem")},
    }


def cmd_status(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        st = _status(node, node.path)
    if args.json:
        emit_json(st)
        return
    print(pairs([("Store", f"{st['store_id']}  {st['store_name']}"), ("Policy", st["policy"]),
                 ("Items", st["items"]), ("Last seq", st["last_seq"]), ("Open holds", st["open_holds"]),
                 ("Created", local_time(st["created_at"])), ("Node file", st["db"]),
                 ("Terminal", st["terminal"]), ("Clerk", st["clerk"]),
                 ("Hub", st["hub"] or "none (standalone)"),
                 ("Link", {True: "online", False: "offline", None: "-"}[st["online"]]),
                 ("Last sync", local_time(st["last_sync_at"]) or "never"),
                 ("Waiting to sync", f"{st['waiting']} ledger entries"),
                 *([("SYNC STOPPED", st["sync_stopped"])] if st["sync_stopped"] else []),
                 *([("Last error", st["last_error"])] if st["last_error"] else []),
                 *([("Last problem", st["last_problem"])] if st["last_problem"] else [])]))


def cmd_sync(args: argparse.Namespace) -> None:
    from node.runner import client_for, sync_once

    with open_node(args) as node:
        with client_for(node) as client:
            result = sync_once(node, client)
    if args.json:
        emit_json(result)
    elif not result["online"]:
        raise FileProblem(f"The hub is out of reach ({result['error']}); sales are kept and sync later.")
    elif "stopped" in result:
        raise FileProblem(f"Sync is stopped ({result['stopped']}): {result['error']}")
    else:
        print(f"Synced: {result['pushed']} entries pushed, {result['grants']} grants applied, "
              f"{result['releases']} release requests answered, {result['chain']} chain figures updated.")


def cmd_recover(args: argparse.Namespace) -> None:
    from node.runner import SyncStopped, client_for, recover
    from sync.client import SyncError

    with open_node(args) as node:
        with client_for(node) as client:
            try:
                result = recover(node, client)
            except SyncStopped as err:
                node.set_meta(sync_stopped=err.code, last_error=err.message)
                raise _Refused(err.message) from None
            except SyncError as err:
                raise FileProblem(f"The hub could not be asked: {err}") from None
    if args.json:
        emit_json(result)
    elif result["recovered"]:
        print(f"Recovered {result['recovered']} entries from the hub; the ledger now ends at seq {result['last_seq']}.")
    else:
        print(f"Nothing to recover: the hub holds this store's ledger up to seq {result['hub_seq']} and this file "
              f"up to seq {result['last_seq']}, the same entries.")


def cmd_run(args: argparse.Namespace) -> None:
    import signal
    import threading

    from node.runner import Runner

    import logging

    db, _, _ = _settings(args)
    with open_node(args):
        pass  # the same clear errors as every command for a missing or empty file
    # While the hub is down a tick outlasts its interval; APScheduler says so every half second.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    stop = threading.Event()
    runner = Runner(str(db), pull_every=args.pull_every,
                    on_sync=(lambda r: print(json.dumps(r), flush=True)) if args.json else None)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    runner.start()
    if not args.json:
        print(f"Syncing {db} with its hub (push after each sale, pull every {args.pull_every:g} s); Ctrl+C stops.",
              flush=True)
    try:
        stop.wait(args.seconds if args.seconds else None)
    finally:
        runner.stop()


def _hold_line(node, hold_id: str) -> SaleLine:  # noqa: ANN001
    hold = node.open_hold(hold_id)
    r = node.resolve(hold.sku)
    return SaleLine(r.sku, hold.qty, r.unit_price, hold_id=hold_id)


def cmd_sell(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        result = _prior(node, args, "sale")
        if result is None:
            lines = []
            for arg in args.codes:
                code, qty = split_times(arg)
                r, units = _units(node, code, qty, check_expiry=True)
                lines.append(SaleLine(r.sku, units, r.unit_price))
            lines += [_hold_line(node, h) for h in args.hold]
            result = node.sell(_op_id(args), lines, tender=Tender(args.tender), confirm_found=args.confirm_found)
        names = {ln["sku"]: node.resolve(ln["sku"]).name for ln in result["lines"]}
        store_name = node.meta().get("store_name", "")
    if args.json:
        emit_json(result)
        return
    print(receipt_text(result, names, store_name, args))


def receipt_text(result: dict, names: dict[str, str], store_name: str, args: argparse.Namespace) -> str:
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


def _posted_text(result: dict, verb: str) -> str:
    """One line per ledger entry a write made."""
    out = []
    for e in result.get("entries", []):
        extra = f", over quota {e['over_quota']}" if e.get("over_quota") else ""
        out.append(f"{verb} {e['qty']} of {e['sku']} ({e['kind']}): on hand {e['on_hand']}, quota {e['quota']}, "
                   f"held {e['held']}{extra}.")
    seq = result.get("seq")
    if seq and seq[0] <= seq[1]:
        out.append(f"Ledger seq {seq[0]}" + (f"-{seq[1]}" if seq[1] != seq[0] else "") + ".")
    return "\n".join(out)


def _show(args: argparse.Namespace, result: dict, verb: str, first: str | None = None) -> None:
    if args.json:
        emit_json(result)
        return
    text = _posted_text(result, verb)
    print(f"{first}\n{text}" if first else text)


def cmd_return(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        result = _prior(node, args, "return")
        if result is None:
            r, units = _units(node, args.code, args.qty)
            result = node.return_items(_op_id(args), r.sku, units, resellable=not args.not_resellable,
                                       receipt=args.receipt, bin_=args.bin)
    _show(args, result, "Returned", f"Refund {money(result['refund'])}.")


def cmd_receive(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        result = _prior(node, args, "receive")
        if result is None:
            r, units = _units(node, args.code, args.qty)
            result = node.receive(_op_id(args), r.sku, units, bin_=args.bin, delivery=args.delivery)
    _show(args, result, "Received")


def cmd_hold(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        result = _prior(node, args, "hold")
        if result is None:
            r, units = _units(node, args.code, args.qty, check_expiry=True)
            minutes = whole(args.minutes, "Minutes")
            if minutes > MAX_HOLD.total_seconds() / 60:
                raise TooLarge(f"A hold may last at most {MAX_HOLD.days} days, not {minutes} minutes.")
            result = node.hold(_op_id(args), r.sku, units, ttl=timedelta(minutes=minutes), customer=args.customer)
    _show(args, result, "Held",
          f"Hold {result['hold_id']} until {local_time(result['expires_at'])}.")


def cmd_release(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        result = _prior(node, args, "hold_release") or node.release_hold(_op_id(args), args.hold_id)
    _show(args, result, "Released", f"Hold {args.hold_id} closed.")


def cmd_expire(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        result = node.expire_holds(args.op_id)
    if args.json:
        emit_json(result)
    elif not result["expired"]:
        print("No hold is past its time.")
    else:
        _show(args, result, "Expired", f"Expired {len(result['expired'])} hold(s): {', '.join(result['expired'])}.")


def cmd_count(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        result = _prior(node, args, "count")
        if result is None:
            r, units = _units(node, args.code, args.counted, "A counted figure", allow_zero=True)
            result = node.count(_op_id(args), r.sku, args.bin, units, confirm_found=args.confirm_found)
    _show(args, result, "Counted difference")


def cmd_write_off(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        result = _prior(node, args, str(Kind(args.kind)))
        if result is None:
            r, units = _units(node, args.code, args.qty)
            result = node.write_off(_op_id(args), Kind(args.kind), r.sku, units, bin_=args.bin, reason=args.reason)
    _show(args, result, "Wrote off")


def cmd_move(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        result = _prior(node, args, "move")
        if result is None:
            r, units = _units(node, args.code, args.qty)
            result = node.move(_op_id(args), r.sku, units, from_bin=args.from_bin, to_bin=args.to_bin)
    e = result["entries"][0]
    _show(args, result, "Moved", f"Moved {e['qty']} of {e['sku']} from {args.from_bin} to {args.to_bin}.")


def cmd_transfer_out(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        op_id = _op_id(args)
        result = _prior(node, args, "transfer_out")
        if result is None:
            r, units = _units(node, args.code, args.qty)
            result = node.transfer_out(op_id, r.sku, units, to_location=args.to, transfer_id=args.transfer_id,
                                       bin_=args.bin)
    result = {"transfer_id": args.transfer_id or op_id, **result}
    _show(args, result, "Sent", f"Transfer {result['transfer_id']} to {args.to}.")


def cmd_transfer_in(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        result = _prior(node, args, "transfer_in")
        if result is None:
            r, units = _units(node, args.code, args.qty)
            result = node.transfer_in(_op_id(args), args.transfer_id, r.sku, units,
                                      from_location=args.from_location, bin_=args.bin)
    _show(args, result, "Received", f"Transfer {args.transfer_id} from {args.from_location}.")


def cmd_grant(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        result = _prior(node, args, "quota_granted")
        if result is None:
            # The hub's quantity, always: a typed SKU and quantity are only checked against it.
            pulled = node.pulled_grant(args.grant_id)
            if pulled is None:
                raise UnknownGrant(f"Grant {args.grant_id} has not come from the hub; sync first.")
            sku, units = pulled.sku, pulled.qty
            if args.sku is not None:
                sku = _scan(node, args.sku).sku
            if args.qty is not None:
                units = _units(node, sku, args.qty)[1]
            result = node.apply_grant(_op_id(args), args.grant_id, sku, units)
    _show(args, result, "Granted", f"Grant {args.grant_id} applied.")


def cmd_release_quota(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        result = _prior(node, args, "quota_released")
        if result is None:
            r, units = _units(node, args.sku, args.qty)
            result = node.release_quota(_op_id(args), r.sku, units)
    _show(args, result, "Released quota")


def cmd_lookup(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        r = _scan(node, args.code)
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
    print(table([(r["seq"], local_time(r["at"]), r["kind"], r["sku"], r["qty"], _signed(r["floor_delta"]),
                  _signed(r["back_delta"]), _signed(r["quota_delta"]), _signed(r["held_delta"]),
                  r["over_quota"] or "", r["on_hand_after"], r["quota_after"], r["ref"] or "",
                  money(r["amount"]) if r["amount"] else "", r["terminal"], r["clerk"]) for r in rows],
                LEDGER_HEADER, right=(0, 4, 5, 6, 7, 8, 9, 10, 11, 13)))


def cmd_backup(args: argparse.Namespace) -> None:
    dest = Path(args.dest)
    with open_node(args) as node:
        try:
            out = node.backup(dest)
        except FileExistsError as e:
            raise _Refused(str(e)) from None
        except (OSError, sqlite3.OperationalError) as e:
            raise _Refused(f"Cannot write a backup to {dest}: {e}.") from None
        seq = node.last_seq()
    if args.json:
        emit_json({"backup": str(out), "last_seq": seq})
    else:
        print(f"Backed up to {out} (ledger up to seq {seq}).")


# -- the parser -------------------------------------------------------------------------


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
    common = _common()
    sub = root.add_subparsers(title="commands", metavar="COMMAND")

    p = _add(sub, "init", cmd_init, "set up a new node file as one store of the demo chain", common)
    p.add_argument("--store", required=True, metavar="ID", help="store id in the demo chain, e.g. S001")
    p.add_argument("--policy", choices=[str(x) for x in Policy], default=str(Policy.IN_HAND),
                   help="a sale past quota: strict refuses it, in-hand records it over quota (default: in-hand)")
    p.add_argument("--quota-share", type=_quota_share, default=0.7, metavar="SHARE",
                   help="share of each SKU's unbuffered stock the store may sell offline (default: 0.7)")
    p.add_argument("--hub", metavar="URL", help="set the store up from this hub (its catalog, stock and quota; "
                   "a replaced machine gets its ledger back) instead of the demo fixtures")
    p.add_argument("--token", metavar="TOKEN", help="this store's credential for --hub")

    p = _add(sub, "sell", cmd_sell, "sell scanned items and print the receipt", common,
             "Sell scanned items and print the receipt.\n\nCODE is a barcode or a SKU, optionally followed by "
             "xQTY (e.g. 4006381333931x3).\nA case code sells its pack quantity; an in-store code carries its price.")
    p.add_argument("codes", nargs="*", metavar="CODE[xQTY]", help="barcode or SKU, with an optional xQTY")
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


if __name__ == "__main__":
    sys.exit(main())
