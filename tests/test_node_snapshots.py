"""End-of-day snapshots on the node: consistent with the ledger at their sequence, one per date, kept until
the hub has them, sent in parts, and taken by the runner's schedule at the store's closing time."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from node.errors import BadInput, BadText
from node.rules import SaleLine
from node.rules import closing
from node.service import Node
from node.snapshots import close_if_due, send_snapshots
from sync.client import Offline, Refused
from sync.models import DaySnapshot, Refusal, SnapshotReceipt
from tests.conftest import STORE_ID, ManualClock


def ledger_balances(node: Node, upto: int) -> dict[str, tuple[int, int, int]]:
    """Each SKU's (on hand, quota, held) after the last entry up to `upto`, read from the ledger alone."""
    out = {}
    for r in node.conn.execute("SELECT sku, on_hand_after, quota_after, held_after FROM ledger WHERE seq <= ? "
                               "ORDER BY seq", (upto,)):
        out[r[0]] = (r[1], r[2], r[3])
    return out


def snapshot_figures(rows: list[tuple[str, int, int, int, int]]) -> dict[str, tuple[int, int, int]]:
    return {sku: (floor + back, quota, held) for sku, floor, back, quota, held, *_turned_away in rows}


def busy_day(node: Node) -> None:
    node.sell("s1", [SaleLine("SKU-MILK", 2, 129)])
    node.hold("h1", "SKU-SOAP", 2)
    node.receive("r1", "SKU-GLUE", 5)
    node.move("m1", "SKU-MILK", 3, from_bin="back", to_bin="floor")
    node.sell("s2", [SaleLine("SKU-TAPE", 1, 499)])  # past quota (all of it the hub's): in hand


def test_a_snapshot_is_the_ledger_at_its_sequence(make_node) -> None:
    node = make_node()
    busy_day(node)
    snap = node.close_day()
    assert snap["new"] and snap["last_seq"] == node.last_seq() and snap["business_date"] == "2025-03-10"
    assert snap["signed_by"] == {"terminal": "T1", "clerk": "clerk"} and snap["tz"] == "UTC"
    rows = node.snapshot_rows("2025-03-10")
    assert snap["rows"] == len(rows) == 4  # every SKU the store stocks, the untouched ones too
    figures = snapshot_figures(rows)
    assert {k: v for k, v in figures.items() if v != (0, 0, 0)} == ledger_balances(node, snap["last_seq"])
    assert figures["SKU-SOAP"][2] == 2 and figures["SKU-GLUE"] == (5, 5, 0)
    assert dict((r[0], (r[1], r[2])) for r in rows)["SKU-MILK"] == (6 - 2 + 3, 4 - 3)  # by bin

    node.sell("s3", [SaleLine("SKU-MILK", 1, 129)])  # after the snapshot: it stays as it was
    assert node.snapshot_rows("2025-03-10") == rows


def test_one_snapshot_per_date(make_node, tmp_path: Path) -> None:
    node = make_node()
    first = node.close_day()
    node.sell("s1", [SaleLine("SKU-MILK", 1, 129)])
    other = Node(node.path, terminal="T2", clerk="bob", clock=node.clock)
    again = other.close_day("2025-03-10")
    other.close()
    assert not again["new"] and {k: again[k] for k in ("last_seq", "taken_at", "signed_by", "rows")} == {
        k: first[k] for k in ("last_seq", "taken_at", "signed_by", "rows")}
    assert node.conn.execute("SELECT count(*) FROM day_snapshots").fetchone()[0] == 1
    node.clock.advance(days=1)
    assert node.close_day()["business_date"] == "2025-03-11"


def test_the_business_date_is_the_stores_local_day(make_node) -> None:
    node = make_node(clock=ManualClock(datetime(2025, 3, 10, 23, 30, tzinfo=UTC)))
    node.set_meta(tz="Europe/Paris")  # 00:30 on the 11th there
    assert node.close_day()["business_date"] == "2025-03-11"


def test_a_date_is_refused_when_the_snapshot_could_not_be_its_close(make_node) -> None:
    node = make_node()
    count = node.conn.execute("SELECT count(*) FROM day_snapshots").fetchone
    with pytest.raises(BadInput, match="has not begun"):
        node.close_day("2025-03-11")
    with pytest.raises(BadInput, match="written after 2025-03-09 ended"):
        node.close_day("2025-03-09")  # the opening entries were written on the 10th
    with pytest.raises(BadInput, match="YYYY-MM-DD"):
        node.close_day("10/03/2025")
    assert count()[0] == 0
    node.clock.advance(days=2)  # nothing written on the 11th or since: its close is the book as it stands
    assert node.close_day("2025-03-11")["new"]


