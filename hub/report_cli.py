"""`backroom report ...`: make the nightly report for any date, now, and set each store's zone."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date

from hub.cli import NoHub, _db, init_hint, open_hub
from hub.cli import settings as hub_settings
from hub.rules import HubError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="backroom report", description="The nightly reconciliation report.")
    p.add_argument("--db", help="the hub's database URL (default as `backroom hub`, or BACKROOM_HUB_DATABASE_URL)")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    n = sub.add_parser("nightly", help="make (or re-issue) a business date's report; prints its revision")
    n.add_argument("--date", required=True, type=date.fromisoformat, help="the business date, YYYY-MM-DD")
    n.add_argument("--store", help="one store's report (every SKU's roll-forward) instead of the chain's")
    n.add_argument("--out", help="also write its page, JSON and CSVs under this directory")
    n.add_argument("--tolerance", type=int, help="units within which a counted SKU is accurate (default 0)")
    z = sub.add_parser("zone", help="set a store's time zone (its business day; UTC until set)")
    z.add_argument("store")
    z.add_argument("tz", help="an IANA zone, such as Europe/Paris")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = hub_settings()
        hub = open_hub(_db(args), init_hint=init_hint(args))
    except NoHub as err:
        print(f"backroom report: {err}", file=sys.stderr)
        return 2
    hub.chain_tz, hub.report_keep_days = settings.chain_tz, settings.report_keep_days
    hub.report_tolerance = settings.report_tolerance if args.cmd != "nightly" or args.tolerance is None \
        else args.tolerance
    try:
        if args.cmd == "nightly":
            done = hub.make_report(args.date, args.store, out_dir=args.out or settings.report_dir)
            print(json.dumps(done))
        else:
            print(json.dumps(hub.set_store_zone(args.store, args.tz)))
        return 0
    except HubError as err:
        print(f"backroom report: {err.message}", file=sys.stderr)
        return 2
    finally:
        hub.close()


if __name__ == "__main__":
    sys.exit(main())
