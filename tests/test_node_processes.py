"""Terminals in separate processes against one node file.

1. Four terminals race for the last units of quota under `strict`: exactly the
   quota is sold, everyone else is refused, the ledger stays gapless.
2. A terminal is SIGKILLed at random moments while selling: every sale it saw
   committed is in the ledger, nothing is half written, and the stock figures
   are exactly the replay of the ledger.

The workers are tests/node_worker.py, run with this interpreter.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from node.barcodes import make_gtin13
from node.rules import Policy
from node.service import Node

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("node_worker.py")

ITEMS = [
    {"sku": "SKU-A", "gtin": make_gtin13("570000000001"), "name": "Oat milk 1 l", "price": 250},
    {"sku": "SKU-B", "gtin": make_gtin13("570000000002"), "name": "Rye bread", "price": 99},
]


def spawn(out: Path, *args: str) -> subprocess.Popen:
    with out.open("wb") as fh:  # the child keeps its own descriptor
        return subprocess.Popen([sys.executable, str(WORKER), *args], cwd=ROOT, stdout=fh,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def lines_of(out: Path) -> list[str]:
    """Complete lines only: a line cut by SIGKILL was never reported."""
    text = out.read_text() if out.exists() else ""
    return text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]


def wait_for(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def stop(procs: list[subprocess.Popen]) -> None:
    """Kill, by pid, any of our workers still running, and reap them."""
    for p in procs:
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def assert_gapless(conn: sqlite3.Connection) -> list[int]:
    seqs = [r[0] for r in conn.execute("SELECT seq FROM ledger ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1)), "ledger sequence has a gap or does not start at 1"
    return seqs


def assert_integrity(conn: sqlite3.Connection) -> None:
    assert [r[0] for r in conn.execute("PRAGMA integrity_check")] == ["ok"]
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


# -- 1. concurrency ------------------------------------------------------------


def test_four_terminals_never_sell_past_the_quota(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    with Node(db) as node:
        node.initialise(store_id="S1", name="Race", policy=Policy.STRICT, items=ITEMS[:1],
                        stock=[("SKU-A", "floor", 150, 100)])
        assert node.balance("SKU-A").quota == 100
        opening_seq = node.last_seq()

    go = tmp_path / "go"
    attempts, terminals = 60, ["T1", "T2", "T3", "T4"]
    outs = {t: tmp_path / f"{t}.out" for t in terminals}
    procs: list[subprocess.Popen] = []
    try:
        for t in terminals:
            procs.append(spawn(outs[t], "contend", str(db), t, str(attempts), str(go)))
        wait_for(lambda: all(any(x.startswith("READY") for x in lines_of(o)) for o in outs.values())
                 or any(p.poll() is not None for p in procs), 30, "workers to be ready")
        go.touch()  # the barrier: all four start selling at once
        for p in procs:
            p.wait(timeout=60)
    finally:
        stop(procs)

    outcomes: dict[str, list[str]] = {t: lines_of(o) for t, o in outs.items()}
    for t, p in zip(terminals, procs, strict=True):
        assert p.returncode == 0, f"{t} exited {p.returncode}: {outcomes[t][-5:]}"
    errors = [x for lines in outcomes.values() for x in lines if x.startswith("ERROR")]
    assert errors == []

    # the four really ran at the same time
    starts = [float(next(x for x in ls if x.startswith("START")).split()[1]) for ls in outcomes.values()]
    ends = [float(next(x for x in ls if x.startswith("END")).split()[1]) for ls in outcomes.values()]
    assert max(starts) < min(ends), "the workers did not overlap"

    sold = [x.split() for ls in outcomes.values() for x in ls if x.startswith("SOLD")]
    refused = [x for ls in outcomes.values() for x in ls if x.startswith("QUOTA")]
    assert len(sold) + len(refused) == attempts * len(terminals)
    assert len(sold) == 100
    assert len(refused) == attempts * len(terminals) - 100
    assert len({r for _, _, r in sold}) == 100, "a receipt number was given twice"

    with Node(db) as node:
        ledger = node.ledger(limit=10**6)
        b = node.balance("SKU-A")
        assert b.quota == 0
        assert b.on_hand == 50
        assert b.over_quota == 0
        sales = [e for e in ledger if e["kind"] == "sale"]
        assert sum(e["qty"] for e in sales) == 100
        assert len(ledger) == opening_seq + 100
        assert [e["seq"] for e in ledger] == list(range(1, len(ledger) + 1))
        assert {e["op_id"] for e in sales} == {op for _, op, _ in sold}
        assert {e["ref"] for e in sales} == {r for _, _, r in sold}
        assert len({e["ref"] for e in sales}) == len(sales)
        assert all(e["over_quota"] == 0 for e in sales)
        # balances after each entry count down one by one, in sequence order
        assert [e["quota_after"] for e in sales] == list(range(99, -1, -1))
        assert [e["on_hand_after"] for e in sales] == list(range(149, 49, -1))
        # receipts per terminal are numbered 1..k with no holes
        per_terminal = Counter(e["terminal"] for e in sales)
        for t, k in per_terminal.items():
            nums = sorted(int(e["ref"].rsplit("-", 1)[1]) for e in sales if e["terminal"] == t)
            assert nums[0] >= 1 and len(set(nums)) == k
        refused_ops = {x.split()[1] for x in refused}
        assert not refused_ops & {e["op_id"] for e in ledger}
        assert_integrity(node.conn)


# -- 2. crash ------------------------------------------------------------------


def check_after_crash(db: Path, committed: dict[str, str]) -> int:
    """Everything we can say about the file after a SIGKILL; returns the ledger length."""
    conn = sqlite3.connect(str(db), isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        assert_integrity(conn)
        seqs = assert_gapless(conn)
        ledger = [dict(r) for r in conn.execute("SELECT * FROM ledger ORDER BY seq")]
        ops = {r["op_id"]: (r["kind"], json.loads(r["result"])) for r in conn.execute("SELECT * FROM operations")}

        by_op: dict[str, list[dict]] = defaultdict(list)
        for e in ledger:
            by_op[e["op_id"]].append(e)
        # the opening stock is recorded as an operation too, so the two agree exactly
        assert set(by_op) == set(ops), "ledger and operations disagree on which ops happened"

        # every operation has exactly the entries its result names, contiguous
        for op_id, (kind, result) in ops.items():
            entries = by_op[op_id]
            first, last = result["seq"]
            if op_id == "opening":  # the opening's result names its range, not each receive entry
                assert [e["seq"] for e in entries] == list(range(first, last + 1))
                continue
            assert [e["seq"] for e in entries] == list(range(first, last + 1)), op_id
            assert len(entries) == len(result["entries"]), op_id
            assert all(e["kind"] == kind for e in entries), op_id
            if kind == "sale":
                assert {e["ref"] for e in entries} == {result["receipt"]}, op_id
                assert len(entries) == len(result["lines"]), op_id

        # what the worker saw committed is there, with the receipt it saw
        missing = set(committed) - set(ops)
        assert not missing, f"reported committed but not in the file: {sorted(missing)[:5]}"
        for op_id, receipt in committed.items():
            if receipt != "-":
                assert ops[op_id][1]["receipt"] == receipt, op_id

        # receipt numbers survive restarts: never reused, never skipped
        receipts = [r["receipt"] for k, r in ops.values() if k == "sale"]
        assert len(receipts) == len(set(receipts)), "a receipt number was given twice"
        nums = sorted(int(r.rsplit("-", 1)[1]) for r in receipts)
        assert nums == list(range(1, len(nums) + 1)), "receipt numbers have a hole"
        (last_receipt,) = conn.execute("SELECT last_receipt FROM terminals WHERE terminal = 'T1'").fetchone() or (0,)
        assert last_receipt == len(nums)

        # the stock figures are the replay of the ledger
        replay: dict[str, Counter] = defaultdict(Counter)
        last_after: dict[str, dict] = {}
        for e in ledger:
            r = replay[e["sku"]]
            r["floor"] += e["floor_delta"]
            r["back"] += e["back_delta"]
            r["quota"] += e["quota_delta"]
            r["held"] += e["held_delta"]
            r["over_quota"] += e["over_quota"]
            last_after[e["sku"]] = e
        stock = {r["sku"]: dict(r) for r in conn.execute("SELECT * FROM stock")}
        assert set(stock) == set(replay)
        for sku, s in stock.items():
            r = replay[sku]
            for col in ("floor", "back", "quota", "held", "over_quota"):
                assert s[col] == r[col], f"{sku}.{col}: stock {s[col]} != ledger replay {r[col]}"
            assert last_after[sku]["on_hand_after"] == s["floor"] + s["back"]
            assert last_after[sku]["quota_after"] == s["quota"]
            assert last_after[sku]["held_after"] == s["held"]
        return len(seqs)
    finally:
        conn.close()


def test_sigkill_mid_sale_loses_nothing_committed(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    with Node(db) as node:
        node.initialise(store_id="S1", name="Crash", policy=Policy.IN_HAND, items=ITEMS,
                        stock=[("SKU-A", "floor", 20, 10), ("SKU-A", "back", 5_000, 0),
                               ("SKU-B", "floor", 3_000, 50)])

    rng = random.Random(20240611)
    kills, started, budget = 25, time.monotonic(), 45.0
    committed: dict[str, str] = {}
    procs: list[subprocess.Popen] = []
    killed_mid_run = 0
    try:
        for run in range(kills):
            out = tmp_path / f"run{run:03d}.out"
            p = spawn(out, "churn", str(db), "T1", str(run), "100000", "20")
            procs.append(p)
            wait_for(lambda: any(x.startswith("READY") for x in lines_of(out)) or p.poll() is not None,  # noqa: B023
                     30, f"run {run} to start")
            time.sleep(rng.uniform(0.02, 0.2))
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                killed_mid_run += 1
            p.wait(timeout=10)
            lines = lines_of(out)
            assert lines and lines[0].startswith("READY"), f"run {run} failed: {lines[-5:]}"
            assert p.returncode == -signal.SIGKILL, f"run {run} ended by itself ({p.returncode}): {lines[-5:]}"
            for x in lines[1:]:
                tag, op_id, receipt = x.split()
                assert tag == "COMMITTED", x
                assert op_id not in committed
                committed[op_id] = receipt
            check_after_crash(db, committed)
            assert time.monotonic() - started < budget, f"only {run + 1} kills in {budget}s"

        # a last run that ends by itself, on the file the kills left behind
        out = tmp_path / "final.out"
        p = spawn(out, "churn", str(db), "T1", str(kills), "30", "20")
        procs.append(p)
        p.wait(timeout=30)
        lines = lines_of(out)
        assert p.returncode == 0, lines[-5:]
        assert lines[-1] == "DONE"
        for x in lines[1:-1]:
            _, op_id, receipt = x.split()
            committed[op_id] = receipt
        n = check_after_crash(db, committed)
    finally:
        stop(procs)

    assert killed_mid_run >= 20
    assert len(committed) >= 100, f"only {len(committed)} sales in all: the kills came too early to mean much"
    with Node(db) as node:
        assert node.last_seq() == n
        b = node.balance("SKU-A")
        assert b.over_quota > 0  # in-hand: the store kept selling past its quota
