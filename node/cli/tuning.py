"""`backroom node settings`: show the store's own settings, or change them (`KEY=VALUE`)."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from node.bounds import SETTINGS, check_setting
from node.cli.common import emit_json, open_node
from node.errors import BadText
from node.rules import closing



def _close_at(text: str) -> str:
    at = closing.close_time(text)
    return at.strftime("%H:%M") if at else ""


# Settings that are not figures: how each is checked (and written as it reads back), and what it means.
WORDS = {
    "close_at": (_close_at, "local time the runner takes the end-of-day snapshot (HH:MM, or off)"),
    "tz": (lambda v: closing.zone(v).key, "the store's IANA time zone: its business day"),
}


def _check(name: str, value: str) -> str:
    if name in WORDS:
        return WORDS[name][0](value)
    if name not in SETTINGS:
        raise BadText(f"There is no store setting {name!r}; the settings are {', '.join([*SETTINGS, *WORDS])}.")
    return str(check_setting(name, value))


def cmd_settings(args: argparse.Namespace) -> None:
    changes = {}
    for pair in args.pairs:
        name, eq, value = pair.partition("=")
        if not eq:
            raise BadText(f"{pair!r} is not KEY=VALUE (e.g. receipt_width=48).")
        name = name.strip()
        changes[name] = _check(name, value)  # all checked before any is written
    node = open_node(args)
    try:
        if changes:
            node.set_meta(**changes)
        limits = asdict(node.limits)
        meta = node.meta()
        country = meta.get("rcn_country") or "DK"
        words = {"close_at": meta.get("close_at") or "off", "tz": meta.get("tz") or "UTC"}
    finally:
        node.close()
    if args.json:
        emit_json({**limits, "rcn_country": country, **words})
        return
    for name, (least, most, what) in SETTINGS.items():
        mark = "  (changed)" if name in changes else ""
        print(f"{name:<17} {limits[name]:>7}  {what} ({least}-{most}){mark}")
    print(f"{'rcn_country':<17} {country:>7}  the country whose in-store code layout is read (set by init --country)")
    for name, (_, what) in WORDS.items():
        mark = "  (changed)" if name in changes else ""
        print(f"{name:<17} {words[name]:>7}  {what}{mark}")
