"""Setting the bench up: the hubs loaded with the chain, and the entries real nodes make and push to them."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from fixtures.chain import Chain
from hub.service import Hub
from ingest import BACKLOG_STORE, INGEST_STORE
from node.rules import SaleLine
from node.runner import initialise_from_hub
from node.service import Node
from sync.client import HubClient
from sync.models import LedgerEntry, PushBatch


def load_hub(url: str, chain: Chain) -> dict[str, str]:
    hub = Hub.open(url)
    try:
        hub.load_chain(chain)
        return {"S001": hub.issue_token("store", INGEST_STORE), "S002": hub.issue_token("store", BACKLOG_STORE),
                "web": hub.issue_token("web")}
    finally:
        hub.close()


class InProcessOpening:
    """Stands in for HubClient in `initialise_from_hub`, which only asks for the store's opening.

    It reads the opening from the hub's database in-process, so the entries can be made while the
    uvicorn servers are still starting (the opening is the same one `GET /stores/{id}/opening` returns).
    """

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def opening(self, store_id: str) -> Any:
        return self.hub.opening(store_id)


def make_node(path: Path, hub: Hub, hub_url: str, token: str, store: str) -> Node:
    node = Node(path, terminal="T1", clerk="bench")
    initialise_from_hub(node, InProcessOpening(hub), store, hub_url=hub_url, token=token)  # type: ignore[arg-type]
    return node


def push_entries(url: str, token: str, store: str, entries: list[LedgerEntry]) -> None:
    with HubClient(url, token, timeout=120, retries=0) as client:
        for i in range(0, len(entries), 1000):
            client.push(PushBatch(store_id=store, entries=entries[i:i + 1000]))


def sell_scattered(node: Node, n: int, prices: dict[str, int], rng: random.Random, tag: str) -> None:
    """n one-unit sales of SKUs drawn uniformly from those with quota left, never past quota."""
    left = {sku: q for sku, q in node.conn.execute("SELECT sku, quota FROM stock") if q > 0}
    pool = list(left)
    node.conn.execute("PRAGMA synchronous=OFF")  # making fixtures, not measuring them
    try:
        for i in range(n):
            if not pool:
                raise SystemExit(f"Store {node.store_id} has quota for only {i} sales; use more --skus.")
            k = rng.randrange(len(pool))
            sku = pool[k]
            node.sell(f"{tag}-{i:07d}", [SaleLine(sku, 1, prices[sku])])
            left[sku] -= 1
            if not left[sku]:
                pool[k] = pool[-1]
                pool.pop()
    finally:
        node.conn.execute("PRAGMA synchronous=FULL")


def read_entries(node: Node) -> list[LedgerEntry]:
    out: list[LedgerEntry] = []
    while True:
        rows = node.ledger(after=out[-1].seq if out else 0, limit=5000)
        if not rows:
            return out
        out += [LedgerEntry(**r) for r in rows]


def hub_positions(url: str) -> list[tuple]:
    hub = Hub.open(url)
    try:
        with hub.engine.connect() as c:
            return [tuple(r) for r in c.exec_driver_sql(
                "SELECT location, sku, on_hand, quota, hub_share, reserved, safety_buffer FROM positions")]
    finally:
        hub.close()
