"""A clerk at a store terminal in its own process, for tests/test_e2e.py.

    e2e_clerk.py DB TERMINAL SEED STOP_FILE MAX_SECONDS SCARCE PLENTY

SCARCE and PLENTY are comma-separated SKUs. The clerk works through
`node.service.Node` exactly as a terminal does: it sells (one or two lines,
mostly plentiful SKUs, now and then a scarce one), receives deliveries of
plentiful SKUs only (so scarce ones sell out and go over quota under the
in-hand policy), puts units on hold and later sells or releases them, and
writes off a lost unit now and then. It stops when STOP_FILE appears or
after MAX_SECONDS. After each commit it prints one line and flushes:

    SOLD <op_id> <unix time> <over_quota units>
    DONE <op_id> <unix time> <kind>        (receive, hold, hold sold, release, lost)
    REFUSED <op_id> <unix time> <code>     (e.g. not_on_hand: nothing was written)

so what the test reads is what the clerk knew was committed.
"""

from __future__ import annotations

import os
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from node.errors import StoreError  # noqa: E402
from node.rules import Kind, SaleLine  # noqa: E402
from node.service import Node  # noqa: E402

PAUSE_S = 0.03  # about 30 operations a second: a busy store, not a benchmark


def say(*parts: object) -> None:
    sys.stdout.write(" ".join(str(p) for p in parts) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    db, terminal, seed, stop_file, max_seconds, scarce_arg, plenty_arg = argv
    scarce = [s for s in scarce_arg.split(",") if s]
    plenty = [s for s in plenty_arg.split(",") if s]
    rng = random.Random(int(seed))
    node = Node(db, terminal=terminal, clerk=f"clerk-{terminal}")
    store = node.store_id
    prices = {sku: node.resolve(sku).unit_price for sku in scarce + plenty}
    holds: list[tuple[str, str, int]] = []  # (hold_id, sku, qty)
    deadline = time.monotonic() + float(max_seconds)
    say("READY", os.getpid())
    i = 0
    while time.monotonic() < deadline and not os.path.exists(stop_file):
        i += 1
        op_id = f"{store}-{terminal}-{i:05d}"
        roll = rng.random()
        try:
            if roll < 0.15:
                sku = rng.choice(plenty)
                node.receive(op_id, sku, rng.randint(4, 12), delivery=f"D-{op_id}")
                say("DONE", op_id, f"{time.time():.6f}", "receive")
            elif roll < 0.19:
                sku = rng.choice(plenty)
                r = node.hold(op_id, sku, 1, ttl=timedelta(hours=2), customer="e2e")
                holds.append((r["hold_id"], sku, 1))
                say("DONE", op_id, f"{time.time():.6f}", "hold")
            elif roll < 0.23 and holds:
                hold_id, sku, qty = holds.pop(0)
                if rng.random() < 0.6:
                    r = node.sell(op_id, [SaleLine(sku, qty, prices[sku], hold_id=hold_id)], tender="card")
                    say("SOLD", op_id, f"{time.time():.6f}", r["over_quota"])
                else:
                    node.release_hold(op_id, hold_id)
                    say("DONE", op_id, f"{time.time():.6f}", "release")
            elif roll < 0.24:
                sku = rng.choice(scarce + plenty)
                node.write_off(op_id, Kind.LOST, sku, 1, bin_="floor", reason="e2e")
                say("DONE", op_id, f"{time.time():.6f}", "lost")
            else:
                first = rng.choice(scarce) if scarce and rng.random() < 0.15 else rng.choice(plenty)
                lines = [SaleLine(first, rng.randint(1, 2), prices[first])]
                if rng.random() < 0.2:
                    other = rng.choice([s for s in plenty if s != first] or plenty)
                    if other != first:
                        lines.append(SaleLine(other, 1, prices[other]))
                r = node.sell(op_id, lines, tender=rng.choice(["cash", "card"]))
                say("SOLD", op_id, f"{time.time():.6f}", r["over_quota"])
        except StoreError as err:  # refused: nothing was written
            say("REFUSED", op_id, f"{time.time():.6f}", err.code)
        time.sleep(PAUSE_S)
    say("END", f"{time.time():.6f}")
    node.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
