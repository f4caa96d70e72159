"""A longer run of the seeded simulation (tests/sim/): more seeds, more steps, every invariant after every step.

    python bench/sim_soak.py              # 1,000 seeds x 2,000 steps
    python bench/sim_soak.py --quick      # 30 seeds x 400 steps, a few seconds
    python bench/sim_soak.py --seeds 5000 --steps 300 --first 10000

Prints a table (per block of seeds: entries, grants, over-quota sales,
shortfall, at-risk reservations, duplicates absorbed, messages lost), then
one JSON object as its last line: seeds, steps, violations (0, or the run
exits 1 listing each failing seed with its replay command), seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.sim.world import SimFailure, run  # noqa: E402

COLS = ("entries", "grants", "release_requests", "over_quota_sales", "shortfall", "at_risk", "duplicates",
        "net_dropped", "cuts")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--first", type=int, default=100_000, help="first seed (the test suite runs 0..199)")
    args = ap.parse_args(argv)
    seeds = args.seeds or (30 if args.quick else 1000)
    steps = args.steps or (400 if args.quick else 2000)
    block = max(1, seeds // 10)
    t0 = time.perf_counter()
    failures: list[str] = []
    print(f"{'seeds':>15} " + " ".join(f"{c:>16}" for c in COLS) + f" {'s':>7}")
    total = dict.fromkeys(COLS, 0)
    for start in range(args.first, args.first + seeds, block):
        t = time.perf_counter()
        agg = dict.fromkeys(COLS, 0)
        end = min(start + block, args.first + seeds)
        for seed in range(start, end):
            try:
                s = run(seed, steps).summary()
            except SimFailure as f:
                failures.append(str(f))
                continue
            for c in COLS:
                agg[c] += s.get(c, 0)
        for c in COLS:
            total[c] += agg[c]
        print(f"{start:>7}-{end - 1:<7} " + " ".join(f"{agg[c]:>16,}" for c in COLS)
              + f" {time.perf_counter() - t:>7.2f}", flush=True)
    print(f"{'total':>15} " + " ".join(f"{total[c]:>16,}" for c in COLS))
    for f in failures:
        print("VIOLATION:", f, file=sys.stderr)
    print(json.dumps({"seeds": seeds, "steps": steps, "first_seed": args.first, "violations": len(failures),
                      "seconds": round(time.perf_counter() - t0, 2), "quick": args.quick, **total}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
