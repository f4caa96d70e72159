"""`backroom node settings`: show the store's own settings, or change them (`KEY=VALUE`)."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from node.bounds import SETTINGS, check_setting
from node.cli.common import emit_json, open_node
from node.errors import BadText


def cmd_settings(args: argparse.Namespace) -> None:
    changes = {}
    for pair in args.pairs:
        name, eq, value = pair.partition("=")
        if not eq:
            raise BadText(f"{pair!r} is not KEY=VALUE (e.g. receipt_width=48).")
        changes[name.strip()] = str(check_setting(name.strip(), value))  # all checked before any is written
    node = open_node(args)
    try:
        if changes:
            node.set_meta(**changes)
        limits = asdict(node.limits)
        country = node.meta().get("rcn_country") or "DK"
    finally:
        node.close()
    if args.json:
        emit_json({**limits, "rcn_country": country})
        return
    for name, (least, most, what) in SETTINGS.items():
        mark = "  (changed)" if name in changes else ""
        print(f"{name:<17} {limits[name]:>7}  {what} ({least}-{most}){mark}")
    print(f"{'rcn_country':<17} {country:>7}  the country whose in-store code layout is read (set by init --country)")
