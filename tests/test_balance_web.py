"""The web shop's demand in the hub's balancer passes (hub/service/balance_web.py, balance_pass.py).

A real hub service and a real node file on one clock, as in tests/balance_world.py,
but a chain of one store and the warehouse: S001 holds 48 of A, half of it as quota,
and sells one an hour; the web shop orders A from the warehouse's 96 through the
hub's own reservations, two every half hour. After a day the store has sold its
quota (its 24 units are all hub share) and the warehouse's units are all ordered: A
is scarce, and the web's share of it must stay central.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from math import ceil
from pathlib import Path

import pytest

from hub.rules import BalanceSettings
from hub.rules.forecasts import WEB
from hub.service import Hub
from hub.service import balance_pass
from node import runner
from node.rules import SaleLine
from node.service import Node
from tests.hubfixtures import LocalClient, tiny_chain, tiny_item

A = tiny_item(1)
T0 = datetime(2025, 3, 10, 8, tzinfo=UTC)  # a Monday morning
STEP = timedelta(minutes=30)


class WebWorld:
    def __init__(self, tmp: Path, *, web: int) -> None:
        self.now, self.web, self.n = T0, web, 0
        self.hub = Hub.open(f"sqlite:///{tmp / 'hub.sqlite'}", clock=lambda: self.now)
        self.hub.load_chain(tiny_chain([A], [("S001", A.sku, "floor", 48), ("W01", A.sku, "back", 96)], stores=1),
                            quota_share=0.5)
        self.node = Node(tmp / "S001.sqlite", terminal="T1", clerk="c1", clock=lambda: self.now)
        self.client = LocalClient(self.hub, "S001")
        runner.initialise_from_hub(self.node, self.client, "S001", hub_url="local", token="local")
        runner.sync_once(self.node, self.client)

    def steps(self, n: int, *, sells: bool = True) -> None:
        """Half hours: the store sells one of A every other one, the web orders `web` of A each, the store syncs."""
        for _ in range(n):
            self.now += STEP
            self.n += 1
            if sells and self.n % 2 == 0:
                self.node.sell(f"sale-{self.n}", [SaleLine(A.sku, 1, 500)])
            if self.web:
                self.order(f"order-{self.n}", self.web)
            runner.sync_once(self.node, self.client)

    def order(self, key: str, qty: int) -> str:
        rid = self.hub.reserve(key, A.sku, qty, location="W01")["reservation_id"]
        self.hub.commit(rid)
        return rid

    def rows(self, sql: str, *params: object) -> list[tuple]:
        with self.hub.reads.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(sql, params).all()]

    def demand(self, where: str) -> float:
        got = self.rows("SELECT demand FROM balance_demand WHERE store_id = ? AND sku = ?", where, A.sku)
        return got[0][0] if got else 0.0

    def position(self, where: str) -> dict:
        return next(p for p in self.hub.stock(A.sku)["locations"] if p["location"] == where)


@pytest.fixture
def make(tmp_path: Path) -> Iterator:
    made: list[WebWorld] = []

    def world(web: int) -> WebWorld:
        w = WebWorld(tmp_path / f"web{web}", web=web)
        made.append(w)
        return w
    (tmp_path / "web0").mkdir()
    (tmp_path / "web2").mkdir()
    yield world
    for w in made:
        w.node.close()
        w.hub.close()


def grant_to_s001(done: dict) -> int:
    return sum(m["qty"] for m in done["moves"] if m["kind"] == "grant" and m["store_id"] == "S001")


def test_a_scarce_sku_the_web_sells_is_shared_by_rate_and_without_web_sales_the_store_gets_its_target(make) -> None:
    w = make(2)
    w.steps(48)
    s001 = w.position("S001")
    assert (w.node.balance(A.sku).quota, s001["hub_share"]) == (0, 24)  # every unit the store holds is hub share
    assert w.position("W01")["hub_share"] == 0  # the warehouse's units all went to web orders
    done = w.hub.rebalance()
    store, web = w.demand("S001"), w.demand(WEB)
    assert 7 < store < 10 and 25 < web < 40  # an hour's 1 and 4 over the 8 h 15 min window
    assert 24 - ceil(store) < web  # the units past the store's demand cannot cover the web's: scarce
    share = round(24 / (store + web) * store)  # every claimant the same fraction of its demand
    assert grant_to_s001(done) == share < ceil(store)
    assert w.position("S001")["hub_share"] == 24 - share  # the web's share stays central
    w.web = 0
    w.steps(1, sells=False)  # the store's pull applies the grant and tops up nothing more
    assert (w.node.balance(A.sku).quota, w.position("S001")["hub_share"]) == (share, 24 - share)

    alone = make(0)
    alone.steps(48)
    assert alone.demand(WEB) == 0.0
    assert ceil(alone.demand("S001")) <= grant_to_s001(alone.hub.rebalance())


def test_every_plan_that_sees_all_of_a_skus_locations_is_given_the_web_demand(make, monkeypatch) -> None:
    w = make(2)
    w.steps(48)
    calls: list[tuple[set[str], dict | None]] = []
    real = balance_pass.plan

    def spy(rows, settings, *, web_demand=None, tight=None):  # type: ignore[no-untyped-def]
        rows = list(rows)
        calls.append(({r[0] for r in rows}, web_demand))
        return real(rows, settings, web_demand=web_demand, tight=tight)
    monkeypatch.setattr(balance_pass, "plan", spy)
    w.hub.rebalance()  # the first pass is a full one
    assert calls and all(where == {"S001", "W01"} for where, _ in calls)
    assert all(web == {A.sku: pytest.approx(w.demand(WEB))} for _, web in calls)
    # The store sells past its share (the rest from its hub share): a pass of what changed would grant
    # from that spot alone, and plans the SKU wide instead (the web sells it).
    w.web = 0  # the warehouse has no more
    w.steps(1, sells=False)
    w.node.sell("more", [SaleLine(A.sku, w.node.balance(A.sku).quota + 1, 500)])
    w.steps(1, sells=False)
    calls.clear()
    done = w.hub.rebalance()
    assert not done["full"]
    assert any(where == {"S001", "W01"} for where, _ in calls)
    for where, web in calls:
        if where == {"S001", "W01"}:
            assert web == {A.sku: pytest.approx(w.demand(WEB))}
        else:  # the changed spots alone (with a stand-in source): no web demand, so each store's own
            assert "W01" not in where and web is None


def test_web_orders_are_folded_once_each_when_their_hour_has_settled(make) -> None:
    w = make(2)
    w.steps(6)  # 08:30 to 11:00: twelve units ordered
    w.hub.cancel(w.order("cancelled", 5))  # a cancelled order gave its units back: no sale
    w.hub.reserve("cart", A.sku, 7, location="W01")  # a cart still held: no sale yet
    w.hub.rebalance()
    # At 11:00 the hours up to 10:00 have settled: the orders of 08:30, 09:00 and 09:30.
    assert w.rows("SELECT hour, units FROM balance_sales WHERE store_id = ? ORDER BY hour", WEB) == [
        ("2025-03-10T08:00:00.000000+00:00", 2), ("2025-03-10T09:00:00.000000+00:00", 4)]
    w.now += timedelta(minutes=20)
    w.hub.rebalance()  # no hour settled since: nothing read again
    w.now += timedelta(minutes=40)
    w.hub.rebalance()  # 12:00: the hour from 10:00 has settled, the cancelled order's hour among them
    assert w.rows("SELECT sum(units) FROM balance_sales WHERE store_id = ?", WEB) == [(2 + 4 + 4,)]


def test_a_plan_of_changed_spots_leaves_a_sku_the_last_wide_plan_found_tight_unwatched(make, monkeypatch) -> None:
    """A pull tops up a watched spot from that spot alone: where the web is short it would take the web's
    share, so only a plan that sees the web may watch it, and a plan of changed spots keeps its word."""
    w = make(2)
    w.steps(48)
    w.hub.balance_settings = BalanceSettings(hysteresis=0.6)  # a grant waits until quota is under 40% of target
    first = w.hub.rebalance()  # a full pass: A is scarce, S001 is granted its share
    share = grant_to_s001(first)
    assert share > 0 and w.rows("SELECT sku FROM balance_tight") == [(A.sku,)]
    assert w.rows("SELECT * FROM balance_watch") == []
    w.web = 0
    w.steps(1, sells=False)
    w.node.sell("one more", [SaleLine(A.sku, 1, 500)])  # quota share - 1: not yet low enough for a grant
    w.steps(1, sells=False)
    planned: list[set[str]] = []
    real = balance_pass.plan

    def spy(rows, settings, *, web_demand=None, tight=None):  # type: ignore[no-untyped-def]
        rows = list(rows)
        planned.append({r[0] for r in rows})
        return real(rows, settings, web_demand=web_demand, tight=tight)
    monkeypatch.setattr(balance_pass, "plan", spy)
    done = w.hub.rebalance()
    assert not done["full"] and all("W01" not in where for where in planned)  # S001's spot alone, no web
    assert {"S001"} in [where - {balance_pass.STAND_IN} for where in planned]
    assert w.rows("SELECT * FROM balance_watch") == []
    assert grant_to_s001(done) == 0 and w.position("S001")["hub_share"] == 24 - share
