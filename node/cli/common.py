"""What every `backroom node` command shares: exit codes, options, the node file opened, items scanned, output."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from node.errors import BadQuantity, StoreError

EXIT_OK = 0
EXIT_FILE = 1  # the node file is missing or unreadable
EXIT_REFUSED = 2  # bad input or a refusal (and argparse's usage errors)

DEFAULT_DB = "./store.sqlite"
DEFAULT_TERMINAL = "T1"

Handler = Callable[[argparse.Namespace], Any]


class Refusal(StoreError):
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


def signed(n: int) -> str:
    return f"{n:+d}" if n else "0"


# -- arguments -----------------------------------------------------------------


def whole(text: str, what: str = "Quantity") -> int:
    try:
        return int(text.strip())
    except (ValueError, AttributeError):
        raise BadQuantity(f"{what} must be a whole number of units, not {text!r}.") from None


def quota_share(text: str) -> float:
    try:
        share = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"quota share must be a number from 0 to 1, not {text!r}") from None
    if not 0 <= share <= 1:
        raise argparse.ArgumentTypeError(f"quota share must be from 0 to 1, not {text}")
    return share


def common_options() -> argparse.ArgumentParser:
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


def settings(args: argparse.Namespace) -> tuple[Path, str, str]:
    db = Path(args.db or os.environ.get("BACKROOM_NODE_DB") or DEFAULT_DB)
    terminal = args.terminal or os.environ.get("BACKROOM_TERMINAL") or DEFAULT_TERMINAL
    clerk = args.clerk or os.environ.get("BACKROOM_CLERK") or os.environ.get("USER") or _login() or "clerk"
    return db, terminal, clerk


def _login() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name is not an error here
        return None


def op_id_of(args: argparse.Namespace) -> str:
    return args.op_id or str(uuid.uuid4())


def prior(node, args: argparse.Namespace, kind: str) -> dict | None:  # noqa: ANN001
    """The first answer to a retried operation id, looked up before anything else is checked.

    A retry comes exactly when the state has moved on (the hold it sold is
    closed, the units it took are gone): checking the request first would
    refuse what was in fact done.
    """
    return node.result_of(args.op_id, kind) if args.op_id else None


# -- the node file ---------------------------------------------------------------


def open_node(args: argparse.Namespace, *, create: bool = False):  # noqa: ANN201 - node.service.Node
    from node.service import Node

    db, terminal, clerk = settings(args)
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


def scan(node, code: str, *, check_expiry: bool = False):  # noqa: ANN001, ANN202
    """What a code stands for; only a sale or hold refuses an expired perishable."""
    return node.resolve(code, for_sale=check_expiry)


def item_units(node, code: str, qty_text: str, what: str = "Quantity", *, check_expiry: bool = False,  # noqa: ANN001
           allow_zero: bool = False) -> tuple[Any, int]:
    """(resolved item, units): a case code stands for its pack quantity times QTY."""
    r = scan(node, code, check_expiry=check_expiry)
    n = whole(qty_text, what)
    if n < 0 or (n == 0 and not allow_zero):
        raise BadQuantity(f"{what} must be at least {0 if allow_zero else 1}, not {n}.")
    return r, n * r.units


def posted_text(result: dict, verb: str) -> str:
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


def show(args: argparse.Namespace, result: dict, verb: str, first: str | None = None) -> None:
    if args.json:
        emit_json(result)
        return
    text = posted_text(result, verb)
    print(f"{first}\n{text}" if first else text)
