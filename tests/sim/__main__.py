"""Replay a seed of the simulation, or shrink a failing one to the fewest steps that still fail.

    python -m tests.sim 123                      # replay seed 123 (500 steps), print a summary
    python -m tests.sim 123 --steps 800 --verbose
    python -m tests.sim 123 --only 4,17,230      # just those steps (each keeps its own randomness)
    python -m tests.sim 123 --shrink             # find the shortest step list that still fails

Step `i` draws only from its own `Random((seed, i))`, so a schedule with
steps left out replays the remaining steps exactly as they ran before. The
shrinker removes chunks of steps, halving the chunk size, while the run
still fails with the same kind of violation (its first words).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from tests.sim.world import SimFailure, run


def _kind(failure: str) -> str:
    """The violation without its figures: 'hub: grant ... is applied' -> the words before the first digit."""
    msg = failure.split(": ", 1)[1] if ": " in failure else failure
    return "".join(ch for ch in msg.split("\n", 1)[0] if not ch.isdigit())[:40]


def fails(seed: int, steps: int, only: list[int]) -> str | None:
    try:
        run(seed, steps, only=only)
    except SimFailure as f:
        return str(f)
    return None


def shrink(seed: int, steps: int, *, log: bool = True) -> tuple[list[int], str] | None:
    first = fails(seed, steps, list(range(1, steps + 1)))
    if first is None:
        return None
    kind = _kind(first)
    failing_step = int(first.split("step ", 1)[1].split(" ", 1)[0])
    schedule = list(range(1, min(failing_step, steps) + 1))
    last = first
    chunk = max(1, len(schedule) // 2)
    while chunk >= 1:
        i = 0
        while i < len(schedule):
            trial = schedule[:i] + schedule[i + chunk:]
            got = fails(seed, steps, trial) if trial else None
            if got is not None and _kind(got) == kind:
                schedule, last = trial, got
                if log:
                    print(f"  {len(schedule)} steps still fail", file=sys.stderr)
            else:
                i += chunk
        chunk //= 2
    return schedule, last


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.sim", description=__doc__.split("\n\n")[0])
    ap.add_argument("seed", type=int)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--only", help="comma-separated step numbers")
    ap.add_argument("--shrink", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    if not args.verbose:
        logging.getLogger("backroom").setLevel(logging.ERROR)
    if args.shrink:
        got = shrink(args.seed, args.steps)
        if got is None:
            print(f"seed {args.seed} passes")
            return 0
        schedule, failure = got
        print(failure)
        print(f"shortest failing schedule ({len(schedule)} steps): --only {','.join(map(str, schedule))}")
        return 1
    only = [int(x) for x in args.only.split(",")] if args.only else None
    try:
        w = run(args.seed, args.steps, only=only, verbose=args.verbose)
    except SimFailure as f:
        print(f)
        return 1
    print(json.dumps({"seed": args.seed, "faults": w.faults.describe(), **w.summary()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
