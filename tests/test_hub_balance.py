"""The balancer in the hub service: a pass over real stores' sales, what it writes, what ops steer, the top-up at pull.

Real node files sync with the real hub service (tests/balance_world.py) on
one clock; a pass reads what the hub heard and carries its moves out through
the hub's own grants and release requests.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub import rules
from hub.db import BALANCER_TABLES, leasing, transact
from hub.service.balance_pass import Cadence
from sync.kinds import stamp
from tests.balance_world import A, B, BalanceWorld
from tests.hubfixtures import hub_backend_url, pg_server  # noqa: F401 - fixtures

WRITTEN = (*BALANCER_TABLES, "grants", "release_requests", "positions", "changefeed")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[BalanceWorld]:
    w = BalanceWorld(f"sqlite:///{tmp_path / 'hub.sqlite'}", tmp_path)
    yield w
    w.close()


@pytest.fixture
def any_world(hub_backend_url: str, tmp_path: Path) -> Iterator[BalanceWorld]:  # noqa: F811
    w = BalanceWorld(hub_backend_url, tmp_path)
    yield w
    w.close()


def snapshot(w: BalanceWorld) -> dict[str, list[tuple]]:
    return {t: sorted(w.rows(f"SELECT * FROM {t}"), key=repr) for t in WRITTEN}


def test_a_pass_grants_from_the_hub_share_and_asks_a_slow_store_to_release(any_world: BalanceWorld) -> None:
    w = any_world
    w.hours(3, sells={"S001": 2})  # S001 sells 12 an hour; S002 sells nothing
    before = w.position("S001")
    done = w.hub.rebalance()
    moves = {(m["kind"], m["store_id"]): m for m in done["moves"]}
    grant, release = moves[("grant", "S001")], moves[("release", "S002")]
    assert grant["qty"] == before["promisable"]  # 8 h of S001's sales want more than its whole hub share
    assert re.match(r"S001 sells 1\d\.\d/h; 8 h \+ 15 min needs \d+, has 0$", grant["reason"])
    assert release["qty"] == w.quota("S002") == 20 and "asked to give back 20" in release["reason"]
    after = w.position("S001")
    assert (after["hub_share"], after["in_flight"]) == (before["hub_share"] - grant["qty"], grant["qty"])
    # S001 runs short even so: the stock sitting at W01 and at S002 is proposed to move there.
    assert {(m["source"], m["qty"]) for m in done["moves"] if m["kind"] == "transfer"} == {("W01", 60), ("S002", 20)}
    assert done["counts"] == {"granted": 1, "asked": 1, "proposed": 2, "skipped": 0}
    view = w.hub.balance_view()
    assert view["last_run"]["status"] == "done" and view["last_run"]["holder"] == w.hub.holder
    assert {(m["kind"], m["outcome"]) for m in view["moves"]} == {("grant", "granted"), ("release", "asked"),
                                                                 ("transfer", "proposed")}
    gid = next(m["ref"] for m in view["moves"] if m["kind"] == "grant")
    # The stores apply them on their next pull; the hub's records follow.
    w.hours(1 / 6)
    assert w.rows("SELECT status FROM grants WHERE grant_id = ?", gid) == [("applied",)]
    assert w.quota("S002") == 0 and w.position("S002")["hub_share"] == 40
    assert w.rows("SELECT status FROM release_requests WHERE store_id = 'S002'") == [("answered",)]


def test_a_dry_run_returns_the_moves_and_writes_nothing(world: BalanceWorld) -> None:
    world.hours(3, sells={"S001": 2})
    before = snapshot(world)
    dry = world.hub.rebalance(dry_run=True)
    assert dry["dry_run"] and dry["run_id"] is None
    assert {(m["kind"], m["store_id"]) for m in dry["moves"]} == {("grant", "S001"), ("release", "S002"),
                                                                  ("transfer", "S001")}
    assert snapshot(world) == before
    done = world.hub.rebalance()
    assert [(m["kind"], m["qty"]) for m in done["moves"]] == [(m["kind"], m["qty"]) for m in dry["moves"]]
    # A script reads both alike: what the pass would do, and what it did.
    assert dry["counts"] == done["counts"] == {"granted": 1, "asked": 1, "proposed": 2, "skipped": 0}
    assert dry["by_kind"] == done["by_kind"] == {"grant": 1, "release": 1, "transfer": 2}


def test_a_second_pass_over_what_the_first_left_moves_nothing(world: BalanceWorld) -> None:
    world.hours(3, sells={"S001": 2})
    world.hub.rebalance()
    again = world.hub.rebalance()
    assert not again["full"] and {m["kind"] for m in again["moves"]} == {"transfer"}  # the proposals stand
    assert world.rows("SELECT count(*) FROM transfer_proposals WHERE status = 'open'") == [(2,)]


def test_pins_and_switches_are_honoured(world: BalanceWorld) -> None:
    world.hours(3, sells={"S001": 2})
    world.hub.pin("S001", A.sku, world.position("S001")["quota"])  # where it is: nothing to bring it to
    world.hub.switch_balancer("store", "S002", on=False)
    assert world.hub.rebalance(dry_run=True)["moves"] == []
    assert world.hub.balancer_settings() == {"pins": [{"store_id": "S001", "sku": A.sku,
                                                       "quota": world.position("S001")["quota"],
                                                       "at": stamp(world.now)}], "off": {"stores": ["S002"], "skus": []}}
    world.hub.unpin("S001", A.sku)
    world.hub.switch_balancer("store", "S002", on=True)
    world.hub.switch_balancer("sku", A.sku, on=False)
    assert world.hub.rebalance()["moves"] == []
    world.hub.switch_balancer("sku", A.sku, on=True)
    assert {m["kind"] for m in world.hub.rebalance()["moves"]} == {"grant", "release", "transfer"}
    assert world.hub.unpin("S001", A.sku)["pinned"] is None  # not pinned: nothing to undo, as switching on
    with pytest.raises(rules.Unknown, match="There is no store S009"):
        world.hub.unpin("S009", A.sku)
    with pytest.raises(rules.Unknown):
        world.hub.pin("S009", A.sku, 1)
    with pytest.raises(rules.Unknown):
        world.hub.switch_balancer("sku", "NOPE", on=False)


def test_a_pin_brings_the_quota_to_its_figure_and_keeps_it_there(world: BalanceWorld) -> None:
    w = world
    w.hours(3)  # nobody sells: S002 holds 20 of A as quota and 20 as hub share, as it opened
    assert w.quota("S002") == 20
    w.hub.pin("S002", A.sku, 5)
    (move,) = [m for m in w.hub.rebalance()["moves"] if m["store_id"] == "S002"]
    assert (move["kind"], move["qty"]) == ("release", 15) and move["reason"].startswith("S002 is pinned at 5 by ops")
    w.sync("S002")
    assert w.quota("S002") == 5 == w.position("S002")["quota"]
    assert [m for m in w.hub.rebalance(full=True)["moves"] if m["store_id"] == "S002"] == []
    w.hub.pin("S002", A.sku, 30)  # up: from S002's own hub share (35 now), however the bands see it
    (move,) = [m for m in w.hub.rebalance()["moves"] if m["store_id"] == "S002"]
    assert (move["kind"], move["qty"]) == ("grant", 25)
    w.sync("S002")
    assert w.quota("S002") == 30
    assert [m for m in w.hub.rebalance(full=True)["moves"] if m["store_id"] == "S002"] == []
    with pytest.raises(rules.NotEnough, match=r"S002 has 40 of .* that may be its quota \(of 40 on hand\): a pin is "
                                               r"at most that, not 41"):
        w.hub.pin("S002", A.sku, 41)
    assert w.hub.balancer_settings()["pins"][0]["quota"] == 30


def test_a_promo_multiplies_the_forecast_and_the_grant_follows(world: BalanceWorld) -> None:
    world.hours(3, sells={"S001": 1})
    world.hub.pin("S001", A.sku, 20)  # keep quota where it is while the forecast is read
    world.hub.rebalance()
    plain = world.rows("SELECT demand FROM balance_demand WHERE store_id = 'S001'")[0][0]
    promo = world.hub.add_promo(sku=A.sku, store_id="S001", starts_at=world.now - timedelta(hours=1),
                                ends_at=world.now + timedelta(hours=12), factor=3.0, note="spring")
    assert [p["promo_id"] for p in world.hub.promos()] == [promo["promo_id"]]
    world.hub.rebalance()
    lifted = world.rows("SELECT demand FROM balance_demand WHERE store_id = 'S001'")[0][0]
    # The hour of sales under the promo is divided by its factor before it shapes the rate.
    assert 2.0 * plain < lifted < 3.0 * plain
    world.hub.delete_promo(promo["promo_id"])
    world.hub.rebalance()
    assert math.isclose(world.rows("SELECT demand FROM balance_demand WHERE store_id = 'S001'")[0][0], plain)
    with pytest.raises(rules.BadRequest):
        world.hub.add_promo(starts_at=world.now, ends_at=world.now, factor=2.0)
    with pytest.raises(rules.Unknown):
        world.hub.delete_promo(promo["promo_id"])


def test_a_store_low_at_its_pull_gets_its_top_up_in_that_pull(world: BalanceWorld) -> None:
    world.hours(3, sells={"S001": 1})  # 6 an hour: about 50 over the window
    world.hub.rebalance()  # grants S001 its whole hub share: its quota covers most of the window
    world.sync("S001")
    world.hub.request_release("S001", A.sku, 25)  # ops take much of it back meanwhile
    world.sync("S001")  # S001 answers (pull) and its release reaches the hub (push): low, with hub share to give
    low = world.position("S001")
    assert low["promisable"] >= 2 and low["quota"] < 30
    pulled = world.clients["S001"].pull("S001", 0)
    top_up = world.rows("SELECT ref, qty, reason FROM balance_moves WHERE run_id IS NULL AND outcome = 'granted'")
    assert len(top_up) == 1 and [(g.grant_id, g.qty) for g in pulled.grants] == [top_up[0][:2]]
    assert "S001 sells" in top_up[0][2]
    assert world.hub.balance_view()["top_ups_at_pull"][0]["ref"] == top_up[0][0]


def proposal_from(w: BalanceWorld, source: str) -> dict:
    """Three hours of S001 selling 12 an hour, a pass, and the transfer it proposes from `source` to S001."""
    w.hours(3, sells={"S001": 2})
    w.hub.rebalance()
    return next(p for p in w.hub.proposals() if p["from_location"] == source)


def test_an_accepted_proposal_from_the_warehouse_is_shipped_and_received_into_quota(world: BalanceWorld) -> None:
    w = world
    p = proposal_from(w, "W01")
    pid, qty = p["proposal_id"], p["qty"]
    assert (p["to_location"], p["sku"]) == ("S001", A.sku) and qty >= 2
    wh, before = w.position("W01"), w.hub.stock(A.sku)["total"]
    done = w.hub.decide_proposal(pid, accept=True)
    # On no location's hand while on its way, and in sight all the same.
    stock = w.hub.stock(A.sku)
    assert [(t["transfer_id"], t["from_location"], t["to_location"], t["qty"]) for t in stock["in_transit"]] == [
        (pid, "W01", "S001", qty)]
    assert stock["total"]["on_hand"] + stock["total"]["in_transit"] == before["on_hand"] + before["in_transit"]
    assert done["status"] == "accepted" and done["transfer"]["status"] == "in_transit"
    with pytest.raises(rules.Conflict):
        w.hub.decide_proposal(pid, accept=False)
    assert w.hub.proposals("accepted")[0]["proposal_id"] == pid
    # The warehouse shipped it: its units and its share are lower by the transfer, nothing else moved.
    after = w.position("W01")
    assert (after["on_hand"], after["hub_share"]) == (wh["on_hand"] - qty, wh["hub_share"] - qty)
    # S001 hears of it on its pull; its clerk receives it, and it joins S001's quota.
    w.sync("S001")
    node = w.nodes["S001"]
    quota = w.quota("S001")
    assert [(t["transfer_id"], t["qty"]) for t in node.lookup(A.gtin)["incoming"]] == [(pid, qty)]
    node.transfer_in("recv-1", pid, A.sku, qty, from_location="W01")
    assert w.quota("S001") == quota + qty
    w.sync("S001")
    assert w.rows("SELECT status FROM transfers WHERE transfer_id = ?", pid) == [("received",)]
    assert w.position("S001")["quota"] == w.quota("S001")


def test_a_decided_proposal_is_not_made_again_within_a_day(world: BalanceWorld) -> None:
    w = world
    p = proposal_from(w, "S002")
    assert w.hub.decide_proposal(p["proposal_id"], accept=False)["status"] == "dismissed"

    def from_s002() -> list[tuple[str, str]]:
        run = w.hub.rebalance(full=True)["run_id"]
        return w.rows("SELECT outcome, ref FROM balance_moves WHERE run_id = ? AND kind = 'transfer' "
                      "AND source = 'S002'", run)

    assert from_s002() == []  # dry runs and passes alike: not proposed, not counted
    assert not [q for q in w.hub.proposals() if q["from_location"] == "S002"]
    w.now += timedelta(days=1, minutes=1)
    assert [outcome for outcome, _ in from_s002()] == ["proposed"]


def test_an_accepted_proposal_from_a_store_is_granted_to_it_to_send(world: BalanceWorld) -> None:
    w = world
    p = proposal_from(w, "S002")
    pid, qty = p["proposal_id"], p["qty"]
    done = w.hub.decide_proposal(pid, accept=True)
    assert "transfer" not in done and done["grant"]["store_id"] == "S002" and done["grant"]["qty"] == qty
    assert done["to_arrange"].endswith(f"backroom node transfer out {A.sku} {qty} --to S001 --transfer-id {pid}")
    # S002 sells nothing and holds more than it needs: still, no pass asks those units back meanwhile.
    assert not [m for m in w.hub.rebalance(full=True)["moves"] if m["kind"] == "release" and m["store_id"] == "S002"]
    w.sync("S002")  # the grant applied: the units are S002's quota, to send
    sent = w.nodes["S002"].transfer_out("send-1", A.sku, qty, to_location="S001", transfer_id=pid)
    assert sent
    w.sync("S002")
    w.sync("S001")
    assert [(t["transfer_id"], t["qty"]) for t in w.nodes["S001"].lookup(A.gtin)["incoming"]] == [(pid, qty)]
    w.nodes["S001"].transfer_in("recv-1", pid, A.sku, qty, from_location="S002")
    w.sync("S001")
    assert w.rows("SELECT status FROM transfers WHERE transfer_id = ?", pid) == [("received",)]
    assert w.rows("SELECT count(*) FROM incidents") == [(0,)]


def test_a_pin_at_a_store_heard_from_for_under_a_week_is_still_met(world: BalanceWorld) -> None:
    w = world
    w.hub.cadence = Cadence()  # the production week: no band asks S002 back yet, but ops chose the figure
    w.hours(3)
    w.hub.pin("S002", A.sku, 5)
    assert [(m["kind"], m["qty"]) for m in w.hub.rebalance()["moves"] if m["store_id"] == "S002"] == [("release", 15)]


def test_a_store_heard_from_for_under_an_hour_is_left_alone(world: BalanceWorld) -> None:
    world.hours(0.5, sells={"S001": 3})
    assert world.hub.rebalance(dry_run=True)["moves"] == []
    world.hours(1, sells={"S001": 3})
    assert world.hub.rebalance(dry_run=True)["moves"]


def test_a_store_heard_from_for_under_a_week_is_granted_quota_but_never_asked_for_any(world: BalanceWorld) -> None:
    world.hub.cadence = Cadence()  # the production week
    world.hours(3, sells={"S001": 2})  # three hours without a sale at S002 say little of its week
    kinds = {(m["kind"], m["store_id"]) for m in world.hub.rebalance(dry_run=True)["moves"]}
    assert ("grant", "S001") in kinds and not {k for k in kinds if k[0] == "release"}
    world.hub.cadence = replace(Cadence(), min_history=timedelta(hours=2))
    assert ("release", "S002") in {(m["kind"], m["store_id"]) for m in world.hub.rebalance(dry_run=True)["moves"]}


def test_a_silent_store_is_offline_not_selling_nothing(world: BalanceWorld) -> None:
    world.hours(3, sells={"S001": 2})
    world.hub.rebalance()
    demand = world.rows("SELECT demand FROM balance_demand WHERE store_id = 'S001'")[0][0]
    world.now += timedelta(hours=5)  # S001 (and every store) is silent for five hours
    world.hub.rebalance(full=True)
    assert math.isclose(world.rows("SELECT demand FROM balance_demand WHERE store_id = 'S001'")[0][0], demand,
                        rel_tol=0.5)


def test_one_pass_at_a_time_and_a_dead_holders_lease_lapses(world: BalanceWorld) -> None:
    world.hours(3, sells={"S001": 2})
    until = stamp(world.now + timedelta(minutes=2))
    transact(world.hub.engine, lambda c: leasing.claim(c, "balance", "other:1", stamp(world.now), until,
                                                       scheduled=False))
    with pytest.raises(rules.Conflict, match="other:1"):
        world.hub.rebalance()
    assert world.hub.rebalance(scheduled=True) == {"ran": False, "held_by": "other:1"}
    world.now += timedelta(minutes=3)  # the other process died: its lease lapsed
    assert world.hub.rebalance(scheduled=True)["ran"]
    assert world.hub.rebalance(scheduled=True)["ran"] is False  # once an interval
    assert world.hub.rebalance()["ran"]  # ops may ask for another
    assert {r["status"] for r in world.hub.balance_view()["runs"]} == {"done"}
    # A pass whose process died leaves its run marked running; the next pass to hold the lease says so.
    transact(world.hub.engine, lambda c: c.exec_driver_sql(
        "UPDATE balance_runs SET status = 'running', finished_at = NULL WHERE run_id = "
        "(SELECT max(run_id) FROM balance_runs)"))
    world.hub.rebalance()
    died = [r for r in world.hub.balance_view()["runs"] if r["status"] == "failed"]
    assert len(died) == 1 and died[0]["message"] == "its process stopped before it finished"


def test_b_at_the_warehouse_alone_is_never_moved(world: BalanceWorld) -> None:
    world.hours(2)
    assert all(m["sku"] != B.sku for m in world.hub.rebalance()["moves"])


def test_passes_that_plan_what_changed_leave_nothing_a_full_pass_would_grant_or_release(world: BalanceWorld) -> None:
    # Every store's forecasts made again each pass, so a full pass reads the same forecasts.
    world.hub.cadence = replace(world.hub.cadence, refresh_every=timedelta(minutes=10))
    world.hours(2, sells={"S001": 2})
    assert world.hub.rebalance()["full"]
    for i in range(8):
        world.hours(0.5, sells={"S001": 1 + i % 3, "S002": i % 2})
        done = world.hub.rebalance()
        assert not done["full"]
        full = world.hub.rebalance(dry_run=True, full=True)
        assert [m for m in full["moves"] if m["kind"] != "transfer"] == [], (i, done["moves"])


def test_a_pass_that_fails_part_way_folds_no_sale_twice(world: BalanceWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.service import balance_moves

    world.hours(2, sells={"S001": 1})
    world.hub.rebalance()
    world.hours(1, sells={"S001": 2})
    real = balance_moves._WATCH.write

    def fail(conn, rows):  # type: ignore[no-untyped-def]
        raise RuntimeError("the disk is full")
    monkeypatch.setattr(balance_moves._WATCH, "write", fail)
    with pytest.raises(RuntimeError):
        world.hub.rebalance()
    monkeypatch.setattr(balance_moves._WATCH, "write", real)
    assert world.hub.balance_view()["last_run"]["status"] == "failed"
    world.hub.rebalance()
    assert world.rows("SELECT sum(units) FROM balance_sales WHERE store_id = 'S001'") == [(2 * 6 + 2 * 6,)]


def test_the_cli_pass_reads_the_week_from_the_hubs_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from hub import cli

    world = BalanceWorld(f"sqlite:///{tmp_path / 'hub.sqlite'}", tmp_path,
                         start=datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3))
    world.hours(3, sells={"S001": 2})  # up to now: the CLI's pass runs on the wall clock
    world.close()

    def released() -> set[str]:
        assert cli.main(["--db", f"sqlite:///{tmp_path / 'hub.sqlite'}", "rebalance", "--dry-run", "--json"]) == 0
        return {m["store_id"] for m in json.loads(capsys.readouterr().out)["moves"] if m["kind"] == "release"}

    assert released() == set()  # three hours of S002 are not a week
    monkeypatch.setenv("BACKROOM_HUB_BALANCE_MIN_HISTORY_H", "2")
    assert released() == {"S002"}
