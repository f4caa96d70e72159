"""How long a scan takes to reach the clerk's screen, and how long the terminal takes to open.

    python bench/tui_scan.py            # 100,000 SKUs; 200 scans at a scanner's pace, 10 bursts of 20
    python bench/tui_scan.py --quick    # 10,000 SKUs; 60 paced scans, 4 bursts of 10: about a minute
    python bench/tui_scan.py --quick --profile   # our app under cProfile too (it slows the figures)

The real `BackroomApp` runs under `run_test(size=(80, 24))` on a node file
set up as store S001 of a generated chain, its driver swapped for one that
has the app render each frame to the bytes a terminal gets (headless skips
that) and keeps them. A scan is typed as a scanner types it (every character
and Enter posted at once) and timed to the first frame after which a virtual
80x24 terminal fed those bytes shows the scan's line (name and new amount):
at a scanner's pace (a scan every 300 ms, or once the last shows if later),
and in bursts (each scan as soon as the one before shows). Only scans that
add a line are used; the sale is parked (F8) every 20 lines and before each
burst, untimed. CPU is the process's CPU time over a scan. Start: from
constructing the app to the frame that shows its scan field. "App's own" is
`app.scan_latencies` (handler to `call_after_refresh`): it misses the keys,
and can fire before the frame. The floor, one DataTable and one Input (a row
per Enter), is typed at, timed and started the same way in the same run.

Where a scan's time went, and what was done (issue 9 item 11; ms per scan at a scanner's pace):

    before (632858a, load 2-3): keys to the line's frame 64 ms; two screen
      updates of a layout each (Input's width followed its text, the
      DataTable re-rendered every visible cell on any change), 26 ms
    -> a row view that renders only changed rows, a field that lays nothing
       out: p50 40, p99 74 at a quiet machine (floor 58 / 115)
    -> the line a frame late: the first key woke the idle screen, whose
       update tick then painted the half-typed field at once and made the
       line wait for the next tick (and a title update laid the screen out).
       The screen is now held from a scan's first key until its Enter is
       handled, the scanner's characters go into the field in one insert
       (Input's per-key insert, watchers and Changed messages were 0.4 ms a
       key, 15 ms for a 38-character GS1 string), no blinking cursor or
       seconds clock paints between scans: p50 12, p99 32-38 at a quiet
       machine, CPU 12 ms a scan (floor in the same runs: 53 / 99-102, 32)

Run it on a quiet machine: other processes show up directly in the tail.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from time import perf_counter, process_time

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import TuiSession, add_repo_to_path, emit_json, paint_driver, percentile, print_table  # noqa: E402

add_repo_to_path()

from textual.app import App, ComposeResult  # noqa: E402
from textual.binding import Binding  # noqa: E402
from textual.widgets import DataTable, Input  # noqa: E402

SIZE = (80, 24)
PACE_S = 0.3  # a clerk scanning one item after another
LINES_PER_SALE = 20
WAIT_S = 2.0  # a scan not on screen by then is counted as never shown

Step = tuple[str, str, str] | None  # (code, name shown, amount shown), or None: park the sale


class FloorApp(App):
    """One DataTable and one Input: the least a Textual till can do for a scan."""

    BINDINGS = [Binding("f8", "clear", "Clear", priority=True)]
    CSS = "#lines { height: 1fr; }"  # as on the sale screen: a table that grows would lay out on every scan

    def compose(self) -> ComposeResult:
        self.scan_latencies: list[float] = []
        self.qty: dict[str, int] = {}
        yield DataTable(id="lines")
        yield Input(placeholder="Scan or type a barcode", id="scan")

    def on_mount(self) -> None:
        for label, width in (("Item", 34), ("Qty", 4), ("Each", 8), ("Amount", 9), ("Quota", 9)):
            self.query_one(DataTable).add_column(label, width=width, key=label)
        self.query_one(Input).focus()

    def action_clear(self) -> None:
        self.query_one(DataTable).clear()
        self.qty.clear()

    def on_input_submitted(self, ev: Input.Submitted) -> None:
        t0 = perf_counter()
        code, ev.input.value = ev.value.strip(), ""
        t = self.query_one(DataTable)
        n = self.qty[code] = self.qty.get(code, 0) + 1
        if n == 1:
            t.add_row(code[:34], "1", "1.00", "1.00", "9", key=code)
        else:
            t.update_cell(code, "Qty", str(n))
            t.update_cell(code, "Amount", f"{n}.00")
        t.move_cursor(row=t.get_row_index(code))
        self.call_after_refresh(lambda: self.scan_latencies.append((perf_counter() - t0) * 1000))


def plan_scans(node, codes, n: int) -> list[Step]:  # noqa: ANN001
    """n scans that simply add to a sale, with what each line then shows; a park every 20 lines."""
    from node.present import money
    from node.rules import till_check

    most = min(getattr(node.limits, "confirm_line_qty", node.limits.max_line_qty), node.limits.max_line_qty)
    lines: dict[tuple[str, int], int] = {}
    plan: list[Step] = []
    for code in codes:
        if len(plan) - plan.count(None) >= n:
            break
        try:
            item = node.resolve(code)
            bal = node.balance(item.sku)
        except Exception:  # noqa: BLE001, S112 -- refused: it paints no line, not the path timed here
            continue
        key = (item.sku, item.unit_price)
        qty = lines.get(key, 0) + item.units
        check = till_check(bal, qty, node.policy)
        if qty > most or check.refusal or check.over_quota or check.found or check.confirm_found:
            continue  # the clerk would be asked first
        lines[key] = qty
        plan.append((code, item.name, money(qty * item.unit_price)))
        if len(lines) >= LINES_PER_SALE:
            plan.append(None)
            lines.clear()
    return plan


def floor_plan(plan: list[Step]) -> list[Step]:
    """The same keys for the floor, whose line shows the code and a count of 1.00 units."""
    seen: dict[str, int] = {}
    out: list[Step] = []
    for step in plan:
        if step is None:
            seen.clear()
            out.append(None)
            continue
        n = seen[step[0]] = seen.get(step[0], 0) + 1
        out.append((step[0], step[0], f"{n}.00"))
    return out


async def scan(s: TuiSession, step: tuple[str, str, str], width: int) -> tuple[float, float] | None:
    """(ms, CPU ms) from the scan's first key to the frame that shows its line."""
    code, name, amount = step
    shown = name[:width].rstrip()
    s.read_all()
    if s.shows(shown, amount):
        return None  # that very line is on screen already: this scan could not be told apart
    t0, cpu0 = perf_counter(), process_time()
    s.type(code, enter=True)
    got = await s.first_frame(lambda: s.shows(shown, amount), amount, t0 + WAIT_S)
    return None if got is None else ((got[0] - t0) * 1000, (got[1] - cpu0) * 1000)