def test_snapshots_taken_while_terminals_sell_match_the_ledger(make_node, tmp_path: Path) -> None:
    """A terminal in another connection sells all the while; each snapshot is the ledger at its own sequence."""
    node = make_node(stock=[("SKU-SOAP", "floor", 5000, 5000)])
    stop = threading.Event()
    failed: list[BaseException] = []

    def sell() -> None:
        till = Node(node.path, terminal="T2", clerk="sam")
        try:
            i = 0
            while not stop.is_set():
                till.sell(f"t2-{i}", [SaleLine("SKU-SOAP", 1, 350)])
                i += 1
        except BaseException as err:  # noqa: BLE001 - reported below
            failed.append(err)
        finally:
            till.close()

    seller = threading.Thread(target=sell)
    seller.start()
    try:
        days = []
        for _ in range(8):
            days.append(node.close_day())
            node.clock.advance(days=1)
            while node.last_seq() < days[-1]["last_seq"] + 3 and not failed:
                pass  # let a few sales in before the next
    finally:
        stop.set()
        seller.join()
    assert not failed
    assert len({d["last_seq"] for d in days}) == 8
    for d in days:
        figures = snapshot_figures(node.snapshot_rows(d["business_date"]))
        assert figures["SKU-SOAP"] == ledger_balances(node, d["last_seq"])["SKU-SOAP"], d


class FakeHub:
    """A client that takes parts (or refuses, or is out of reach) and keeps what it was sent."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.parts: list[DaySnapshot] = []
        self.fail = fail

    def put_snapshot(self, part: DaySnapshot) -> SnapshotReceipt:
        if self.fail:
            raise self.fail
        self.parts.append(part)
        return SnapshotReceipt(store_id=part.store_id, business_date=part.business_date, parts_in=part.part,
                               parts=part.parts, status="compared" if part.part == part.parts else "incomplete",
                               differences=0 if part.part == part.parts else None)


def test_sent_in_parts_and_kept_until_the_hub_has_it(make_node, monkeypatch: pytest.MonkeyPatch) -> None:
    import sync.models

    monkeypatch.setattr(sync.models, "SNAPSHOT_PART_ROWS", 2)
    node = make_node()
    snap = node.close_day()
    with pytest.raises(Offline):
        send_snapshots(node, FakeHub(Offline("down")))
    assert node.snapshots_to_send()[0]["business_date"] == snap["business_date"]  # still to send

    hub = FakeHub()
    assert send_snapshots(node, hub) == 1
    assert [(p.part, p.parts, len(p.rows)) for p in hub.parts] == [(1, 2, 2), (2, 2, 1)]
    assert [r for p in hub.parts for r in p.rows] == sorted(r for p in hub.parts for r in p.rows)
    assert {p.last_seq for p in hub.parts} == {snap["last_seq"]} and hub.parts[0].store_id == STORE_ID
    assert node.snapshots_to_send() == [] and node.snapshot_rows(snap["business_date"]) == []  # the hub has them
    assert node.snapshots()[0]["status"] == "sent" and node.snapshots()[0]["answer"]["status"] == "compared"
    assert send_snapshots(node, hub) == 0 and len(hub.parts) == 2


def test_a_refused_snapshot_is_kept_and_said_and_sync_goes_on(make_node) -> None:
    node = make_node()
    node.close_day()
    refusal = Refused(409, Refusal(code="conflict", message="a different snapshot is held for that date"))
    assert send_snapshots(node, FakeHub(refusal)) == 0
    assert node.snapshots()[0]["status"] == "refused" and node.snapshot_rows("2025-03-10")
    assert "different snapshot" in node.problems(limit=1)[0]["message"]
    assert send_snapshots(node, FakeHub()) == 0  # not sent again


def test_a_snapshot_edited_out_of_bounds_is_refused_before_sending(make_node) -> None:
    node = make_node()
    node.close_day()
    with sqlite3.connect(node.path) as raw:
        raw.execute("UPDATE day_snapshot_rows SET floor = -3 WHERE sku = 'SKU-MILK'")
    hub = FakeHub()
    assert send_snapshots(node, hub) == 0 and hub.parts == []
    assert "cannot be sent" in node.snapshots()[0]["answer"]["error"]


def test_the_runner_takes_it_at_the_stores_closing_time(make_node) -> None:
    node = make_node(clock=ManualClock(datetime(2025, 3, 10, 20, 30, tzinfo=UTC)))
    assert close_if_due(node) is None  # no closing time set: off
    node.set_meta(close_at="22:00", tz="Europe/Paris")  # 21:30 there
    assert close_if_due(node) is None
    node.clock.advance(minutes=30)
    taken = close_if_due(node)
    assert taken and taken["business_date"] == "2025-03-10" and taken["signed_by"]["clerk"] == "clerk"
    assert close_if_due(node) is None  # once a day
    node.clock.advance(hours=2)  # 00:30 on the 11th: not yet its close
    assert close_if_due(node) is None
    node.set_meta(close_at="25:99")
    assert close_if_due(node) is None  # a bad setting is logged, not raised


def test_closing_rules() -> None:
    assert closing.close_time("07:05").hour == 7 and closing.close_time("off") is None
    for bad in ("7:05", "24:00", "ab:cd", "22-00"):
        with pytest.raises(BadText):
            closing.close_time(bad)
    with pytest.raises(BadText):
        closing.zone("Nowhere/Town")
    now = datetime(2025, 3, 30, 22, 0, tzinfo=UTC)  # the clocks went forward in Paris that day
    assert closing.business_date(now, "Europe/Paris") == date(2025, 3, 31)
    assert closing.day_end(date(2025, 3, 30), "Europe/Paris") - closing.day_end(date(2025, 3, 29), "Europe/Paris") \
        == timedelta(hours=23)
    assert closing.close_due(now, "UTC", closing.close_time("22:00"), taken=False) == date(2025, 3, 30)
    assert closing.close_due(now, "UTC", closing.close_time("22:00"), taken=True) is None
