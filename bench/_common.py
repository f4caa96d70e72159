"""Small helpers shared by the benches in this folder.

A bench prints a readable table for people, then one JSON object as its very
last line for scripts and tests (`last_json_line` reads it back).
"""

from __future__ import annotations

import json
import math
import random
import re
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


_ESCAPE = re.compile(r"\x1b\[([0-9;?<>=]*)[ -/]*([@-~])"  # CSI: a cursor move (H) matters, the rest not
                     r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]")


class VirtualTerminal:
    """Just enough of a terminal to read back what an app wrote to it: cursor moves and text.

    A TUI bench times the frame that really shows a change, so it reads the
    bytes the app hands the terminal rather than trusting the app's own idea
    of when it painted. Styles and modes are ignored; wide characters take
    two cells, as a terminal draws them.
    """

    def __init__(self, width: int, height: int) -> None:
        from rich.cells import cell_len  # here: the other benches have no use for rich

        self._cell_len = cell_len
        self.width, self.height = width, height
        self.cells = [[" "] * width for _ in range(height)]
        self.x = self.y = 0

    def feed(self, data: str) -> None:
        pos = 0
        for m in _ESCAPE.finditer(data):
            if m.start() > pos:
                self._text(data[pos:m.start()])
            pos = m.end()
            if m.group(2) == "H":  # CSI row;col H, 1-based
                row, _, col = (m.group(1) or "").partition(";")
                self.y, self.x = int(row or 1) - 1, int(col or 1) - 1
            elif m.group(2) == "J" and m.group(1) == "2":
                self.cells = [[" "] * self.width for _ in range(self.height)]
        if pos < len(data):
            self._text(data[pos:])

    def _text(self, text: str) -> None:
        cell_len = self._cell_len
        for part in re.split(r"([\r\n])", text):
            if part == "\n":
                self.x, self.y = 0, self.y + 1
            elif part == "\r":
                self.x = 0
            elif part and 0 <= self.y < self.height:
                row = self.cells[self.y]
                if cell_len(part) == len(part):  # the usual case: one cell a character
                    end = min(self.x + len(part), self.width)
                    if end > self.x:
                        row[self.x:end] = part[:end - self.x]
                    self.x += len(part)
                    continue
                for ch in part:
                    w = cell_len(ch)
                    if 0 <= self.x < self.width and w:
                        row[self.x] = ch
                        if w == 2 and self.x + 1 < self.width:
                            row[self.x + 1] = ""
                    self.x += w

    def lines(self) -> list[str]:
        return ["".join(r) for r in self.cells]


def paint_driver() -> type:
    """A Textual driver with no terminal in but everything out: the app renders each frame to bytes.

    A headless driver makes the app skip that rendering, which is part of
    every real frame. Here the bytes are kept with the wall and CPU time they
    were handed over, to be read back outside the app's time. (Made on call:
    the other benches have no use for Textual.)
    """
    import asyncio
    from time import perf_counter, process_time

    from textual.drivers.headless_driver import HeadlessDriver

    class PaintDriver(HeadlessDriver):
        def __init__(self, *args: Any, **kw: Any) -> None:
            super().__init__(*args, **kw)
            self.frames: list[tuple[float, float, str]] = []
            self.wrote = asyncio.Event()

        @property
        def is_headless(self) -> bool:
            return False

        def write(self, data: str) -> None:
            self.frames.append((perf_counter(), process_time(), data))
            self.wrote.set()

    return PaintDriver


class TuiSession:
    """A Textual app run with `paint_driver()`: keys posted to it, its frames read back as a terminal shows them."""

    def __init__(self, app: Any, size: tuple[int, int]) -> None:
        self.app = app
        self.term = VirtualTerminal(*size)
        self.seen = 0  # frames fed to the virtual terminal so far

    def shows(self, text: str, then: str = "") -> bool:
        """Whether a line on screen holds `text`, and `then` after it."""
        return any(text in ln and then in ln[ln.index(text) + len(text):] for ln in self.term.lines())

    def read_all(self) -> None:
        frames = self.app._driver.frames
        while self.seen < len(frames):
            self.term.feed(frames[self.seen][2])
            self.seen += 1

    async def first_frame(self, test: Any, hint: str, deadline: float) -> tuple[float, float] | None:
        """(wall, CPU) time of the first unread frame after which `test()` holds; None by the deadline.

        Frames are read back only once one holds `hint` or the app has gone
        quiet: reading them takes the app's thread, so not after every frame.
        """
        import asyncio
        from time import perf_counter

        driver = self.app._driver
        frames, checked = driver.frames, self.seen
        while True:
            driver.wrote.clear()
            try:
                await asyncio.wait_for(driver.wrote.wait(), min(0.1, max(deadline - perf_counter(), 0.001)))
                quiet = False
            except TimeoutError:
                quiet = True
            while checked < len(frames) and hint not in frames[checked][2]:
                checked += 1
            while self.seen < (len(frames) if quiet else min(checked + 1, len(frames))):
                at, cpu, data = frames[self.seen]
                self.term.feed(data)
                self.seen += 1
                if test():
                    return at, cpu
            checked = max(checked, self.seen)
            if perf_counter() > deadline:
                return None

    def keys(self, *keys: tuple[str, str | None]) -> None:
        """Post key events at once, as a terminal's input thread does with what one read brought."""
        from textual import events

        for key, ch in keys:
            ev = events.Key(key, ch)
            ev.set_sender(self.app)
            self.app.post_message(ev)

    def type(self, text: str, *, enter: bool = False) -> None:
        """Every character of `text` as a key (as a scanner types), then Enter if asked."""
        from textual.keys import _character_to_key

        self.keys(*((ch if ch.isalnum() else _character_to_key(ch), ch) for ch in text),
                  *((("enter", "\r"),) if enter else ()))
