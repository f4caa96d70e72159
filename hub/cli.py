"""`backroom hub ...`: set up the hub, serve it, and manage credentials."""

from __future__ import annotations

import argparse
import json
import os
import sys

from hub.rules import HubError
from sync.kinds import Policy, stamp, utcnow

DEFAULT_DB = "sqlite:///hub.sqlite"


def _db(args: argparse.Namespace) -> str:
    return args.db or os.environ.get("BACKROOM_HUB_DATABASE_URL") or DEFAULT_DB


def _country(text: str) -> str:
    if len(text) != 2 or not (text.isascii() and text.isalpha()):
        raise argparse.ArgumentTypeError(f"a country is two letters (ISO 3166 alpha-2, e.g. DE), not {text!r}")
    return text.upper()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="backroom hub", description="The chain's source of truth (FastAPI).")
    p.add_argument("--db", help=f"database URL: sqlite:///FILE or postgresql://... (default {DEFAULT_DB}, "
                                "or BACKROOM_HUB_DATABASE_URL)")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    i = sub.add_parser("init", help="load the demo chain: catalog, locations, stock and each store's opening quota")
    i.add_argument("--quota-share", type=float, default=0.7,
                   help="share of each store's unbuffered stock that opens as the store's quota (default 0.7)")
    i.add_argument("--policy", choices=list(Policy), default=Policy.IN_HAND,
                   help="what stores do with a sale past quota (default in-hand)")
    i.add_argument("--skus", type=int, default=2000, help="catalog size (default 2,000: the demo chain)")
    i.add_argument("--stores", type=int, default=3, help="number of stores (default 3)")
    i.add_argument("--seed", type=int, default=7, help="fixtures seed (default 7)")

    s = sub.add_parser("serve", help="serve the hub's HTTP API with uvicorn")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8700, help="port (default 8700)")
    s.add_argument("--workers", type=int, default=1, help="hub processes (default 1)")
    s.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")
    s.add_argument("--country", metavar="XX", type=_country,
                   help="ISO 3166 alpha-2 code whose in-store price and weight code layout the chain prints, "
                        "told to stores as they open (or BACKROOM_HUB_RCN_COUNTRY)")

    b = sub.add_parser("rebalance", help="run a balancer pass now and print each move and why")
    b.add_argument("--dry-run", action="store_true", help="print the moves a pass would make; write nothing")
    b.add_argument("--full", action="store_true", help="plan every SKU, not only what changed since the last pass")
    b.add_argument("--json", action="store_true", help="print the pass as JSON")

    t = sub.add_parser("token", help="issue or revoke a credential")
    tsub = t.add_subparsers(dest="token_cmd", required=True, metavar="ACTION")
    ti = tsub.add_parser("issue", help="issue a token (printed once; only its hash is kept)")
    ti.add_argument("--role", choices=["store", "ops", "web"], required=True, help="who the token is for")
    ti.add_argument("--store", help="the store a store token belongs to")
    tr = tsub.add_parser("revoke", help="revoke a token")
    tr.add_argument("token", help="the token to revoke")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    url = _db(args)
    try:
        if args.cmd == "serve":
            import uvicorn

            from hub.db import make_engine, migrate

            migrate(make_engine(url), stamp(utcnow()))  # once, before the workers start
            os.environ["BACKROOM_HUB_DATABASE_URL"] = url
            if args.country:
                os.environ["BACKROOM_HUB_RCN_COUNTRY"] = args.country
            uvicorn.run("hub.app:app_from_env", factory=True, host=args.host, port=args.port,
                        workers=args.workers, log_level=args.log_level)
            return 0
        from hub.service import Hub

        hub = Hub.open(url)
        if args.cmd == "init":
            from fixtures.chain import demo_chain, generate_chain

            chain = demo_chain(args.seed) if (args.skus, args.stores) == (2000, 3) else generate_chain(
                args.skus, args.stores, args.seed)
            print(json.dumps(hub.load_chain(chain, quota_share=args.quota_share, policy=args.policy)))
        elif args.cmd == "rebalance":
            print_pass(hub.rebalance(dry_run=args.dry_run, full=args.full or None), as_json=args.json)
        elif args.cmd == "token" and args.token_cmd == "issue":
            print(hub.issue_token(args.role, args.store))
        elif args.cmd == "token" and args.token_cmd == "revoke":
            if not hub.revoke_token(args.token):
                print("That token is unknown or already revoked.", file=sys.stderr)
                return 2
            print("revoked")
        return 0
    except HubError as err:
        print(str(err), file=sys.stderr)
        return 2


def print_pass(done: dict, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(done))
        return
    what = "Dry run (nothing written)" if done["dry_run"] else f"Pass {done['run_id']}"
    print(f"{what}: {'every SKU' if done['full'] else 'the spots that changed'}, {done['spots']} spots planned, "
          f"{len(done['moves'])} moves.")
    for m in done["moves"]:
        where = f"{m['source']} -> {m['store_id']}" if m["kind"] == "transfer" else m["store_id"]
        print(f"  {m['kind']:<8} {m['qty']:>6} {m['sku']} {where}: {m['reason']}")


if __name__ == "__main__":
    sys.exit(main())
