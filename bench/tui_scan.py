"""How fast a scan lands on the clerk's screen, and how fast the terminal opens.

    python bench/tui_scan.py            # 100,000-SKU catalog, 500 scans
    python bench/tui_scan.py --quick    # 10,000 SKUs, 100 scans: well under a minute

The real `BackroomApp` runs headless under Textual's `run_test(size=(80, 24))`
over a node file initialised as store S001 of a generated chain. Each scan is
a random `chain.sample_scan(rng)` code set on the scan field and submitted with
Enter; its latency is what the app itself records in `app.scan_latencies`:
from the submitted scan to the refresh that paints its line (so pilot's own
key-press overhead is not counted). Sales are cleared every 20 lines, as a
till would (a paid sale), without paying, so only the scan path is measured.

Start: from constructing the app to its sale screen mounted and the app idle.

The floor is a bare Textual app with one Input and one DataTable that adds a
row on submit, measured the same way (submit to refresh), and started the same
way; the ratio is ours over the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from time import perf_counter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_repo_to_path, emit_json, percentile, print_table  # noqa: E402

add_repo_to_path()

from textual.app import App, ComposeResult  # noqa: E402
from textual.widgets import DataTable, Input  # noqa: E402

SIZE = (80, 24)
CLEAR_EVERY = 20


class FloorApp(App):
    """One Input, one DataTable: a row per submitted line, timed like the real app."""

    def __init__(self) -> None:
        super().__init__()
        self.scan_latencies: list[float] = []

    def compose(self) -> ComposeResult:
        yield DataTable(id="lines")
        yield Input(id="scan")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("Item", "Qty", "Each", "Amount", "Quota")
        self.query_one(Input).focus()

    def on_input_submitted(self, ev: Input.Submitted) -> None:
        t0 = perf_counter()
        text = ev.value
        ev.input.value = ""
        t = self.query_one(DataTable)
        if t.row_count >= CLEAR_EVERY:
            t.clear()
        t.add_row(text[:34], "1", "1.00", "1.00", "9")
        self.call_after_refresh(lambda: self.scan_latencies.append((perf_counter() - t0) * 1000))


async def drive(make_app, codes: list[str], is_ready) -> dict:  # noqa: ANN001
    """Start the app, time until it is ready and idle, then submit every code; returns its figures."""
    t0 = perf_counter()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        while not is_ready(app):
            await asyncio.sleep(0.001)
        await pilot.pause()
        start_ms = (perf_counter() - t0) * 1000
        home = app.screen
        field = home.query_one("#scan", Input)
        refused = 0
        for code in codes:
            if getattr(app, "sale", None) is not None and len(app.sale.cart) >= CLEAR_EVERY:
                app.sale._new_sale()  # the customer paid: a fresh sale (not timed)
            field.value = code
            before = len(app.scan_latencies)
            await pilot.press("enter")
            if app.screen is not home:  # over quota, in hand: the clerk says yes (the wait is the clerk's)
                await pilot.press("enter")
            deadline = perf_counter() + 2.0
            while len(app.scan_latencies) == before and perf_counter() < deadline:
                if app.screen is home and "-error" in home.query_one("#message").classes:
                    break  # refused, with a message: no line to paint
                await asyncio.sleep(0.0005)
            if len(app.scan_latencies) == before:
                refused += 1
        await pilot.pause()
        lat = list(app.scan_latencies)
    return {"start_ms": start_ms, "latencies": lat, "refused": refused}


def run(skus: int, scans: int, seed: int) -> dict:
    from fixtures.chain import generate_chain
    from node.rules import Policy
    from node.service import Node, initialise_from_chain
    from tui.app import BackroomApp
    from tui.screens.sale import SaleScreen

    work = Path(tempfile.mkdtemp(prefix="backroom-tui-bench-"))
    try:
        t = perf_counter()
        chain = generate_chain(skus, 1)
        path = work / "store.sqlite"
        node = Node(path)
        initialise_from_chain(node, chain, "S001", policy=Policy.IN_HAND)
        node.close()
        setup_s = perf_counter() - t
        rng = random.Random(seed)
        codes = [chain.sample_scan(rng) for _ in range(scans)]

        ours = asyncio.run(drive(
            lambda: BackroomApp(path, terminal="B1", clerk="bench", receipts_dir=work / "receipts"), codes,
            lambda app: isinstance(app.screen, SaleScreen) and app.screen.is_mounted))
        floor = asyncio.run(drive(FloorApp, [f"line {i}" for i in range(scans)],
                                  lambda app: app.screen.query("#scan") and app.screen.query_one("#scan").has_focus))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"skus": skus, "scans": scans, "setup_s": setup_s, "ours": ours, "floor": floor}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python bench/tui_scan.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a short run (10,000 SKUs, 100 scans)")
    p.add_argument("--skus", type=int, help="catalog size (default 100,000; --quick 10,000)")
    p.add_argument("--scans", type=int, help="scans to time (default 500; --quick 100)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    skus = args.skus or (10_000 if args.quick else 100_000)
    scans = args.scans or (100 if args.quick else 500)
    t = time.perf_counter()
    r = run(skus, scans, args.seed)
    ours, floor = r["ours"], r["floor"]
    lo, lf = ours["latencies"], floor["latencies"]
    if not lo or not lf:
        print("No scan was timed: the app never painted a line.", file=sys.stderr)
        return 1
    res = {
        "skus": skus, "scans": scans, "timed_scans": len(lo), "refused_scans": ours["refused"],
        "scan_p50_ms": percentile(lo, 50), "scan_p99_ms": percentile(lo, 99), "scan_max_ms": max(lo),
        "start_ms": ours["start_ms"],
        "floor_scan_p50_ms": percentile(lf, 50), "floor_scan_p99_ms": percentile(lf, 99),
        "floor_start_ms": floor["start_ms"],
    }
    res["scan_p99_ratio"] = res["scan_p99_ms"] / res["floor_scan_p99_ms"]
    res["scan_p50_ratio"] = res["scan_p50_ms"] / res["floor_scan_p50_ms"]
    res["start_ratio"] = res["start_ms"] / res["floor_start_ms"]
    print_table(
        ["what", "scan p50 ms", "scan p99 ms", "scan max ms", "start ms"],
        [["Backroom sale screen", res["scan_p50_ms"], res["scan_p99_ms"], res["scan_max_ms"], res["start_ms"]],
         ["floor: Input + DataTable", res["floor_scan_p50_ms"], res["floor_scan_p99_ms"], max(lf),
          res["floor_start_ms"]],
         ["ratio", res["scan_p50_ratio"], res["scan_p99_ratio"], "", res["start_ratio"]]],
        title=(f"Scan to line painted, headless Textual at 80x24: {skus:,} SKUs, {len(lo):,} of {scans:,} scans "
               f"timed ({ours['refused']} refused); store set up in {r['setup_s']:.1f} s, "
               f"whole run {time.perf_counter() - t:.1f} s"))
    emit_json(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
