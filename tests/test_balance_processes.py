"""The balancer in real hub processes: two on one database run one pass an interval; its routes and CLI.

- Two `backroom hub serve` processes on one database (a SQLite file, and
  PostgreSQL), each with the interval job on: the runs table shows one pass at
  a time (none starts before the one before it finished) and about one an
  interval, whichever process started it.
- The routes under /ops (a real hub over HTTP, a chain whose stores sold for
  three hours up to now) and `backroom hub rebalance`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from hub.db import make_engine
from hub.service import Hub
from tests.balance_world import A, BalanceWorld
from tests.hubfixtures import (HubProcess, backroom, drop_pg_database, fresh_pg_database, pg_server,  # noqa: F401
                               start_hubs)

pytestmark = pytest.mark.slow

EVERY_S = 1.0
WATCH_S = 9.0


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.sqlite'}"
        return
    pg = request.getfixturevalue("pg_server")
    url = fresh_pg_database(pg, "lease")
    yield url
    drop_pg_database(pg, url)


def test_two_hub_processes_run_one_pass_an_interval(shared_db: str, tmp_path: Path) -> None:
    w = BalanceWorld(shared_db, tmp_path, start=datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2))
    w.hours(2, sells={"S001": 1})
    w.close()
    env = {"BACKROOM_HUB_BALANCE_EVERY_S": str(EVERY_S), "BACKROOM_HUB_BALANCE_LEASE_S": "5"}
    procs = [HubProcess(shared_db, log_dir=tmp_path, env=env), HubProcess(shared_db, log_dir=tmp_path, env=env)]
    try:
        start_hubs(procs)  # both at once: each spends a second or two starting
        time.sleep(WATCH_S)
    finally:
        for p in procs:
            p.stop()
    engine = make_engine(shared_db)
    with engine.connect() as conn:
        runs = conn.exec_driver_sql("SELECT run_id, holder, started_at, finished_at, status FROM balance_runs "
                                    "ORDER BY started_at").all()
    engine.dispose()
    done = [r for r in runs if r.status == "done"]
    assert [r for r in runs if r.status not in ("done", "running")] == [], runs
    # About one pass an interval over the time both processes ran, never two in one.
    span = (datetime.fromisoformat(runs[-1].started_at) - datetime.fromisoformat(runs[0].started_at)).total_seconds()
    # The first pass starts when the first process is up, the last one up to an interval before the stop.
    assert span >= WATCH_S - 2.5 * EVERY_S and span / EVERY_S * 0.6 <= len(done) <= span / (0.9 * EVERY_S) + 1, runs
    for before, after in zip(runs, runs[1:]):
        assert before.finished_at is not None and after.started_at >= before.finished_at, (before, after)
        gap = datetime.fromisoformat(after.started_at) - datetime.fromisoformat(before.started_at)
        assert gap >= timedelta(seconds=0.9 * EVERY_S - 0.05), (before, after)
    assert len({r.holder.rsplit(":", 2)[1] for r in runs}) <= 2  # pids of the two processes


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("balance-api")
    db = f"sqlite:///{tmp / 'hub.sqlite'}"
    w = BalanceWorld(db, tmp, start=datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3))
    w.hours(3, sells={"S001": 2})
    tokens = {"ops": w.hub.issue_token("ops"), "store": w.hub.issue_token("store", "S001")}
    w.close()
    with HubProcess(db, log_dir=tmp, env={"BACKROOM_HUB_BALANCE_EVERY_S": "0",
                                          "BACKROOM_HUB_BALANCE_MIN_HISTORY_H": "2"}) as proc:
        yield proc.url, db, tokens


def _as(served: tuple, who: str | None) -> httpx.Client:
    url, _, tokens = served
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens[who]}"} if who else {}, timeout=30)


def test_rebalance_over_http_dry_then_for_real(served) -> None:  # type: ignore[no-untyped-def]
    with _as(served, "ops") as ops:
        dry = ops.post("/ops/rebalance", json={"dry_run": True})
        assert dry.status_code == 200, dry.text
        assert {(m["kind"], m["store_id"]) for m in dry.json()["moves"]} >= {("grant", "S001"), ("release", "S002")}
        assert ops.get("/ops/balance").json()["last_run"] is None  # a dry run records nothing
        done = ops.post("/ops/rebalance", json={}, params={"limit": 1})
        assert done.status_code == 200 and len(done.json()["moves"]) == 1 and done.json()["more_moves"]
        view = ops.get("/ops/balance").json()
        assert view["last_run"]["status"] == "done" and view["last_run"]["run_id"] == done.json()["run_id"]
        grant = next(m for m in view["moves"] if m["kind"] == "grant")
        assert grant["outcome"] == "granted" and grant["ref"].startswith("G-S001-") and "S001 sells" in grant["reason"]
        assert ops.post("/ops/rebalance", json={"dry_run": "yes"}).status_code == 422
    with _as(served, "store") as store:
        assert store.post("/ops/rebalance", json={}).status_code == 403
    with _as(served, None) as nobody:
        assert nobody.get("/ops/balance").status_code == 401


def test_pins_switches_promos_and_proposals_over_http(served) -> None:  # type: ignore[no-untyped-def]
    with _as(served, "ops") as ops:
        assert ops.put(f"/ops/balance/pins/S001/{A.sku}", json={"quota": 2}).json()["pinned"] == 2
        assert ops.get("/ops/balance/settings").json()["pins"][0]["quota"] == 2
        too_many = ops.put(f"/ops/balance/pins/S001/{A.sku}", json={"quota": 5})  # S001 holds 4 after 3 hours
        assert too_many.status_code == 409 and "S001 has 4 of" in too_many.text, too_many.text
        assert ops.delete(f"/ops/balance/pins/S001/{A.sku}").status_code == 200
        assert ops.delete(f"/ops/balance/pins/S001/{A.sku}").status_code == 200  # nothing to undo: as switching on
        assert "There is no store S009" in ops.delete(f"/ops/balance/pins/S009/{A.sku}").text
        assert ops.put(f"/ops/balance/pins/S009/{A.sku}", json={"quota": 5}).status_code == 404
        assert ops.put(f"/ops/balance/pins/S001/{A.sku}", json={"quota": -1}).status_code == 422
        assert ops.put("/ops/balance/off/stores/S002").json() == {"store": "S002", "balancer": "off"}
        assert ops.get("/ops/balance/settings").json()["off"] == {"stores": ["S002"], "skus": []}
        assert ops.delete("/ops/balance/off/stores/S002").json()["balancer"] == "on"
        assert ops.put("/ops/balance/off/skus/NOPE").status_code == 404
        start = datetime.now(UTC).isoformat()
        made = ops.post("/ops/promos", json={"sku": A.sku, "starts_at": start, "hours": 4, "factor": 2.5,
                                            "note": "spring"})
        assert made.status_code == 201, made.text
        assert [p["promo_id"] for p in ops.get("/ops/promos").json()] == [made.json()["promo_id"]]
        for bad, says in (({"starts_at": "2025-03-10T09:00:00", "hours": 4, "factor": 2}, "timezone"),
                          ({"starts_at": start, "hours": 4, "factor": 0}, "factor"),
                          ({"starts_at": start, "hours": 0, "factor": 2}, "hours"),
                          ({"starts_at": start, "ends_at": start, "factor": 2}, "ends_at"),
                          ({"starts_at": "9999-12-31T23:00:00Z", "hours": 4, "factor": 2}, "not in 9999"),
                          ({"starts_at": "0001-01-01T00:00:00Z", "hours": 4, "factor": 2}, "not in 1")):
            got = ops.post("/ops/promos", json=bad)
            assert got.status_code == 422 and says in got.text, (bad, got.text)
        nan = ops.post("/ops/promos", content=f'{{"starts_at": "{start}", "hours": 4, "factor": NaN}}',
                       headers={"Content-Type": "application/json"})
        assert nan.status_code == 422 and "finite" in nan.text, nan.text
        assert [p["promo_id"] for p in ops.get("/ops/promos").json()] == [made.json()["promo_id"]]  # none written
        assert ops.delete(f"/ops/promos/{made.json()['promo_id']}").status_code == 200
        assert ops.delete(f"/ops/promos/{made.json()['promo_id']}").status_code == 404
        asked = ops.post("/ops/rebalance", params={"dry_run": "true"})  # not a dry run: refused, not run for real
        assert asked.status_code == 422 and "dry_run: not a parameter here" in asked.text, asked.text
        assert ops.post("/ops/rebalance").status_code == 200  # a bare POST: a pass of what changed
        open_ = ops.get("/ops/balance/proposals").json()
        assert open_ and all(p["to_location"] == "S001" for p in open_)
        pid = open_[0]["proposal_id"]
        ignored = ops.post(f"/ops/balance/proposals/{pid}/accept", json={"qty": 1})
        assert ignored.status_code == 422 and "takes no body" in ignored.text, ignored.text
        assert ops.put("/ops/balance/off/stores/S002", json={"why": "x"}).status_code == 422
        assert ops.get("/ops/balance/settings").json()["off"] == {"stores": [], "skus": []}
        assert ops.post(f"/ops/balance/proposals/{pid}/dismiss").json()["status"] == "dismissed"
        assert ops.post(f"/ops/balance/proposals/{pid}/accept").status_code == 409
        assert ops.post("/ops/balance/proposals/TP-nope/accept").status_code == 404


def test_backroom_hub_rebalance_prints_each_move_and_why(served) -> None:  # type: ignore[no-untyped-def]
    _, db, _ = served
    dry = backroom("hub", "--db", db, "rebalance", "--dry-run", "--full")
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert lines[0].startswith("Dry run (nothing written): every SKU, ")
    # Each move on a line of its own, with its reason (what the store sells, what the window needs).
    assert len(lines) > 1 and all(re.fullmatch(r"  (grant|release|transfer) +\d+ SKU\d+ \S+( -> \S+)?: .*"
                                               r"needs \d+.*", ln) for ln in lines[1:]), dry.stdout
    as_json = backroom("hub", "--db", db, "rebalance", "--json")
    done = json.loads(as_json.stdout)
    assert done["run_id"] and not done["dry_run"]
    hub = Hub.open(db)
    try:
        assert hub.balance_view()["last_run"]["run_id"] == done["run_id"]
    finally:
        hub.close()
