"""Small helpers shared by the benches in this folder.

A bench prints a readable table for people, then one JSON object as its very
last line for scripts and tests (`last_json_line` reads it back).
"""

from __future__ import annotations

import json
import math
import random
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def add_repo_to_path() -> None:
    """Let `python bench/x.py` import the repo's packages (fixtures is not installed)."""
    root = str(REPO_ROOT)
    if root not in sys.path:
        sys.path.insert(0, root)


def percentile(values: Iterable[float], p: float) -> float:
    """The p-th percentile (0-100), interpolated linearly between closest ranks."""
    xs = sorted(values)
    if not xs:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, not {p}")
    k = (len(xs) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summary_ms(samples_ns: Sequence[int]) -> dict[str, float]:
    """p50, p99, max and mean in milliseconds of durations measured in nanoseconds."""
    ms = sorted(s / 1e6 for s in samples_ns)
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "max_ms": ms[-1],
        "mean_ms": sum(ms) / len(ms),
    }


def fmt(value: Any, digits: int = 3) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.{digits}f}"
    return str(value)


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None,
                file: Any = None) -> None:
    """Print rows under headers: the first column left-aligned, the others right-aligned."""
    out = file or sys.stdout
    cells = [[str(h) for h in headers]] + [[fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    if title:
        print(title, file=out)
    print(line(cells[0]), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for r in cells[1:]:
        print(line(r), file=out)
    out.flush()


def rounded(obj: Any, digits: int = 4) -> Any:
    """Floats rounded (recursively) so the JSON line stays short."""
    if isinstance(obj, float):
        return round(obj, digits)
    if isinstance(obj, Mapping):
        return {k: rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [rounded(v, digits) for v in obj]
    return obj


def emit_json(result: Mapping[str, Any]) -> None:
    """Print the bench's result as one JSON object on one line: call it last."""
    sys.stdout.flush()
    print(json.dumps(rounded(result), sort_keys=True), flush=True)


def last_json_line(text: str) -> dict[str, Any]:
    """The JSON object on the last non-empty line of a bench's output."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise ValueError("the bench printed nothing")
    return json.loads(lines[-1])


def draw_within(budget: Mapping[str, int], n: int, rng: random.Random) -> list[str]:
    """Up to n keys drawn uniformly from those with budget left, never past a key's budget."""
    left = {k: v for k, v in budget.items() if v > 0}
    pool = list(left)
    out: list[str] = []
    while pool and len(out) < n:
        i = rng.randrange(len(pool))
        key = pool[i]
        out.append(key)
        left[key] -= 1
        if not left[key]:
            pool[i] = pool[-1]
            pool.pop()
    return out
