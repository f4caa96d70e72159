"""End-of-day snapshots end to end, with real processes on 127.0.0.1: a hub under uvicorn, stores set up and
worked through `backroom node`, one of them synced by `backroom node run`, and the report made by
`backroom report nightly` and read over the ops API.

S001 sells, a clerk takes the snapshot (`close-day`) and syncs: received, no difference. S002's runner takes
its own at the store's closing time and sends it. S003's snapshot is edited in the node file before it is
sent: the report, re-issued, lists the difference with the entries that explain it. Another store's token
cannot send a store's snapshot.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from hub.service import Hub
from sync.models import DaySnapshot, Signature
from tests.hubfixtures import ROOT, HubProcess, backroom, backroom_command, tiny_chain, tiny_item

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240, method="signal")]

A, B = tiny_item(1, price=500), tiny_item(2, price=1000)
STORES = ("S001", "S002", "S003")
CHAIN = tiny_chain([A, B], [(s, sku, bin_, 10) for s in STORES for sku, bin_ in ((A.sku, "floor"), (B.sku, "back"))],
                   stores=3)


def cli(*args: str) -> str:
    r = backroom(*args)
    assert r.returncode == 0, f"backroom {' '.join(args)} exited {r.returncode}:\n{r.stderr}{r.stdout}"
    return r.stdout


def node(store: str, files: dict[str, Path], *args: str, clerk: str = "alice") -> str:
    return cli("node", *args, "--db", str(files[store]), "--terminal", "T7", "--clerk", clerk)


def snapshot_state(path: Path) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as c:
        return c.execute("SELECT business_date, status, terminal, clerk FROM day_snapshots").fetchall()


def test_snapshots_from_real_nodes_reach_the_report(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    hub = Hub.open(db)
    hub.load_chain(CHAIN, quota_share=0.5)
    tokens = {s: hub.issue_token("store", s) for s in STORES}
    ops_token = hub.issue_token("ops")
    hub.close()
    files = {s: tmp_path / f"{s}.sqlite" for s in STORES}
    runner: subprocess.Popen | None = None
    with HubProcess(db, log_dir=tmp_path) as proc:
        ops = httpx.Client(base_url=proc.url, headers={"Authorization": f"Bearer {ops_token}"}, timeout=30)
        try:
            for s in STORES:
                cli("node", "init", "--store", s, "--hub", proc.url, "--token", tokens[s], "--db", str(files[s]))

            # S001: sales, the clerk's close-day, a sync
            node("S001", files, "sell", f"2*{A.sku}", B.sku)
            node("S001", files, "hold", A.sku, "1", "--customer", "Kim")
            node("S001", files, "move", B.sku, "3", "--from", "back", "--to", "floor")
            taken = json.loads(node("S001", files, "close-day", "--json"))
            day = taken["business_date"]
            assert taken["new"] and taken["signed_by"] == {"terminal": "T7", "clerk": "alice"}
            synced = json.loads(node("S001", files, "sync", "--json"))
            assert synced["snapshots"] == 1, synced
            assert snapshot_state(files["S001"]) == [(day, "sent", "T7", "alice")]

            # S002: its runner takes the snapshot at the store's closing time (passed already today) and sends it
            node("S002", files, "sell", A.sku)
            node("S002", files, "settings", "close_at=00:00", "tz=UTC")
            runner = subprocess.Popen([*backroom_command(), "node", "run", "--db", str(files["S002"]), "--json",
                                       "--pull-every", "1"], cwd=ROOT, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True)
            deadline = time.monotonic() + 60
            while snapshot_state(files["S002"])[:1] != [(day, "sent", "sync", "runner")]:
                assert runner.poll() is None and time.monotonic() < deadline, snapshot_state(files["S002"])
                time.sleep(0.2)
            os.kill(runner.pid, signal.SIGTERM)
            runner.wait(20)

            made = json.loads(cli("report", "--db", db, "nightly", "--date", day))
            report = ops.get(f"/ops/reports/{day}.json").json()
            snap = {c["store_id"]: c for c in report["completeness"]}
            for s, who in (("S001", "T7/alice"), ("S002", "sync/runner")):
                assert (snap[s]["snapshot"], snap[s]["snapshot_status"], snap[s]["snapshot_differences"],
                        snap[s]["snapshot_signed_by"]) == (True, "compared", 0, who), snap[s]
                assert snap[s]["snapshot_note"].startswith("received (at ") and "agrees with the ledger" in \
                    snap[s]["snapshot_note"]
            assert snap["S001"]["snapshot_seq"] == taken["last_seq"]
            assert (snap["S003"]["snapshot"], snap["S003"]["snapshot_note"]) == (False, "missing")
            assert not [x for x in report["exceptions"] if x["kind"] == "snapshot_difference"]

            # S003: its snapshot edited in the node file before it is sent
            node("S003", files, "sell", f"3*{A.sku}")
            node("S003", files, "damaged", B.sku, "1", "--bin", "back")
            assert json.loads(node("S003", files, "close-day", "--json"))["business_date"] == day
            with contextlib.closing(sqlite3.connect(files["S003"])) as raw, raw:
                raw.execute("UPDATE day_snapshot_rows SET back = back - 2 WHERE sku = ?", (B.sku,))
            assert json.loads(node("S003", files, "sync", "--json"))["snapshots"] == 1
            again = json.loads(cli("report", "--db", db, "nightly", "--date", day))
            assert again["revision"] == made["revision"] + 1
            report = ops.get(f"/ops/reports/{day}.json").json()
            [diff] = [x for x in report["exceptions"] if x["kind"] == "snapshot_difference"]
            assert diff["store_id"] == "S003" and diff["sku"] == B.sku
            assert "on hand 7 against 9 (-2)" in diff["message"], diff["message"]
            assert [(e["kind"], e["on_hand_after"]) for e in diff["entries"]][-1] == ("damaged", 9)
            assert any("S003: end-of-day snapshot received" in c for c in report["changes"])
            page = ops.get(f"/ops/reports/{day}.html").text
            assert "snapshot_difference" in page and "on hand 7 against 9 (-2)" in page

            # another store's token cannot send S001's snapshot; no token is asked for one
            forged = DaySnapshot(store_id="S001", business_date=day, last_seq=1, taken_at="2025-01-01T00:00:00+00:00",
                                 signed_by=Signature(terminal="T1", clerk="mallory"), row_count=0, part=1, parts=1,
                                 rows=[])
            url = f"{proc.url}/stores/S001/snapshots/{day}"
            r = httpx.put(url, content=forged.model_dump_json(), headers={
                "Authorization": f"Bearer {tokens['S002']}", "Content-Type": "application/json"})
            assert r.status_code == 403 and "belongs to store S002" in r.json()["detail"]["message"], r.text
            assert httpx.put(url, content=forged.model_dump_json(),
                             headers={"Content-Type": "application/json"}).status_code == 401
            r = httpx.put(url, content=forged.model_dump_json(), headers={
                "Authorization": f"Bearer {tokens['S001']}", "Content-Type": "application/json"})
            assert r.status_code == 409 and "signed off once" in r.json()["detail"]["message"], r.text
            with contextlib.closing(sqlite3.connect(f"file:{tmp_path / 'hub.sqlite'}?mode=ro", uri=True)) as c:
                held = c.execute("SELECT last_seq, terminal, clerk, status FROM day_snapshots WHERE store_id = 'S001'"
                                 ).fetchall()
            assert held == [(taken["last_seq"], "T7", "alice", "compared")]
        finally:
            ops.close()
            if runner is not None and runner.poll() is None:
                os.kill(runner.pid, signal.SIGTERM)
                runner.wait(20)
