"""The `backroom` command's root: the one place allowed to import both the hub and the node."""

from __future__ import annotations

import sys

USAGE = """usage: backroom COMMAND ...

  node   a store's node: init, sell, return, receive, hold, count, lookup, sync, run, ...
  hub    the chain's hub: init, serve, token
  report the nightly reconciliation report: nightly --date D [--store S] [--out DIR], zone
  tui    the clerk's terminal UI on a store node (--serve for browsers)
  demo   a hub and a demo store, syncing, with the store's terminal UI;
         prints the hub's address and ops token, restarts the hub if it dies

Run `backroom COMMAND --help` for a command's options."""


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        sys.exit(0 if argv else 2)
    cmd, rest = argv[0], argv[1:]
    if cmd == "node":
        from node.cli import main as node_main
        sys.exit(node_main(rest))
    if cmd == "hub":
        from hub.cli import main as hub_main
        sys.exit(hub_main(rest))
    if cmd == "report":
        from hub.report_cli import main as report_main
        sys.exit(report_main(rest))
    if cmd == "tui":
        from tui.cli import main as tui_main
        sys.exit(tui_main(rest))
    if cmd == "demo":
        from demo import main as demo_main
        sys.exit(demo_main(rest))
    print(f"backroom: unknown command {cmd!r}\n\n{USAGE}", file=sys.stderr)
    sys.exit(2)
