"""A long run of the seeded simulation over the production hub and nodes (tests/sim/), on every core.

    python bench/sim_soak.py                 # 10,000 seeds x 500 steps
    python bench/sim_soak.py --quick         # 64 seeds x 300 steps, well under a minute
    python bench/sim_soak.py --seeds 100000 --first 1000000 --workers 2

Prints a table per block of seeds (seeds/s, steps, faults injected, violations),
the faults injected by kind, every violation with its replay and shrink
commands, then one JSON object as its last line: seeds, steps, violations,
faults (by kind), seeds_per_s, and the floor measured in the same run: the same
worlds with every fault turned off (what the checker and the services cost
without faults), with the ratio of the two rates. Exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.sim.swarm import FAULT_KINDS, faults_of, run_many  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--first", type=int, default=1_000_000, help="first seed (the test suite runs 0..999)")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    args = ap.parse_args(argv)
    seeds = args.seeds or (64 if args.quick else 10_000)
    steps = args.steps or (300 if args.quick else 500)
    first = args.first
    block = max(args.workers * 8, seeds // 10)

    print(f"{seeds:,} seeds x {steps} steps on {args.workers} workers, seeds {first}..{first + seeds - 1}")
    print(f"{'seeds':>19} {'seeds/s':>8} {'steps/s':>8} {'faults':>8} {'violations':>10}")
    faults: Counter[str] = Counter()
    busy: Counter[str] = Counter()
    failures: list[str] = []
    t0 = time.perf_counter()
    for start in range(first, first + seeds, block):
        end = min(start + block, first + seeds)
        t = time.perf_counter()
        injected, bad = 0, 0
        for r in run_many(range(start, end), steps, workers=args.workers):
            if r["ok"]:
                f = faults_of(r)
                faults.update(f)
                busy.update({k: v for k, v in r["summary"].items() if isinstance(v, int)})
                injected += sum(f.values())
            else:
                bad += 1
                failures.append(r["failure"])
                print("VIOLATION:", r["failure"].split("\n", 1)[0], file=sys.stderr, flush=True)
        dt = time.perf_counter() - t
        print(f"{start:>9}-{end - 1:<9} {(end - start) / dt:>8.1f} {(end - start) * steps / dt:>8.0f} "
              f"{injected:>8,} {bad:>10}", flush=True)
    seconds = time.perf_counter() - t0
    rate = seeds / seconds

    # The floor: the same kind of world with no fault at all, on a sample of seeds, in this run.
    sample = min(seeds, max(args.workers * 8, seeds // 20))
    t = time.perf_counter()
    clean_bad = sum(not r["ok"] for r in run_many(range(first, first + sample), steps, workers=args.workers,
                                                  clean=True))
    floor = sample / (time.perf_counter() - t)

    print("\nfaults injected, by kind:")
    for k in FAULT_KINDS:
        print(f"  {k:<24} {faults[k]:>10,}")
    print("\nwhat happened:")
    for k in ("over_quota_sales", "grants", "release_requests", "transfers", "web_reserved", "web_commit",
              "web_expired", "late_delivered", "entries_lost_in_restore", "refused:quota_exceeded"):
        print(f"  {k:<24} {busy[k]:>10,}")
    print(f"\n{seeds:,} seeds in {seconds:.1f} s: {rate:.1f} seeds/s; with no faults {floor:.1f} seeds/s "
          f"(ratio {rate / floor:.2f}); violations: {len(failures) + clean_bad}")
    for f in failures:
        print("\nVIOLATION:", f, file=sys.stderr)
    print(json.dumps({"seeds": seeds, "steps": steps, "first_seed": first, "workers": args.workers,
                      "violations": len(failures) + clean_bad, "faults": {k: faults[k] for k in FAULT_KINDS},
                      "seconds": round(seconds, 1), "seeds_per_s": round(rate, 2),
                      "floor_seeds_per_s_without_faults": round(floor, 2), "ratio": round(rate / floor, 3),
                      "quick": args.quick}))
    return 1 if failures or clean_bad else 0


if __name__ == "__main__":
    sys.exit(main())
