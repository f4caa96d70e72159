"""`backroom tui`: open the clerk's terminal on a store node, here or in a browser."""

from __future__ import annotations

import argparse
import getpass
import os
import shlex
import sys
from pathlib import Path

SERVE_TEMPLATES = Path(__file__).resolve().parent / "serve" / "templates"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="backroom tui", description="The clerk's terminal on a store node.")
    p.add_argument("--db", default=os.environ.get("BACKROOM_NODE_DB", "store.sqlite"),
                   help="the store's node file (default BACKROOM_NODE_DB or store.sqlite)")
    p.add_argument("--terminal", default=os.environ.get("BACKROOM_TERMINAL", "T1"), help="this terminal's id")
    p.add_argument("--clerk", default=os.environ.get("BACKROOM_CLERK") or getpass.getuser(), help="who is at the till")
    p.add_argument("--sync", action="store_true",
                   help="also run the sync runner in this process (else `backroom node run` does it)")
    p.add_argument("--serve", action="store_true", help="serve this UI to browsers (textual-serve)")
    p.add_argument("--host", default="127.0.0.1", help="address for --serve (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port for --serve (default 8000)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not os.path.exists(args.db):
        print(f"There is no node file at {args.db}; run `backroom node init` first.", file=sys.stderr)
        return 2
    if args.serve:
        from textual_serve.server import Server

        cmd = [sys.executable, "-m", "tui.cli", "--db", args.db, "--terminal", args.terminal, "--clerk", args.clerk]
        if args.sync:
            cmd.append("--sync")
        # Our copy of textual-serve's page: its font from textual-serve's own static files, not the internet.
        Server(shlex.join(cmd), host=args.host, port=args.port, title="Backroom",
               templates_path=SERVE_TEMPLATES).serve()
        return 0
    from node.errors import StoreError
    from tui.app import BackroomApp

    runner = None
    try:
        app = BackroomApp(args.db, terminal=args.terminal, clerk=args.clerk)
        if args.sync:
            from node.runner import Runner
            runner = Runner(args.db)
            runner.start()
        app.run()
    except StoreError as err:
        print(str(err), file=sys.stderr)
        return 2
    finally:
        if runner:
            runner.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