async def park(s: TuiSession) -> None:
    s.keys(("f8", None))
    await asyncio.sleep(PACE_S)
    s.read_all()


async def drive(make_app, paced_plan: list[Step], burst_plans: list[list[Step]]) -> dict:  # noqa: ANN001
    """Open the app (timed), then type its scans at a scanner's pace, then in bursts."""
    t0 = perf_counter()
    app = make_app()
    app.driver_class = paint_driver()
    out: dict = {"missed": 0, "gc_pauses": []}
    gc_at = [0.0]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            gc_at[0] = perf_counter()
        else:
            out["gc_pauses"].append((perf_counter() - gc_at[0]) * 1000)

    async with app.run_test(headless=False, size=SIZE):
        s = TuiSession(app, SIZE)
        while not (app.screen.query("#scan") and app.screen.query_one("#scan").has_focus):
            await asyncio.sleep(0.001)
        hint = app.screen.query_one("#scan", Input).placeholder[:20]
        started = await s.first_frame(lambda: any(hint in ln for ln in s.term.lines()), hint, t0 + 30)
        out["start_ms"] = (started[0] - t0) * 1000 if started else float("nan")
        columns = getattr(app.screen.query_one("#lines"), "ordered_columns", None)
        width = columns[0].width if columns else 12  # the name's cell, or what any layout shows of it
        await asyncio.sleep(PACE_S)
        gc.callbacks.append(on_gc)
        try:
            for mode, plans in (("paced", [paced_plan]), ("burst", burst_plans)):
                out[mode], out[f"{mode}_cpu"], out[f"in_app_{mode}"] = [], [], []
                for plan in plans:
                    before = len(getattr(app, "scan_latencies", []))
                    for step in plan:
                        if step is None:
                            await park(s)
                            continue
                        due = perf_counter() + PACE_S
                        got = await scan(s, step, width)
                        out["missed"] += got is None
                        if got is not None:
                            out[mode].append(got[0])
                            out[f"{mode}_cpu"].append(got[1])
                        if mode == "paced":
                            await asyncio.sleep(max(due - perf_counter(), 0))
                    out[f"in_app_{mode}"] += getattr(app, "scan_latencies", [])[before:]
                    await park(s)
        finally:
            gc.callbacks.remove(on_gc)
    return out


