"""A small chain for the balancer's tests: the real hub service and real node files on one clock.

    w = BalanceWorld(url, tmp_path)
    w.hours(3, sells={"S001": 2})     # every 10 minutes S001 sells 2 of A; every store syncs
    w.hub.rebalance()

Its hub asks a store for quota back once it has heard from it for two hours
(`Cadence.min_history`, a week in production). Stores S001 and S002 each
hold 40 of SKU A on the floor, half of it as quota; the warehouse W01 holds 60 of A and 20 of B. Stores sync through
`tests.hubfixtures.LocalClient` (the runner's own push and pull, in process),
so the hub hears from them as it would over HTTP.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hub.service import Hub
from node import runner
from node.rules import SaleLine
from node.service import Node
from tests.hubfixtures import LocalClient, tiny_chain, tiny_item

A, B = tiny_item(1), tiny_item(2)
STORES = ("S001", "S002")
CHAIN = tiny_chain([A, B], [("S001", A.sku, "floor", 40), ("S002", A.sku, "floor", 40),
                            ("W01", A.sku, "back", 60), ("W01", B.sku, "back", 20)], stores=2)
T0 = datetime(2025, 3, 10, 8, tzinfo=UTC)
STEP = timedelta(minutes=10)


class BalanceWorld:
    def __init__(self, url: str, tmp: Path, start: datetime = T0) -> None:
        self.now = start
        self.hub = Hub.open(url, clock=lambda: self.now)
        # The world plays hours, not weeks: its stores may be asked for quota back after two of them.
        self.hub.cadence = replace(self.hub.cadence, min_history=timedelta(hours=2))
        self.hub.load_chain(CHAIN, quota_share=0.5)
        self.nodes: dict[str, Node] = {}
        self.clients: dict[str, LocalClient] = {}
        self._sale = 0
        for s in STORES:
            n = self.nodes[s] = Node(tmp / f"{s}.sqlite", terminal="T1", clerk="c1", clock=lambda: self.now)
            c = self.clients[s] = LocalClient(self.hub, s)
            runner.initialise_from_hub(n, c, s, hub_url="local", token="local")
            runner.sync_once(n, c)

    def close(self) -> None:
        for n in self.nodes.values():
            n.close()
        self.hub.close()

    def sell(self, store: str, qty: int, sku: str = A.sku) -> None:
        self._sale += 1
        self.nodes[store].sell(f"sale-{self._sale}", [SaleLine(sku, qty, 500)])

    def sync(self, store: str) -> dict:
        return runner.sync_once(self.nodes[store], self.clients[store])

    def hours(self, hours: float, sells: dict[str, int] | None = None) -> None:
        """Let time pass in 10-minute steps: each step the stores in `sells` sell that many of A, all sync."""
        for _ in range(round(hours * 6)):
            self.now += STEP
            for store, qty in (sells or {}).items():
                if qty:
                    self.sell(store, qty)
            for s in STORES:
                self.sync(s)

    def position(self, store: str, sku: str = A.sku) -> dict:
        return next(p for p in self.hub.stock(sku)["locations"] if p["location"] == store)

    def rows(self, sql: str, *params: Any) -> list[tuple]:
        with self.hub.reads.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(
                sql if conn.dialect.paramstyle == "qmark" else sql.replace("?", "%s"), params).all()]

    def quota(self, store: str, sku: str = A.sku) -> int:
        return self.nodes[store].balance(sku).quota
