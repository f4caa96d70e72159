"""`backroom node ...`: a store's node from the command line.

Every command opens the store's node file (``--db``), calls one function of
``node.service`` and prints the result: aligned plain text for people (times
in local time; the file stores UTC), or ``--json`` for programs.

A refusal (``node.errors.StoreError``) prints one plain sentence on stderr
and exits with 2; nothing was written. A missing or unreadable node file
exits with 1, also with one sentence. Every write takes an operation id
(``--op-id``, a fresh one by default): run a command again with the same id
and it returns the first result without writing anything, so a retry after a
crash or a timeout is always safe.

``build_parser(subparsers)`` attaches the ``node`` tree to a parent parser
(the ``backroom`` root); ``run(args)`` runs a parsed command; ``main(argv)``
runs it standalone, with or without a leading ``node``.

The package: `common` (options, the node file, output), `setup` (init,
status, sync, recover, run, backup), `sales`, `stock`, `reads` (lookup,
search, ledger) and `parser` (the command tree, `run`, `main`).
"""

from node.cli.common import EXIT_FILE, EXIT_OK, EXIT_REFUSED, FileProblem
from node.cli.parser import build_parser, main, run
from node.present import money

__all__ = ["EXIT_FILE", "EXIT_OK", "EXIT_REFUSED", "FileProblem", "build_parser", "main", "money", "run"]
