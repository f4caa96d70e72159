"""`backroom hub ...`: set up the hub, serve it, and manage credentials."""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import sys
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from sqlalchemy import Engine, inspect, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from hub.rules import HubError
from sync.kinds import Policy, stamp, utcnow

if TYPE_CHECKING:
    from hub.service import Hub
    from hub.settings import Settings

DEFAULT_DB = "sqlite:///hub.sqlite"
BACKENDS = ("sqlite", "postgresql")


class NoHub(Exception):
    """The database named cannot be opened as the hub's; nothing was written."""


def _db(args: argparse.Namespace) -> str:
    return args.db or os.environ.get("BACKROOM_HUB_DATABASE_URL") or DEFAULT_DB


def init_hint(args: argparse.Namespace) -> str:
    """The command that makes the hub database these arguments name."""
    return f"backroom hub --db {shown(args.db)} init" if args.db else "backroom hub init"


def shown(url: str) -> str:
    """`url` as it may be printed: its password, if any, starred out."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", url)


def open_hub(url: str, *, create: bool = False, init_hint: str = "backroom hub init") -> Hub:
    """The hub on `url`, its schema brought up to date. Without `create`, a database that holds no
    hub yet is refused before anything is written: a mistyped path must not become a new, empty hub.
    A database that cannot be reached or opened is NoHub too; errors after it opened are not."""
    from hub import db
    from hub.service import Hub

    engine = _engine(url)
    try:
        tables = _tables(url, engine)
        if "schema_migrations" not in tables and not create:
            raise NoHub(f"There is no hub database at {_where(url)}; run `{init_hint}` first.")
        if "schema_migrations" not in tables and tables:
            named = ", ".join(sorted(tables)[:3]) + (", ..." if len(tables) > 3 else "")
            raise NoHub(f"The database at {shown(url)} holds something other than a hub ({named}); "
                        "give the hub a database of its own.")
        with engine.connect():  # a SQLite file is made here (init, serve), in a directory that may refuse it
            pass
    except DBAPIError as err:
        engine.dispose()
        raise NoHub(f"Cannot reach the hub database at {shown(url)}: {_problem(url, err)}.") from None
    except NoHub:
        engine.dispose()
        raise
    db.migrate(engine, stamp(utcnow()))
    return Hub(engine)


def _engine(url: str) -> Engine:
    """An engine for `url`, refused with one sentence if it cannot be a hub's; connects to nothing yet."""
    from hub import db

    try:
        u = make_url(url)
    except ArgumentError:
        raise NoHub(f"{shown(url)!r} is not a database URL; give sqlite:///FILE or postgresql://USER@HOST/NAME.") \
            from None
    if u.get_backend_name() not in BACKENDS:
        raise NoHub(f"The hub runs on SQLite or PostgreSQL, not {u.get_backend_name()} ({shown(url)}).")
    path = _sqlite_file(url)
    if path is not None and not path.exists() and not path.absolute().parent.is_dir():
        raise NoHub(f"Cannot open the hub database at {shown(url)}: there is no directory {path.absolute().parent}.")
    try:
        return db.make_engine(url)
    except (ImportError, NoSuchModuleError) as err:
        raise NoHub(f"Cannot open the hub database at {shown(url)}: its driver is not installed ({err}).") from None


def _where(url: str) -> str:
    """`shown(url)`, and the file it names if the path is relative (to a directory the reader may not guess)."""
    path = _sqlite_file(url)
    return f"{shown(url)} ({path.absolute()})" if path is not None and not path.is_absolute() else shown(url)


def _sqlite_file(url: str) -> Path | None:
    """The file a sqlite URL names; None for any other URL, an in-memory database or a `file:` URI."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or u.database in (None, "", ":memory:") or u.query.get("uri"):
        return None
    return Path(u.database)


def _tables(url: str, engine: Engine) -> set[str]:
    """The tables in the database, read without creating or changing it: a SQLite file is opened
    read-only, as the engine's connections would make a missing file and turn on WAL in any file."""
    path = _sqlite_file(url)
    if path is None:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    if not path.exists():
        return set()
    try:
        with closing(sqlite3.connect(f"file:{quote(str(path.absolute()))}?mode=ro", uri=True)) as conn:
            return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as err:
        raise NoHub(f"Cannot open the hub database at {shown(url)}: {err}.") from None


def _problem(url: str, err: DBAPIError) -> str:
    """The driver's own first line, without the password should it repeat it."""
    line = (str(err.orig).strip().splitlines() or [type(err.orig).__name__])[0].rstrip(".")
    password = make_url(url).password
    return line.replace(str(password), "***") if password else line


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

            settings()  # a wrong BACKROOM_HUB_* setting is said here, once, not in each worker's traceback

            # Serving migrates (the runbook's "the hub migrates its schema on start"), so it may
            # begin on an empty database; once, before the workers start.
            hub = open_hub(url, create=True)
            try:
                stores = len(hub.sync_state())
            finally:
                hub.close()
            print(f"Serving the hub at http://{args.host}:{args.port} (database {shown(url)}, {stores} stores).",
                  file=sys.stderr)
            if not stores:  # a typo in --db makes a new, empty hub that every token is refused by
                print(f"That database holds no chain yet: every token is refused until "
                      f"`backroom hub --db {shown(url)} init` loads one.", file=sys.stderr)
            os.environ["BACKROOM_HUB_DATABASE_URL"] = url
            if args.country:
                os.environ["BACKROOM_HUB_RCN_COUNTRY"] = args.country
            uvicorn.run("hub.app:app_from_env", factory=True, host=args.host, port=args.port,
                        workers=args.workers, log_level=args.log_level)
            return 0
        hub = open_hub(url, create=args.cmd == "init", init_hint=init_hint(args))
        if args.cmd == "init":
            from fixtures.chain import demo_chain, generate_chain

            chain = demo_chain(args.seed) if (args.skus, args.stores) == (2000, 3) else generate_chain(
                args.skus, args.stores, args.seed)
            print(json.dumps(hub.load_chain(chain, quota_share=args.quota_share, policy=args.policy)))
        elif args.cmd == "rebalance":
            from dataclasses import replace

            hub.cadence = replace(hub.cadence, min_history=settings().min_history)
            print_pass(hub.rebalance(dry_run=args.dry_run, full=args.full or None), as_json=args.json)
        elif args.cmd == "token" and args.token_cmd == "issue":
            print(hub.issue_token(args.role, args.store))
        elif args.cmd == "token" and args.token_cmd == "revoke":
            if not hub.revoke_token(args.token):
                print("That token is unknown or already revoked.", file=sys.stderr)
                return 2
            print("revoked")
        return 0
    except (HubError, NoHub) as err:
        print(str(err), file=sys.stderr)
        return 2


def settings() -> Settings:
    """The hub's settings from the environment; a wrong one is a NoHub naming the variable and the problem."""
    from pydantic import ValidationError

    from hub.settings import Settings

    try:
        return Settings()
    except ValidationError as err:
        e = err.errors(include_url=False)[0]
        name = "BACKROOM_HUB_" + "_".join(str(x) for x in e["loc"]).upper()
        raise NoHub(f"{name} is wrong: {e['msg']} (it is {e.get('input')!r}).") from None


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
