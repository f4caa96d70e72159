"""The runner against a real hub in this process: a store restored from an old copy, a bad entry, the clock.

Issue 8, defect 1: a node whose file is older than what the hub holds of its
ledger must notice before it pushes, get the missing tail back when its own
ledger is a prefix of the hub's copy, and stop (the hub raising a divergence
for ops) when it has written other entries under sequences the hub holds.
Defect 8: a push that fails for any reason but "offline" says so on the
node's status, and the runner goes on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.service import Hub
from node import runner
from node.rules import SaleLine
from node.service import Node
from sync.client import Refused
from sync.models import Refusal
from tests.conftest import ManualClock
from tests.hubfixtures import LocalClient, tiny_chain, tiny_item

A, B = tiny_item(1), tiny_item(2)
CHAIN = tiny_chain([A, B], [("S001", A.sku, "floor", 20), ("S001", B.sku, "floor", 5),
                            ("W01", A.sku, "back", 10)], stores=1)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    h = Hub.open(f"sqlite:///{tmp_path / 'hub.sqlite'}", clock=ManualClock())
    h.load_chain(CHAIN)
    yield h
    h.close()


@pytest.fixture
def client(hub: Hub) -> LocalClient:
    return LocalClient(hub, "S001")


@pytest.fixture
def node(tmp_path: Path, client: LocalClient) -> Iterator[Node]:
    n = Node(tmp_path / "S001.sqlite", terminal="T1", clerk="c1", clock=ManualClock())
    runner.initialise_from_hub(n, client, "S001", hub_url="local", token="-")
    yield n
    n.close()


def sell(node: Node, op_id: str, qty: int = 1) -> dict:
    return node.sell(op_id, [SaleLine(A.sku, qty, 500)])


def same_ledger(node: Node, hub: Hub) -> bool:
    mine = [(r["seq"], r["op_id"], r["kind"], r["qty"]) for r in node.ledger(limit=10_000)]
    theirs = [(e.seq, e.op_id, e.kind, e.qty) for e in hub.ledger_tail("S001", 0, limit=10_000).entries]
    return mine == theirs


def stale_copy(node: Node, client: LocalClient, tmp_path: Path) -> Node:
    """Sales, a backup taken before they were pushed, then more sales pushed: the backup is behind the hub."""
    sell(node, "s1")
    sell(node, "s2")
    backup = node.backup(tmp_path / "backup.sqlite")
    runner.sync_once(node, client)
    sell(node, "s3")
    hold = node.hold("h4", B.sku, 2, customer="Ann")
    runner.sync_once(node, client)
    assert hold["hold_id"] == "h4"
    return Node(backup, terminal="T1", clerk="c1", clock=node.clock)


def test_a_copy_behind_the_hub_recovers_the_tail_before_it_writes_over_it(node: Node, client: LocalClient,
                                                                            hub: Hub, tmp_path: Path) -> None:
    restored = stale_copy(node, client, tmp_path)
    assert restored.last_seq() < node.last_seq()
    out = runner.sync_once(restored, client)
    assert out["online"] and out.get("recovered") == node.last_seq() - 2 - 2, out  # opening 2, then s1 s2
    assert restored.last_seq() == node.last_seq() and same_ledger(restored, hub)
    # the state the entries imply came back with them: figures, the hold, the receipt counter
    assert restored.balance(A.sku) == node.balance(A.sku) and restored.balance(B.sku) == node.balance(B.sku)
    assert [h["hold_id"] for h in restored.open_holds()] == ["h4"]
    after = sell(restored, "s5")
    assert int(after["receipt"].rsplit("-", 1)[1]) == 4  # s1..s3 were receipts 1..3
    assert runner.sync_once(restored, client)["pushed"] == 1
    assert same_ledger(restored, hub) and hub.incidents() == []
    st = runner.status(restored)
    assert (st["sync_stopped"], st["last_error"], st["waiting"]) == (None, None, 0)
    restored.close()


def test_a_copy_that_wrote_under_sequences_the_hub_holds_stops_and_the_hub_raises_a_divergence(
        node: Node, client: LocalClient, hub: Hub, tmp_path: Path) -> None:
    restored = stale_copy(node, client, tmp_path)
    sell(restored, "new-sale")  # a till sold on the old copy before it synced: a sequence the hub holds
    out = runner.sync_once(restored, client)
    assert out["stopped"] == "diverged", out
    assert [i["kind"] for i in hub.incidents()] == ["divergence"]
    st = runner.status(restored)
    assert st["sync_stopped"] == "diverged" and "Diverged from the hub" in st["last_error"]
    with pytest.raises(runner.SyncStopped):
        runner.push(restored, client)
    assert runner.sync_once(restored, client)["stopped"] == "diverged"
    assert len(hub.incidents()) == 1  # shown to ops once, not on every tick
    restored.close()


def test_the_runner_does_not_skip_entries_a_stale_copy_writes(node: Node, client: LocalClient, hub: Hub,
                                                              tmp_path: Path) -> None:
    # Before: the push took the hub's next_seq as its own position, and skipped what came next.
    restored = stale_copy(node, client, tmp_path)
    runner.sync_once(restored, client, with_pull=False)  # a push alone must compare too
    sell(restored, "s6")
    runner.sync_once(restored, client, with_pull=False)
    assert same_ledger(restored, hub)
    restored.close()


def test_a_pull_behind_the_hub_applies_nothing(node: Node, client: LocalClient, hub: Hub, tmp_path: Path) -> None:
    backup = node.backup(tmp_path / "b.sqlite")
    sell(node, "s1")
    runner.sync_once(node, client)
    hub.grant("S001", A.sku, 1)
    old = Node(backup, terminal="T1", clerk="c1", clock=node.clock)
    with pytest.raises(runner.BehindHub, match="ends at seq 2 but the hub holds it up to seq 3"):
        runner.pull(old, client)
    assert old.last_seq() == 2  # the grant was not written under a sequence the hub holds
    assert runner.recover(old, client)["recovered"] == 1
    assert runner.sync_once(old, client)["grants"] == 1 and same_ledger(old, hub)
    old.close()


def test_recover_from_the_command_line(node: Node, hub: Hub, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from node import cli

    client = ClosingClient(hub, "S001")
    restored = stale_copy(node, client, tmp_path)
    monkeypatch.setattr(runner, "client_for", lambda n, **kw: client)
    assert cli.main(["recover", "--db", str(restored.path)]) == 0
    assert same_ledger(restored, hub)
    assert cli.main(["recover", "--db", str(restored.path)]) == 0  # nothing more to recover
    restored.close()


class ClosingClient(LocalClient):
    def __enter__(self) -> ClosingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


# -- defect 8: a push that cannot go says so --------------------------------------------------


def test_an_entry_the_wire_refuses_stops_sync_on_the_status_not_the_runner(node: Node, client: LocalClient) -> None:
    row = node.ledger(limit=1)[0]
    cols = ", ".join(k for k in row if k != "detail")
    node.conn.execute(f"INSERT INTO ledger ({cols}, detail) VALUES ({', '.join('?' * len(row))})",
                      [*(node.last_seq() + 1 if k == "seq" else "x" * 200 if k == "op_id" else v
                         for k, v in row.items() if k != "detail"), "{}"])
    out = runner.sync_once(node, client)
    assert out["stopped"] == "bad_entry" and "Ledger entry 3 cannot be sent" in out["error"], out
    st = runner.status(node)
    assert st["sync_stopped"] == "bad_entry" and "op_id" in st["last_error"]


class RefusingClient(LocalClient):
    def push(self, batch):  # type: ignore[no-untyped-def]
        raise Refused(409, Refusal(code="blocked", message="Store S001 is blocked until ops clear an incident."))


def test_a_refused_push_is_shown_and_sync_goes_on_when_it_clears(node: Node, hub: Hub) -> None:
    sell(node, "s1")
    out = runner.sync_once(node, RefusingClient(hub, "S001"))
    assert out["stopped"] == "refused" and out["refused"] == "blocked"
    st = runner.status(node)
    assert st["sync_stopped"] == "refused" and "blocked" in st["last_error"] and st["waiting"] == 3
    assert runner.sync_once(node, LocalClient(hub, "S001"))["pushed"] == 3
    assert runner.status(node)["sync_stopped"] is None


# -- the clock ------------------------------------------------------------------------------------


def test_the_runner_keeps_time_by_the_injected_clock(node: Node, client: LocalClient) -> None:
    clock = ManualClock()
    r = runner.Runner(str(node.path), pull_every=10, clock=clock, client=client)
    try:
        assert r.tick()["online"]  # the first tick pulls: it compares with the hub before pushing
        assert r.tick() is None  # nothing waiting, no pull due: the clock has not moved
        clock.advance(seconds=10)
        assert "grants" in r.tick()
        assert r.node.meta()["last_pull_at"] == clock().isoformat(timespec="microseconds")
    finally:
        r.node.close()


def test_a_hub_restored_from_a_backup_gets_back_what_it_lost_with_no_new_sale(tmp_path: Path, node: Node,
                                                                                  hub: Hub) -> None:
    """Found by the simulation: the hub lost entries it had acknowledged, and a quiet store never resent them."""
    import sqlite3

    sell(node, "s1")
    runner.sync_once(node, LocalClient(hub, "S001"))
    backup = tmp_path / "hub-backup.sqlite"
    with sqlite3.connect(tmp_path / "hub.sqlite") as src, sqlite3.connect(backup) as dst:
        src.backup(dst)
    sell(node, "s2")
    runner.sync_once(node, LocalClient(hub, "S001"))
    assert hub.ledger_tail("S001", 0).next_seq == node.last_seq() + 1
    hub.close()
    restored = Hub.open(f"sqlite:///{backup}", clock=ManualClock())
    try:
        assert restored.ledger_tail("S001", 0).next_seq < node.last_seq() + 1
        runner.sync_once(node, LocalClient(restored, "S001"))  # nothing new was sold meanwhile
        assert restored.ledger_tail("S001", 0).next_seq == node.last_seq() + 1
        assert same_ledger(node, restored)
    finally:
        restored.close()


def test_the_runner_writes_nothing_on_an_old_copy_before_it_has_compared_it_with_the_hub(
        tmp_path: Path, node: Node, client: LocalClient, hub: Hub) -> None:
    """Found by the simulation: the first tick expired a hold on a restored file before its pull, so the
    expiry went under a sequence the hub already held, and the store diverged for nothing."""
    from datetime import timedelta

    node.hold("h0", B.sku, 1, customer="Ann", ttl=timedelta(hours=1))
    runner.sync_once(node, client)
    backup = node.backup(tmp_path / "backup.sqlite")
    sell(node, "s1")
    runner.sync_once(node, client)
    clock = ManualClock(node.clock())
    clock.advance(hours=2)  # the hold is past its time in the old copy too
    r = runner.Runner(str(backup), clock=clock, client=client)
    try:
        r.tick()
        assert not [i for i in hub.incidents() if i["kind"] == "divergence"]
        assert same_ledger(r.node, hub) or r.node.last_seq() > hub.ledger_tail("S001", 0).next_seq - 1
        assert [h["hold_id"] for h in r.node.open_holds()] == []  # expired once the file caught up
        r.tick()
        assert same_ledger(r.node, hub)
    finally:
        r.node.close()


def test_a_request_answered_in_a_recovered_entry_is_answered_again_as_a_repeat(
        tmp_path: Path, node: Node, client: LocalClient, hub: Hub) -> None:
    """Found by the simulation: the store answered a release request, was restored from an old copy and got
    its answer back from the hub; then the hub, restored too, asked again, and the runner stopped on the
    operation id it had already used."""
    import sqlite3

    runner.sync_once(node, client)
    hub_backup = tmp_path / "hub-backup.sqlite"
    hub.request_release("S001", A.sku, 1)
    with sqlite3.connect(tmp_path / "hub.sqlite") as src, sqlite3.connect(hub_backup) as dst:
        src.backup(dst)  # the hub's copy: the request open, not yet answered
    node_backup = node.backup(tmp_path / "node-backup.sqlite")
    assert runner.sync_once(node, client)["online"]  # answered, and the answer pushed
    old = Node(node_backup, terminal="sync", clerk="runner", clock=node.clock)
    assert runner.sync_once(old, client).get("recovered") == 1  # the answer comes back from the hub
    hub.close()
    restored = Hub.open(f"sqlite:///{hub_backup}", clock=ManualClock())
    try:
        out = runner.sync_once(old, LocalClient(restored, "S001"))
        assert out["online"] and not out.get("stopped"), out
        assert same_ledger(old, restored)
        with restored.engine.connect() as conn:
            statuses = [r[0] for r in conn.exec_driver_sql("SELECT status FROM release_requests")]
        assert statuses == ["answered"]
    finally:
        restored.close()
        old.close()
