"""End to end: a store whose walk-ins outrun its quota gets a top-up on its next sync, with no ops action.

A real hub (`backroom hub serve`, the balancer's job every 2 s) and a real
store (`backroom node init`, `backroom node run`, `backroom node sell`). The
hub remembers two days of the store selling one unit of A an hour (its
hourly sales and the hours it heard from the store, as a hub that has been
running keeps them), so its forecast over the balancer's window is about 8
and the store's quota of 10 is left alone. Then the clerk sells 8: the next
sync brings a grant the store applies, made by the balancer (at the pull, or
by the next pass) and by nobody else. At the end the hub's copy of the
ledger is the store's, every grant was applied once, and the books balance.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from hub.db import driver_sql
from hub.service import Hub
from node.service import Node
from sync.kinds import stamp
from tests.hubfixtures import ROOT, HubProcess, backroom, backroom_command, tiny_chain, tiny_item

A = tiny_item(1)
CHAIN = tiny_chain([A], [("S001", A.sku, "floor", 40), ("W01", A.sku, "back", 50)], stores=1)


def _remember_two_days(hub: Hub) -> None:
    """What a hub that had been running holds: S001 heard from all along, selling one A an hour."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with hub.engine.begin() as conn:
        driver_sql(conn, "INSERT INTO store_contacts (store_id, since, until) VALUES (?, ?, ?)",
                   ("S001", stamp(now - timedelta(days=2)), stamp(datetime.now(UTC))))
        driver_sql(conn, "INSERT INTO balance_sales (store_id, sku, hour, units) VALUES (?, ?, ?, 1)",
                   [("S001", A.sku, stamp(now - timedelta(hours=h))) for h in range(1, 49)])


def _quota(db: Path) -> int:
    with Node(db, terminal="e2e-check", clerk="e2e") as node:
        return node.balance(A.sku).quota


def _wait(what: str, check, timeout: float) -> object:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_a_store_selling_past_its_quota_is_topped_up_on_its_next_sync(tmp_path: Path) -> None:
    db_url, store_db = f"sqlite:///{tmp_path / 'hub.sqlite'}", tmp_path / "s1.sqlite"
    hub = Hub.open(db_url)
    hub.load_chain(CHAIN, quota_share=0.25)  # S001: quota 10 of its 40, the hub's share 30
    token, ops_token = hub.issue_token("store", "S001"), hub.issue_token("ops")
    _remember_two_days(hub)
    hub.close()
    runner = None
    with HubProcess(db_url, log_dir=tmp_path, env={"BACKROOM_HUB_BALANCE_EVERY_S": "2"}) as proc, \
            httpx.Client(base_url=proc.url, headers={"Authorization": f"Bearer {ops_token}"}, timeout=10) as ops:
        try:
            init = backroom("node", "init", "--json", "--db", str(store_db), "--store", "S001", "--hub", proc.url,
                            "--token", token)
            assert init.returncode == 0, init.stderr
            log = open(tmp_path / "runner.log", "wb")  # noqa: SIM115 - closed below
            runner = subprocess.Popen([*backroom_command(), "node", "run", "--db", str(store_db), "--pull-every", "1",
                                       "--seconds", "90"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

            # A pass has forecast S001's sales. Whether it also watches S001 for a top-up at the pull depends
            # on how far the forecast (which follows the hour and the weekday) puts quota from its band.
            def planned_s001() -> bool:
                last = ops.get("/ops/balance").json()["last_run"]
                stock = ops.get(f"/ops/stock/{A.sku}").json()["locations"]
                return bool(last and last["status"] == "done" and any(p["location"] == "S001" for p in stock)
                            and driver_count(db_url, "SELECT count(*) FROM balance_demand WHERE store_id = 'S001'"))
            _wait("a pass that forecasts S001", planned_s001, 30)
            assert _quota(store_db) == 10 and ops.get("/ops/balance").json()["moves"] == []  # about what it sells

            sold = backroom("node", "sell", "--json", "--db", str(store_db), f"8*{A.sku}")
            assert sold.returncode == 0, sold.stderr
            assert _quota(store_db) == 2
            _wait("S001's quota topped up", lambda: _quota(store_db) >= 7, 30)
        finally:
            if runner is not None:
                runner.terminate()
                runner.wait(10)
        ledger = _node_ledger(store_db)
        granted = [e for e in ledger if e["kind"] == "quota_granted"]
        moves = {m["ref"]: m for m in _balancer_grants(db_url)}
        assert granted and all(e["ref"] in moves for e in granted), (granted, moves)  # no grant but the balancer's
        assert len({e["ref"] for e in granted}) == len(granted)  # each applied once
        assert all(moves[e["ref"]]["reason"].startswith("S001 sells") for e in granted)
        sys.stderr.write("balance e2e: grants " + ", ".join(
            f"{e['qty']} {'at the pull' if moves[e['ref']]['run_id'] is None else 'by a pass'}" for e in granted) + "\n")
        assert ops.get("/ops/stores/S001/ledger").json() == ledger  # the hub's copy is the store's
        for p in ops.get(f"/ops/stock/{A.sku}").json()["locations"]:
            assert p["on_hand"] + p["shortfall"] == p["quota"] + p["held"] + p["in_flight"] + p["hub_share"] + \
                p["reserved"], p


def driver_count(db_url: str, sql: str) -> int:
    hub = Hub.open(db_url)
    try:
        with hub.reads.connect() as conn:
            return driver_sql(conn, sql).scalar()
    finally:
        hub.close()


def _balancer_grants(db_url: str) -> list[dict]:
    hub = Hub.open(db_url)
    try:
        with hub.reads.connect() as conn:
            return [{"ref": r[0], "reason": r[1], "run_id": r[2]} for r in driver_sql(
                conn, "SELECT ref, reason, run_id FROM balance_moves WHERE kind = 'grant' AND outcome = 'granted'")]
    finally:
        hub.close()


def _node_ledger(db: Path) -> list[dict]:
    with Node(db, terminal="e2e-check", clerk="e2e") as node:
        return json.loads(json.dumps(node.ledger(after=0, limit=1000)))  # as plain JSON, as the hub keeps it
