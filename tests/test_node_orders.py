"""Web orders at a store: kept as pulls list them, handed over once out of the hub's share, refused with a
sentence and no trace when that cannot be; the CLI's `orders` and `hand-over`, the terminal's list.

The small store (tests/conftest.py): SKU-MILK floor 6, back 4, quota 6 (4 are the hub's); SKU-TAPE floor 2,
quota 0 (both the hub's); SKU-GLUE nothing on hand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Label

from node.errors import AlreadyApplied, OrderWithdrawn, QuotaExceeded, StoreError, UnknownOrder
from node.rules import SaleLine
from node.service import Node
from sync.models import MAX_ORDERS, LedgerEntry, OrderToHandOver, PullResponse
from tests.test_node_bad_input import snapshot
from tests.test_tui import make_app, run, store, templates, wait_for  # noqa: F401 - store, templates: fixtures
from tui.screens.dialogs import Confirm
from tui.screens.orders import HandOverScreen

ROOT = Path(__file__).resolve().parents[1]


def listed(*orders: tuple[str, str, int, str]) -> PullResponse:
    return PullResponse(cursor=1, orders_to_hand_over=[OrderToHandOver(order_id=o, sku=s, qty=q, how=h)
                                                       for o, s, q, h in orders])


@contextmanager
def refused(node: Node, error: type[StoreError], match: str) -> Iterator[None]:
    before = {**snapshot(node), "web_orders": node.conn.execute("SELECT * FROM web_orders").fetchall()}
    with pytest.raises(error, match=match) as info:
        yield
    message = str(info.value)
    assert "\n" not in message and message[0].isupper() and message.endswith(".")
    after = {**snapshot(node), "web_orders": node.conn.execute("SELECT * FROM web_orders").fetchall()}
    assert [tuple(r) for r in after.pop("web_orders")] == [tuple(r) for r in before.pop("web_orders")]
    assert after == before


@pytest.fixture
def node(make_node: Callable[..., Node]) -> Node:
    return make_node()


def test_a_pulled_order_is_handed_over_out_of_the_hub_share_once(node: Node) -> None:
    node.record_pull(listed(("W-1", "SKU-MILK", 3, "pickup")))
    assert [(o["order_id"], o["qty"], o["how"], o["name"]) for o in node.orders_to_hand_over()] == [
        ("W-1", 3, "pickup", "Whole milk 1 l")]
    first = node.hand_over("op-1", "W-1")
    b = node.balance("SKU-MILK")
    assert (b.bins["back"], b.bins["floor"], b.quota, b.held) == (1, 6, 6, 0)  # from the back; quota untouched
    [e] = node.ledger(after=node.last_seq() - 1)
    assert (e["kind"], e["ref"], e["qty"], e["quota_delta"], e["back_delta"], e["detail"]) == (
        "order_handed_over", "W-1", 3, 0, -3, {"how": "pickup"})
    assert node.hand_over("op-1", "W-1") == first  # a retry under the same id answers the same
    with refused(node, AlreadyApplied, "handed over here already"):
        node.hand_over("op-2", "W-1")
    assert node.orders_to_hand_over() == []
    node.record_pull(listed(("W-1", "SKU-MILK", 3, "pickup")))  # a hub that has not had the entry yet
    assert node.orders_to_hand_over() == []
    with refused(node, AlreadyApplied, "handed over here already"):
        node.hand_over("op-3", "W-1")


def test_what_cannot_be_handed_over_is_refused_with_a_sentence_and_no_trace(node: Node) -> None:
    with refused(node, UnknownOrder, "not one the hub has asked this store to hand over"):
        node.hand_over("op-1", "W-nope")
    node.record_pull(listed(("W-1", "SKU-MILK", 5, "ship"), ("W-2", "SKU-TAPE", 1, "pickup")))
    with refused(node, QuotaExceeded, "needs 5 of SKU-MILK from the hub's share here, and the book shows only 4"):
        node.hand_over("op-2", "W-1")
    node.record_pull(listed(("W-2", "SKU-TAPE", 1, "pickup")))  # W-1 was cancelled or moved: withdrawn
    with refused(node, OrderWithdrawn, "cancelled or moved"):
        node.hand_over("op-3", "W-1")
    with refused(node, StoreError, "An order id"):
        node.hand_over("op-4", "x" * 500)


def test_units_sold_over_quota_leave_an_order_for_ops_to_resource(node: Node) -> None:
    node.record_pull(listed(("W-1", "SKU-TAPE", 2, "pickup")))
    node.sell("sale-1", [SaleLine("SKU-TAPE", 1, 100)])  # over quota: the hub's unit
    with refused(node, QuotaExceeded, "Ask ops to re-source the order"):
        node.hand_over("op-1", "W-1")


def test_a_pull_keeps_the_hub_list_whole(node: Node) -> None:
    node.record_pull(listed(("W-1", "SKU-MILK", 1, "pickup"), ("W-2", "SKU-MILK", 1, "ship")))
    node.hand_over("op-1", "W-1")
    node.record_pull(listed(("W-3", "SKU-TAPE", 1, "ship")))
    rows = dict(node.conn.execute("SELECT order_id, status FROM web_orders").fetchall())
    assert rows == {"W-1": "handed_over", "W-2": "withdrawn", "W-3": "to_hand_over"}
    node.record_pull(listed(("W-2", "SKU-MILK", 1, "pickup"), ("W-3", "SKU-TAPE", 1, "pickup")))  # moved back
    assert sorted((o["order_id"], o["how"]) for o in node.orders_to_hand_over()) == [("W-2", "pickup"),
                                                                                      ("W-3", "pickup")]
    # a full page is not the whole list: nothing is withdrawn from it
    full = listed(*((f"X-{i}", "SKU-MILK", 1, "ship") for i in range(MAX_ORDERS)))
    node.record_pull(full)
    assert len(node.orders_to_hand_over()) == MAX_ORDERS + 2


def test_a_file_restored_from_a_backup_knows_the_orders_its_recovered_tail_handed_over(node: Node,
                                                                                        tmp_path: Path) -> None:
    node.record_pull(listed(("W-1", "SKU-MILK", 2, "ship")))
    node.backup(tmp_path / "last-night.sqlite")
    kept = node.last_seq()
    node.hand_over("op-1", "W-1")
    lost = [LedgerEntry(**e) for e in node.ledger(after=kept)]  # the hub's copy of what the backup lacks
    old = Node(tmp_path / "last-night.sqlite", clock=node.clock)
    assert [o["order_id"] for o in old.orders_to_hand_over()] == ["W-1"]
    assert old.restore_tail(lost) == 1
    assert old.orders_to_hand_over() == []
    with refused(old, AlreadyApplied, "handed over here already"):
        old.hand_over("op-2", "W-1")
    old.close()


def node_cli(db: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "node.cli", *args, "--db", str(db)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "BACKROOM_CLERK": "ann"})


def test_the_cli_lists_and_hands_over(node: Node) -> None:
    node.record_pull(listed(("W-1", "SKU-MILK", 2, "pickup")))
    p = node_cli(node.path, "orders")
    assert p.returncode == 0 and "W-1" in p.stdout and "picked up here" in p.stdout, p.stderr
    p = node_cli(node.path, "hand-over", "W-1", "--op-id", "cli-1", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["entries"][0]["kind"] == "order_handed_over"
    again = node_cli(node.path, "hand-over", "W-1", "--op-id", "cli-1", "--json")  # a retry: the first answer
    assert again.returncode == 0 and json.loads(again.stdout) == json.loads(p.stdout)
    p = node_cli(node.path, "hand-over", "W-1")
    assert p.returncode == 2 and p.stderr.strip() == "Order W-1 was handed over here already.", p.stderr
    p = node_cli(node.path, "hand-over", "W-9")
    assert p.returncode == 2 and "not one the hub has asked" in p.stderr
    assert "No web orders to hand over" in node_cli(node.path, "orders").stdout


def test_the_terminal_lists_the_orders_and_hands_one_over(store: Path, tmp_path: Path) -> None:  # noqa: F811
    n = Node(store)
    sku = n.conn.execute("SELECT sku FROM stock WHERE floor + back - quota - held >= 1 ORDER BY sku LIMIT 1").fetchone()[0]
    n.record_pull(listed(("W-TUI-1", sku, 1, "pickup")))
    before = n.last_seq()
    n.close()
    app = make_app(store, tmp_path)

    async def scenario(pilot: Pilot) -> None:
        await pilot.press("f4", "h")
        await wait_for(pilot, lambda: isinstance(app.screen, HandOverScreen), "the orders screen")
        table = app.screen.query_one("#orders", DataTable)
        await wait_for(pilot, lambda: table.row_count == 1, "the order listed")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm), "the question")
        await pilot.press("enter")
        screen = app.screen
        await wait_for(pilot, lambda: isinstance(screen, HandOverScreen) and "handed over" in str(
            screen.query_one("#message", Label).content), "the hand-over said")
        assert table.row_count == 0
        await pilot.press("escape")

    run(app, scenario)
    n = Node(store)
    [e] = n.ledger(after=before)
    assert (e["kind"], e["ref"], e["clerk"], e["quota_delta"]) == ("order_handed_over", "W-TUI-1", "ann", 0)
    n.close()
