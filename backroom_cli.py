"""The `backroom` command's root: the one place allowed to import both the hub and the node."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap


def _commands(parser: argparse.ArgumentParser) -> str:
    """A command's subcommands as its parser has them, so the list cannot fall behind."""
    return ", ".join(name for action in parser._actions if isinstance(action, argparse._SubParsersAction)
                     for name in action.choices)


def usage() -> str:
    from hub.cli import build_parser as hub_parser
    from hub.report_cli import build_parser as report_parser
    from node.cli import build_parser as node_parser

    lines = [("node", f"a store's node: {_commands(node_parser())}"),
             ("hub", f"the chain's hub: {_commands(hub_parser())}"),
             ("report", f"the nightly reconciliation report: {_commands(report_parser())}"),
             ("tui", "the clerk's terminal UI on a store node (--serve for browsers)"),
             ("demo", "a hub and a demo store, syncing, with the store's terminal UI; prints the hub's address "
                      "and ops token, restarts the hub if it dies")]
    listing = "\n".join(textwrap.fill(text, 79, initial_indent=f"  {name:<7}", subsequent_indent=" " * 9,
                                      break_on_hyphens=False)
                        for name, text in lines)
    return f"usage: backroom COMMAND ...\n\n{listing}\n\nRun `backroom COMMAND --help` for a command's options."


def main(argv: list[str] | None = None) -> None:
    try:
        _main(argv)
    except BrokenPipeError:
        # `backroom hub rebalance --dry-run | head`: the reader left, which is no error of ours. Python
        # would flush stdout again at exit and fail on the closed pipe: point it at nothing first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)


def _main(argv: list[str] | None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
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
    print(f"backroom: unknown command {cmd!r}\n\n{usage()}", file=sys.stderr)
    sys.exit(2)
