"""The report's roll-forward ties out, as a property over random simulated days (seeds of a small generator):
real node files sell, return, receive, count, write off and transfer at random times over two days, push to a
real Hub; then for every store and day the roll-forward closes on the sum of the hub's copy of its ledger up to
the day's end, SKU by SKU, and after the last day on the hub's positions."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from hub.report.days import day_bounds
from hub.service import Hub
from node import runner
from node.errors import StoreError
from node.rules import SaleLine
from node.service import Node
from sync.kinds import Kind
from tests.hubfixtures import LocalClient, tiny_chain, tiny_item

ITEMS = [tiny_item(n, price=100 * n) for n in range(1, 6)]
STORES = ("S001", "S002")
CHAIN = tiny_chain(ITEMS, [(s, it.sku, b, 6) for s in STORES for it in ITEMS for b in ("floor", "back")], stores=2)
DAYS = (date(2025, 5, 1), date(2025, 5, 2))


def simulate(seed: int, tmp: Path) -> Hub:
    rng = random.Random(seed)
    now = [datetime(2025, 4, 30, 12, tzinfo=UTC)]
    hub = Hub.open(f"sqlite:///{tmp}/hub.sqlite", clock=lambda: now[0])
    hub.load_chain(CHAIN, quota_share=rng.choice((0.3, 0.7, 1.0)))
    hub.set_store_zone("S002", rng.choice(("Asia/Tokyo", "America/Los_Angeles", "UTC")))
    nodes = {}
    for s in STORES:
        nodes[s] = Node(tmp / f"{s}.sqlite", clock=lambda: now[0])
        runner.initialise_from_hub(nodes[s], LocalClient(hub, s), s, hub_url="local", token="-")
    end = datetime(2025, 5, 3, 12, tzinfo=UTC)
    n = 0
    while now[0] < end:
        now[0] += timedelta(minutes=rng.randint(5, 90))
        s = rng.choice(STORES)
        node, sku, q = nodes[s], rng.choice(ITEMS).sku, rng.randint(1, 3)
        n += 1
        op = f"{s}-{n}"
        try:
            match rng.choice(("sale", "sale", "sale", "return", "receive", "count", "write_off", "transfer", "sync")):
                case "sale":
                    node.sell(op, [SaleLine(sku, q, 100)], confirm_found=True)
                case "return":
                    node.return_items(op, sku, q, resellable=rng.random() < 0.8)
                case "receive":
                    node.receive(op, sku, q * 3)
                case "count":
                    node.count(op, sku, rng.choice(("floor", "back")), rng.randint(0, 8), confirm_found=True)
                case "write_off":
                    node.write_off(op, rng.choice((Kind.DAMAGED, Kind.EXPIRED, Kind.LOST)), sku, 1,
                                   bin_=rng.choice(("floor", "back")))
                case "transfer":
                    node.transfer_out(op, sku, 1, to_location=[x for x in STORES if x != s][0])
                case "sync":
                    runner.push(node, LocalClient(hub, s))
        except StoreError:
            pass  # a refusal (past quota, not on hand): nothing written
    for s in STORES:
        runner.push(nodes[s], LocalClient(hub, s))
        nodes[s].close()
    return hub


@pytest.mark.parametrize("seed", range(6))
def test_roll_forward_ties_to_the_ledger_and_positions(seed: int, tmp_path: Path) -> None:
    hub = simulate(seed, tmp_path)
    with hub.engine.connect() as conn:
        entries = conn.execute(text("SELECT store_id, sku, on_hand_delta, at FROM store_entries")).all()
        zones = dict(conn.execute(text("SELECT id, tz FROM locations")).all())
        positions = {(r[0], r[1]): r[2] for r in conn.execute(text("SELECT location, sku, on_hand FROM positions"))}
    for d in DAYS:
        hub.make_report(d, "S001")
        hub.make_report(d, "S002")
        for s in STORES:
            r, _ = hub.report(d.isoformat(), s)
            _, hi = day_bounds(d, zones[s])
            want = {}
            for e in entries:
                if e.store_id == s and e.at < hi:
                    want[e.sku] = want.get(e.sku, 0) + e.on_hand_delta
            got = {x.sku: x.closing for x in r.roll_forward_skus}
            assert got == want
            row = r.roll_forward[0]
            assert row.ties and row.closing == sum(want.values())
            for x in r.roll_forward_skus:  # every row reads opening + movements = closing
                assert x.opening + x.received + x.transfers_in + x.transfers_out + x.sold + x.returned + x.counts \
                    + x.written_off + x.handed_over + x.other == x.closing
    # The day after the last: every entry is before its end, so each store's closing book is the hub's on hand.
    after = date(2025, 5, 4)
    for s in STORES:
        hub.make_report(after, s)
        r, _ = hub.report(after.isoformat(), s)
        assert {x.sku: x.closing for x in r.roll_forward_skus} == {
            sku: v for (loc, sku), v in positions.items() if loc == s}
    hub.close()
