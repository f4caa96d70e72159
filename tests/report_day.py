"""A small hand-built business day whose every total is known, made with real node files and a real Hub.

2025-03-10. Items A (5.00) and B (10.00). S001 (UTC): 10 A on the floor, 5 B at the back; S002
(America/New_York, UTC-4 that day): 8 A; S003 (UTC): 6 A. Openings arrive the day before.

S001: sells 3 A, takes 1 A back, sends 2 B to S002 (its whole B quota), writes off 1 damaged B, counts
the A floor at 5 (book 7: -2), sells its last 2 B at 16:00 past quota (sold out for 8 hours); pushes after midnight. A forged entry under its
sequence 1 makes a divergence at 12:00.
S002: sells 1 A at 03:00Z (still the 9th in New York), receives the 2 B, loses 1 A, sells 4 A of which 2 past
its quota of 4; pushes after its day closed.
S003: sells 1 A and pushes at 11:00, then sells 2 more and does not push: late, so the report is partial
until it does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hub.service import Hub
from node import runner
from node.rules import SaleLine
from node.service import Node
from sync.kinds import Kind
from tests.hubfixtures import LocalClient, ledger_entry, tiny_chain, tiny_item

DAY = "2025-03-10"
A, B = tiny_item(1, price=500), tiny_item(2, price=1000)
CHAIN = tiny_chain([A, B], [("S001", A.sku, "floor", 10), ("S001", B.sku, "back", 5), ("S002", A.sku, "floor", 8),
                            ("S003", A.sku, "floor", 6), ("W01", A.sku, "back", 20)], stores=3)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 9, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def at(self, text: str) -> Clock:
        self.now = datetime.fromisoformat(text).replace(tzinfo=UTC)
        return self


@dataclass
class Day:
    hub: Hub
    clock: Clock
    nodes: dict[str, Node]

    def push(self, store: str, when: str) -> None:
        self.clock.at(when)
        runner.push(self.nodes[store], LocalClient(self.hub, store))


def build_day(url: str, tmp: Path) -> Day:
    clock = Clock()
    hub = Hub.open(url, clock=clock)
    hub.load_chain(CHAIN, quota_share=0.5)
    hub.set_store_zone("S002", "America/New_York")
    nodes = {}
    for s in ("S001", "S002", "S003"):
        n = Node(tmp / f"{s}.sqlite", clock=clock)
        runner.initialise_from_hub(n, LocalClient(hub, s), s, hub_url="local", token="-")
        nodes[s] = n
    day = Day(hub, clock, nodes)
    for s in nodes:
        day.push(s, "2025-03-09T13:00:00")
    s1, s2, s3 = nodes["S001"], nodes["S002"], nodes["S003"]
    clock.at("2025-03-10T03:00:00"); s2.sell("s2-early", [SaleLine(A.sku, 1, 500)])
    clock.at("2025-03-10T10:00:00"); s1.sell("s1-sale", [SaleLine(A.sku, 3, 500)])
    s3.sell("s3-sale", [SaleLine(A.sku, 1, 500)])
    clock.at("2025-03-10T11:00:00"); s1.return_items("s1-return", A.sku, 1)
    day.push("S003", "2025-03-10T11:00:00")
    clock.at("2025-03-10T11:30:00"); s1.transfer_out("s1-transfer", B.sku, 2, to_location="S002", transfer_id="T1")
    clock.at("2025-03-10T12:00:00"); s1.write_off("s1-damaged", Kind.DAMAGED, B.sku, 1, bin_="back")
    forged = ledger_entry("S001", 1, A.sku, qty=99, floor_delta=99, quota_delta=99)
    try:
        hub.ingest("S001", __import__("sync.models", fromlist=["PushBatch"]).PushBatch(store_id="S001",
                                                                                      entries=[forged]))
    except Exception:  # noqa: BLE001 - the divergence is refused, and recorded for ops
        pass
    clock.at("2025-03-10T13:00:00"); s1.count("s1-count", A.sku, "floor", 5)
    clock.at("2025-03-10T16:00:00"); s1.sell("s1-last-b", [SaleLine(B.sku, 2, 1000)])
    clock.at("2025-03-10T18:00:00"); s3.sell("s3-late", [SaleLine(A.sku, 2, 500)])
    day.push("S001", "2025-03-11T01:00:00")
    clock.at("2025-03-10T19:30:00"); runner.pull(s2, LocalClient(hub, "S002"))  # learns of T1
    clock.at("2025-03-10T20:00:00"); s2.transfer_in("s2-transfer", "T1", B.sku, 2, from_location="S001")
    clock.at("2025-03-10T21:00:00"); s2.write_off("s2-lost", Kind.LOST, A.sku, 1)
    clock.at("2025-03-10T22:00:00"); s2.sell("s2-sale", [SaleLine(A.sku, 4, 500)])
    day.push("S002", "2025-03-11T05:00:00")
    clock.at("2025-03-11T06:00:00")
    return day
