"""A terminal in its own process, for tests/test_node_processes.py.

    node_worker.py contend DB TERMINAL ATTEMPTS GO_FILE
        Wait for GO_FILE to appear (the barrier), then try ATTEMPTS one-unit
        sales of SKU-A, one line per outcome: `SOLD <op_id> <receipt>` or
        `QUOTA <op_id>`; anything else is `ERROR <op_id> <type> <message>`.

    node_worker.py churn DB TERMINAL RUN MAX_OPS MAX_SECONDS
        Sell (and now and then receive) until MAX_OPS operations or
        MAX_SECONDS have passed; after each commit print
        `COMMITTED <op_id> <receipt-or-dash>` and flush. The test SIGKILLs it.

Every line is flushed as soon as it is written, so what the test reads is what
the worker knew at the moment it was killed. The loops are bounded, so a
worker that nobody kills ends by itself.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from node.errors import QuotaExceeded  # noqa: E402
from node.rules import SaleLine  # noqa: E402
from node.service import Node  # noqa: E402

BARRIER_TIMEOUT_S = 30.0


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def contend(db: str, terminal: str, attempts: int, go_file: str) -> int:
    node = Node(db, terminal=terminal, clerk=f"clerk-{terminal}")
    node.store_id  # noqa: B018 - read meta now, not inside the race
    say(f"READY {os.getpid()}")
    deadline = time.monotonic() + BARRIER_TIMEOUT_S
    while not os.path.exists(go_file):
        if time.monotonic() > deadline:
            say("ERROR - barrier timed out")
            return 2
        time.sleep(0.001)
    say(f"START {time.time():.6f}")
    for i in range(attempts):
        op_id = f"{terminal}-{i:04d}"
        try:
            r = node.sell(op_id, [SaleLine("SKU-A", 1, 250)])
        except QuotaExceeded:
            say(f"QUOTA {op_id}")
        except Exception as e:  # noqa: BLE001 - the test fails on any of these
            say(f"ERROR {op_id} {type(e).__name__} {e}".replace("\n", " "))
        else:
            say(f"SOLD {op_id} {r['receipt']}")
    say(f"END {time.time():.6f}")
    node.close()
    return 0


def churn(db: str, terminal: str, run: int, max_ops: int, max_seconds: float) -> int:
    node = Node(db, terminal=terminal, clerk="crash-clerk")
    node.store_id  # noqa: B018
    say(f"READY {os.getpid()}")
    deadline = time.monotonic() + max_seconds
    for i in range(max_ops):
        if time.monotonic() > deadline:
            break
        op_id = f"{terminal}-r{run:03d}-{i:05d}"
        if i % 10 == 9:
            node.receive(op_id, "SKU-A", 5, bin_="back")
            say(f"COMMITTED {op_id} -")
            continue
        lines = [SaleLine("SKU-A", 1, 250)]
        if i % 4 == 3:  # a two-line sale: both entries or neither
            lines.append(SaleLine("SKU-B", 1, 99))
        r = node.sell(op_id, lines)
        say(f"COMMITTED {op_id} {r['receipt']}")
    say("DONE")
    node.close()
    return 0


def main(argv: list[str]) -> int:
    mode, *args = argv
    if mode == "contend":
        db, terminal, attempts, go_file = args
        return contend(db, terminal, int(attempts), go_file)
    if mode == "churn":
        db, terminal, run, max_ops, max_seconds = args
        return churn(db, terminal, int(run), int(max_ops), float(max_seconds))
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
