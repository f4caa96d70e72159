"""`backroom node close-day`: take the day's end-of-day snapshot (the runner sends it at the next sync)."""

from __future__ import annotations

import argparse

from node.cli.common import emit_json, open_node
from node.present import local_time


def cmd_close_day(args: argparse.Namespace) -> None:
    with open_node(args) as node:
        snap = node.close_day(args.date)
    if args.json:
        emit_json(snap)
        return
    who = f"{snap['signed_by']['terminal']}/{snap['signed_by']['clerk']}"
    if snap["new"]:
        print(f"End-of-day snapshot of {snap['business_date']} ({snap['tz']}) taken: {snap['rows']} SKUs as of "
              f"ledger seq {snap['last_seq']}, signed off by {who}. It goes to the hub at the next sync.")
        return
    state = {"to_send": "waiting to be sent", "sent": f"sent {local_time(snap['sent_at'])}",
             "refused": "refused by the hub (see `backroom node status`)"}.get(snap["status"], snap["status"])
    print(f"The end-of-day snapshot of {snap['business_date']} was already taken at {local_time(snap['taken_at'])} "
          f"(seq {snap['last_seq']}, signed off by {who}); {state}. A date has one snapshot.")