def run(skus: int, paced: int, bursts: int, burst_len: int, seed: int, profile: bool) -> dict:
    from fixtures.chain import generate_chain
    from node.rules import Policy
    from node.service import Node, initialise_from_chain
    from tui.app import BackroomApp

    work = Path(tempfile.mkdtemp(prefix="backroom-tui-bench-"))
    try:
        t = perf_counter()
        chain = generate_chain(skus, 1)
        path = work / "store.sqlite"
        with Node(path) as node:
            initialise_from_chain(node, chain, "S001", policy=Policy.IN_HAND)
        setup_s = perf_counter() - t
        rng = random.Random(seed)
        codes = (chain.sample_scan(rng) for _ in range(100 * (paced + bursts * burst_len)))
        with Node(path) as node:
            plans = plan_scans(node, codes, paced), [plan_scans(node, codes, burst_len) for _ in range(bursts)]
        prof = cProfile.Profile() if profile else None
        if prof:
            prof.enable()
        ours = asyncio.run(drive(
            lambda: BackroomApp(path, terminal="B1", clerk="bench", receipts_dir=work / "receipts"), *plans))
        if prof:
            prof.disable()
        floor = asyncio.run(drive(FloorApp, floor_plan(plans[0]), [floor_plan(b) for b in plans[1]]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"setup_s": setup_s, "ours": ours, "floor": floor, "profile": prof}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python bench/tui_scan.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a short run: 10,000 SKUs, 60 paced scans, 4 bursts of 10")
    p.add_argument("--skus", type=int, help="catalog size (default 100,000; --quick 10,000)")
    p.add_argument("--scans", type=int, help="scans at a scanner's pace (default 200; --quick 60)")
    p.add_argument("--bursts", type=int, help="bursts of back-to-back scans (default 10; --quick 4)")
    p.add_argument("--burst-len", type=int, help="scans in a burst (default 20; --quick 10)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--profile", action="store_true", help="also print our app's cProfile, by own time")
    a = p.parse_args(argv)
    skus = a.skus or (10_000 if a.quick else 100_000)
    bursts = a.bursts if a.bursts is not None else (4 if a.quick else 10)
    burst_len = a.burst_len or (10 if a.quick else 20)
    t = time.perf_counter()
    r = run(skus, a.scans or (60 if a.quick else 200), bursts, burst_len, a.seed, a.profile)
    ours, floor = r["ours"], r["floor"]
    if not ours["paced"] or not floor["paced"]:
        print("No scan was seen on screen: the app never painted a line.", file=sys.stderr)
        return 1
    res: dict = {"skus": skus, "quick": a.quick, "pace_ms": PACE_S * 1000, "paced_scans": len(ours["paced"]),
                 "burst_scans": len(ours["burst"]), "missed_scans": ours["missed"],
                 "floor_missed_scans": floor["missed"]}
    pct = lambda xs, q: percentile(xs, q) if xs else float("nan")  # noqa: E731
    for who, d in (("", ours), ("floor_", floor)):
        for mode, key in (("paced", "scan"), ("burst", "burst")):
            res |= {f"{who}{key}_p50_ms": pct(d[mode], 50), f"{who}{key}_p99_ms": pct(d[mode], 99),
                    f"{who}{key}_max_ms": max(d[mode], default=float("nan")),
                    f"{who}{key}_cpu_p50_ms": pct(d[f"{mode}_cpu"], 50),
                    f"{who}in_app_{key}_p99_ms": pct(d[f"in_app_{mode}"], 99)}
        res |= {f"{who}start_ms": d["start_ms"], f"{who}gc_pauses": len(d["gc_pauses"]),
                f"{who}gc_max_ms": max(d["gc_pauses"], default=0.0)}
    for k in ("scan_p50", "scan_p99", "burst_p50", "burst_p99", "start"):
        res[f"{k}_ratio"] = res[f"{k}_ms"] / res[f"floor_{k}_ms"]
    cols = ("scan_p50_ms", "scan_p99_ms", "burst_p50_ms", "burst_p99_ms", "scan_cpu_p50_ms", "burst_cpu_p50_ms",
            "in_app_scan_p99_ms", "start_ms")
    rows = [[label] + [res[who + c] for c in cols]
            for who, label in (("", "Backroom sale screen"), ("floor_", "floor: Input + DataTable"))]
    rows.append(["ratio"] + [res.get(c.replace("_ms", "_ratio"), "") if "cpu" not in c and "in_app" not in c
                             else "" for c in cols])
    print_table(["what", "pace p50", "pace p99", "burst p50", "burst p99", "CPU pace", "CPU burst", "app's own p99",
                 "start"], rows,
                title=(f"Keys to the frame that shows the line, ms (80x24; {skus:,} SKUs; {len(ours['paced'])} scans "
                       f"every {PACE_S * 1000:.0f} ms, {len(ours['burst'])} in {bursts} bursts; {ours['missed']} "
                       f"never shown; GC {res['gc_pauses']} pauses, max {res['gc_max_ms']:.1f} ms); store set up "
                       f"in {r['setup_s']:.1f} s, whole run {time.perf_counter() - t:.1f} s"))
    if r["profile"] is not None:
        pstats.Stats(r["profile"]).sort_stats("tottime").print_stats(30)
    emit_json(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
