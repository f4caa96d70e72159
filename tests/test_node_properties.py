"""A store under random operations: the ledger always explains the stock.

A Hypothesis state machine drives a real `Node` on a temp SQLite file (the
small store of conftest.py, under either policy, with a clock it moves
itself) through every operation, including bad ones. After every step:

- the ledger's sequence numbers run 1..N without a gap;
- replaying the ledger per SKU gives each entry's balances-after, and the
  last of them are the `stock` table's figures (floor, back, quota, held,
  over-quota), so over-quota exists only where it was recorded;
- quota and held never go below zero, anywhere along the way;
- the open holds add up to `held`;
- a grant id or a transfer id is applied at most once;
- under `strict` no sale is over-quota;
- quota + held never exceeds on-hand on any SKU: every unit the store may
  sell or has promised a customer is a unit on its shelves. That holds for
  grants too: one that lands after an over-quota sale the hub had not heard
  of yet (the hub granted units the sale took) backs only what is on hand,
  and its entry says so; the hub returns the rest.

And per operation: a refused one (any StoreError) leaves every table as it
was; an operation id used again returns the first result and writes nothing.
"""

from __future__ import annotations

import copy
import functools
import itertools
import os
import shutil
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test

from node.bounds import found_needs_confirming
from node.errors import AlreadyApplied, StoreError, TransferMismatch, UnknownTransfer
from node.rules import BACK, BINS, FLOOR, Policy, SaleLine
from node.service import Node
from sync.models import Grant, PullResponse, TransferOrder

SKUS = ["SKU-MILK", "SKU-SOAP", "SKU-TAPE", "SKU-GLUE"]
PRICES = {"SKU-MILK": 129, "SKU-SOAP": 350, "SKU-TAPE": 499, "SKU-GLUE": 725}
TABLES = ("ledger", "stock", "operations", "holds", "terminals", "incoming_transfers", "grants")

skus = st.sampled_from([*SKUS, *SKUS, "SKU-NOPE"])  # now and then one the store does not have
qtys = st.sampled_from([1, 2, 3, 1, 2, 4, 1, 6, 0, -1])  # now and then a bad one
bins = st.sampled_from(BINS)
grant_ids = st.sampled_from([f"G-{i}" for i in range(8)])
transfer_ids = st.sampled_from([f"TR-{i}" for i in range(8)])


class NodeMachine(RuleBasedStateMachine):
    def __init__(self, open_node: Callable[[Policy], Node]) -> None:
        super().__init__()
        self.open_node = open_node
        self.node: Node | None = None
        self.serial = itertools.count(1)
        self.done: list[tuple[Callable[[], dict], dict]] = []  # successful calls with their op id, and results
        self.holds: dict[str, tuple[str, int]] = {}  # every hold ever placed: sku, qty
        self.receipts: dict[str, set[str]] = {}  # receipt -> SKUs it sold
        self.grants: set[str] = set()
        self.granted: dict[str, tuple[str, int]] = {}  # what the hub sent under each grant id
        self.transfers_in: set[str] = set()
        self.sent: dict[str, tuple[str, int]] = {}  # transfers the hub told the node about: sku, qty

    # -- helpers ---------------------------------------------------------------

    def op_id(self) -> str:
        return f"op-{next(self.serial)}"

    def snapshot(self) -> dict[str, list[tuple]]:
        c = self.node.conn
        return {t: [tuple(r) for r in c.execute(f"SELECT * FROM {t} ORDER BY rowid")] for t in TABLES}

    def attempt(self, call: Callable[[], dict], *, must_succeed: bool = False, expect: type | None = None,
                repeatable: bool = True) -> dict | None:
        before = self.snapshot()
        try:
            result = call()
        except StoreError as e:
            assert not must_succeed, f"refused an operation that should succeed: {e!r}"
            if expect is not None:
                assert isinstance(e, expect), f"expected {expect.__name__}, got {e!r}"
            assert str(e), "a refusal needs a message"
            assert self.snapshot() == before, f"a refused operation ({e!r}) changed the node file"
            return None
        assert expect is None, f"expected {expect.__name__}, but it was done: {result}"
        if repeatable:
            # a till that lost the answer asks again at once (later retries: repeat_an_operation)
            self.check_repeat(call, result)
            self.done.append((call, result))
        return result

    def check_repeat(self, call: Callable[[], dict], first: dict) -> None:
        before = self.snapshot()
        again = call()
        assert again == first, f"a repeated operation id gave another result: {again} after {first}"
        assert self.snapshot() == before, "a repeated operation id wrote something"

    def on_hand(self, sku: str) -> int:
        return self.node.balance(sku).on_hand

    # -- set up ------------------------------------------------------------------

    @initialize(policy=st.sampled_from(list(Policy)))
    def open_store(self, policy: Policy) -> None:
        self.policy = policy
        self.node = self.open_node(policy)
        # durability is not under test here; fsync per commit would be most of the run time
        self.node.conn.execute("PRAGMA synchronous = OFF")

    # -- operations ----------------------------------------------------------------

    @rule(lines=st.lists(st.tuples(skus, qtys), min_size=1, max_size=3))
    def sell(self, lines: list[tuple[str, int]]) -> None:
        self.sell_lines([SaleLine(sku, qty, PRICES.get(sku, 100)) for sku, qty in lines])

    @precondition(lambda self: self.holds)
    @rule(data=st.data(), extra=st.integers(0, 2))
    def sell_the_shelf(self, data: st.DataObject, extra: int) -> None:
        """A customer brings as many units as the book shows of a SKU with units on hold, or more.

        The held units are promised: the sale takes only the others, and what
        it takes beyond them was found at the till.
        """
        sku = data.draw(st.sampled_from(sorted({s for s, _ in self.holds.values()})), label="sku")
        qty = self.on_hand(sku) + extra
        if qty > 0:
            self.sell_lines([SaleLine(sku, qty, PRICES[sku])])

    @precondition(lambda self: self.holds)
    @rule(lines=st.lists(st.tuples(skus, qtys), max_size=1), data=st.data())
    def sell_a_hold(self, lines: list[tuple[str, int]], data: st.DataObject) -> None:
        """The customer comes for the held units (maybe buying one more thing)."""
        open_ids = [r[0] for r in self.node.conn.execute("SELECT hold_id FROM holds WHERE status = 'open'")]
        pick = st.sampled_from(sorted(open_ids)) if open_ids else st.sampled_from(sorted(self.holds))
        hold_id = data.draw(pick | st.sampled_from(sorted(self.holds)), label="hold")
        sku, qty = self.holds[hold_id]
        held = [SaleLine(sku, qty, PRICES[sku], hold_id=hold_id)]
        if data.draw(st.booleans(), label="twice"):  # the same hold on two lines is refused
            held *= 2
        self.sell_lines([*held, *(SaleLine(k, n, PRICES.get(k, 100)) for k, n in lines)])

    def sell_lines(self, sale: list[SaleLine]) -> None:
        plain = [ln for ln in sale if ln.hold_id is None]
        wanted: dict[str, int] = defaultdict(int)
        for ln in plain:
            wanted[ln.sku] += ln.qty
        sure = (self.policy is Policy.IN_HAND and len(plain) == len(sale)
                and all(ln.sku in PRICES and ln.qty > 0 for ln in sale)
                and all(n <= self.on_hand(sku) for sku, n in wanted.items()))
        result = self.attempt(functools.partial(self.node.sell, self.op_id(), sale), must_succeed=sure)
        if result is not None:
            self.receipts[result["receipt"]] = {ln.sku for ln in sale}
            assert result["total"] == sum(ln.qty * ln.unit_price for ln in sale)
            if self.policy is Policy.STRICT:
                assert result["over_quota"] == 0

    @rule(data=st.data(), qty=qtys, resellable=st.booleans(), bin_=bins)
    def return_items(self, data: st.DataObject, qty: int, resellable: bool, bin_: str) -> None:
        receipt = None
        if self.receipts and data.draw(st.booleans(), label="on a receipt"):
            receipt = data.draw(st.sampled_from(sorted(self.receipts)), label="receipt")
            sku = data.draw(st.sampled_from(sorted(self.receipts[receipt])) | skus, label="sku")
        else:
            sku = data.draw(skus, label="sku")
        self.attempt(functools.partial(self.node.return_items, self.op_id(), sku, qty, resellable=resellable,
                                       receipt=receipt, bin_=bin_))

    @rule(sku=skus, qty=qtys, bin_=bins)
    def receive(self, sku: str, qty: int, bin_: str) -> None:
        sure = sku in PRICES and qty > 0
        self.attempt(functools.partial(self.node.receive, self.op_id(), sku, qty, bin_=bin_), must_succeed=sure)

    @rule(sku=skus, qty=qtys, minutes=st.sampled_from([15, 30, 60, 120]))
    def hold(self, sku: str, qty: int, minutes: int) -> None:
        b = self.node.balance(sku) if sku in PRICES else None
        sure = b is not None and 0 < qty <= min(b.quota, b.on_hand - b.held)
        hold_id = self.op_id()
        result = self.attempt(functools.partial(self.node.hold, hold_id, sku, qty, ttl=timedelta(minutes=minutes)),
                              must_succeed=sure)
        if result is not None:
            assert result["hold_id"] == hold_id
            self.holds[hold_id] = (sku, qty)

    @precondition(lambda self: self.holds)
    @rule(data=st.data())
    def release_hold(self, data: st.DataObject) -> None:
        hold_id = data.draw(st.sampled_from(sorted(self.holds)), label="hold")
        self.attempt(functools.partial(self.node.release_hold, self.op_id(), hold_id))

    @rule(minutes=st.sampled_from([20, 45, 90, 180]))
    def time_passes(self, minutes: int) -> None:
        self.node.clock.advance(minutes=minutes)

    @rule(own_id=st.booleans())
    def expire_holds(self, own_id: bool) -> None:
        if own_id:
            self.attempt(functools.partial(self.node.expire_holds, self.op_id()), must_succeed=True)
        else:  # the node makes the id from the clock: not ours to repeat
            self.attempt(self.node.expire_holds, must_succeed=True, repeatable=False)
        now = self.node.clock()
        late = self.node.conn.execute("SELECT count(*) FROM holds WHERE status = 'open' AND expires_at <= ?",
                                      (now.isoformat(timespec="microseconds"),)).fetchone()[0]
        assert late == 0, "a hold past its time is still open after expiry ran"

    @rule(sku=skus, bin_=bins, counted=st.integers(min_value=-1, max_value=12), confirm=st.booleans())
    def count(self, sku: str, bin_: str, counted: int, confirm: bool) -> None:
        sure = sku in PRICES and counted >= 0
        if sure:
            b = self.node.balance(sku)
            book = b.bins[bin_]
            sure = (b.on_hand - book + counted >= b.held  # held units are never counted away
                    and (confirm or not found_needs_confirming(counted - book, book)))
        self.attempt(functools.partial(self.node.count, self.op_id(), sku, bin_, counted, confirm_found=confirm),
                     must_succeed=sure)

    @rule(kind=st.sampled_from(["damaged", "expired", "lost"]), sku=skus, qty=qtys, bin_=bins)
    def write_off(self, kind: str, sku: str, qty: int, bin_: str) -> None:
        b = self.node.balance(sku) if sku in PRICES else None
        # units held for customers are not written off while their holds are open
        sure = b is not None and 0 < qty <= b.bins[bin_] and b.on_hand - qty >= b.held
        self.attempt(functools.partial(self.node.write_off, self.op_id(), kind, sku, qty, bin_=bin_),
                     must_succeed=sure)

    @rule(sku=skus, qty=qtys, from_back=st.booleans())
    def move(self, sku: str, qty: int, from_back: bool) -> None:
        src, dst = (BACK, FLOOR) if from_back else (FLOOR, BACK)
        sure = sku in PRICES and 0 < qty <= self.node.balance(sku).bins[src]
        self.attempt(functools.partial(self.node.move, self.op_id(), sku, qty, from_bin=src, to_bin=dst),
                     must_succeed=sure)

    @rule(sku=skus, qty=qtys, hub_ordered=st.booleans(), bin_=bins)
    def transfer_out(self, sku: str, qty: int, hub_ordered: bool, bin_: str) -> None:
        self.attempt(functools.partial(self.node.transfer_out, self.op_id(), sku, qty, to_location="S2",
                                       hub_ordered=hub_ordered, bin_=bin_))

    @rule(transfer_id=transfer_ids, sku=st.sampled_from(SKUS), qty=st.integers(1, 5))
    def hub_sends_transfer(self, transfer_id: str, sku: str, qty: int) -> None:
        self.node.record_pull(PullResponse(cursor=0, transfers=[
            TransferOrder(transfer_id=transfer_id, sku=sku, qty=qty, from_location="W1", to_location="S1")]))
        self.sent.setdefault(transfer_id, (sku, qty))  # a transfer already known keeps what it was

    @rule(transfer_id=transfer_ids, sku=skus, qty=qtys, as_sent=st.booleans())
    def transfer_in(self, transfer_id: str, sku: str, qty: int, as_sent: bool) -> None:
        if as_sent and transfer_id in self.sent:
            sku, qty = self.sent[transfer_id]
        seen = transfer_id in self.transfers_in
        matches = self.sent.get(transfer_id) == (sku, qty)
        expect = None
        if seen:
            expect = AlreadyApplied
        elif qty > 0 and transfer_id not in self.sent:
            expect = UnknownTransfer
        elif qty > 0 and not matches:
            expect = TransferMismatch
        result = self.attempt(
            functools.partial(self.node.transfer_in, self.op_id(), transfer_id, sku, qty, from_location="W1"),
            must_succeed=matches and not seen, expect=expect)
        if result is not None:
            self.transfers_in.add(transfer_id)

    @rule(grant_id=grant_ids, sku=st.sampled_from(SKUS), data=st.data())
    def hub_grants(self, grant_id: str, sku: str, data: st.DataObject) -> None:
        """A grant as the runner applies it: noted as the hub sent it, then applied once."""
        b = self.node.balance(sku)
        share = b.on_hand - b.quota - b.held
        # The hub grants from its share of the store's book as it last heard of it: an
        # over-quota sale it has not heard of yet may have taken those units meanwhile.
        qty = data.draw(st.integers(1, max(1, share + 2)), label="qty")
        before = self.snapshot()
        pending = self.node.note_grants([Grant(grant_id=grant_id, grant_no=1, sku=sku, qty=qty)])
        if grant_id in self.granted and self.granted[grant_id] != (sku, qty):
            # the same id with other content is not a repeat: kept as a problem, nothing applied
            assert grant_id not in {g.grant_id for g in pending}
            assert self.snapshot() == before
            assert any(p["ref"] == grant_id for p in self.node.problems())
            return
        self.granted.setdefault(grant_id, (sku, qty))
        for g in pending:
            self.attempt(functools.partial(self.node.apply_grant, f"grant:{g.grant_id}", g.grant_id, g.sku, g.qty),
                         must_succeed=True)
            self.grants.add(g.grant_id)
        assert not self.node.note_grants([]), "a grant was left unapplied"

    @rule(sku=skus, qty=qtys, hub_asked=st.booleans())
    def release_quota(self, sku: str, qty: int, hub_asked: bool) -> None:
        quota = self.node.balance(sku).quota if sku in PRICES else 0
        request_id = f"RQ-{next(self.serial)}" if hub_asked else None
        sure = sku in PRICES and qty > 0 and (hub_asked or quota > 0)
        result = self.attempt(functools.partial(self.node.release_quota, self.op_id(), sku, qty,
                                                request_id=request_id), must_succeed=sure)
        if result is not None:
            assert result["entries"][0]["qty"] == min(qty, quota)

    @precondition(lambda self: self.done)
    @rule(data=st.data())
    def repeat_an_operation(self, data: st.DataObject) -> None:
        call, first = data.draw(st.sampled_from(self.done), label="operation")
        self.check_repeat(call, first)

    # -- invariants ----------------------------------------------------------------

    @invariant()
    def every_promise_has_a_unit(self) -> None:
        if self.node is None:
            return
        for r in self.node.conn.execute("SELECT sku, floor, back, quota, held FROM stock"):
            assert r["quota"] + r["held"] <= r["floor"] + r["back"], (
                f"{r['sku']}: quota {r['quota']} + held {r['held']} > on hand {r['floor'] + r['back']}")

    @invariant()
    def ledger_explains_stock(self) -> None:
        if self.node is None:
            return
        c = self.node.conn
        rows = c.execute("SELECT * FROM ledger ORDER BY seq").fetchall()
        assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1)), "ledger sequence has a gap"
        run: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(
            ("floor", "back", "quota", "held", "over_quota"), 0))
        for r in rows:
            b = run[r["sku"]]
            b["floor"] += r["floor_delta"]
            b["back"] += r["back_delta"]
            b["quota"] += r["quota_delta"]
            b["held"] += r["held_delta"]
            b["over_quota"] += r["over_quota"]
            assert r["store_id"] == "S1"
            assert r["qty"] >= 0 and r["over_quota"] >= 0
            assert (r["on_hand_after"], r["quota_after"], r["held_after"]) == (
                b["floor"] + b["back"], b["quota"], b["held"]), f"entry {r['seq']} disagrees with the replay"
            assert b["quota"] >= 0 and b["held"] >= 0, f"entry {r['seq']} leaves quota or held below zero"
            assert b["floor"] >= 0 and b["back"] >= 0, f"entry {r['seq']} leaves a bin below zero"
            if self.policy is Policy.STRICT and r["kind"] == "sale":
                assert r["over_quota"] == 0, "a strict store sold past its quota"
        stock = {r["sku"]: dict(r) for r in c.execute("SELECT * FROM stock")}
        for sku in set(run) | set(stock):
            s = {k: v for k, v in stock.get(sku, {}).items() if k != "sku"} or dict.fromkeys(run[sku], 0)
            assert s == run[sku], f"{sku}: stock {s} but the ledger says {run[sku]}"
        open_held: dict[str, int] = defaultdict(int)
        for h in c.execute("SELECT sku, qty FROM holds WHERE status = 'open'"):
            open_held[h["sku"]] += h["qty"]
        assert {k: v for k, v in open_held.items() if v} == {k: v["held"] for k, v in run.items() if v["held"]}
        once = c.execute("SELECT kind, ref, count(*) FROM ledger WHERE kind IN ('quota_granted', 'transfer_in') "
                         "GROUP BY kind, ref HAVING count(*) > 1").fetchall()
        assert not once, f"applied more than once: {[tuple(r) for r in once]}"
        granted = {r[0] for r in c.execute("SELECT ref FROM ledger WHERE kind = 'quota_granted'")}
        assert granted == self.grants
        ops = {r[0] for r in c.execute("SELECT op_id FROM operations")}
        assert {r["op_id"] for r in rows} - {"opening"} <= ops, "a ledger entry with no recorded operation"

    def teardown(self) -> None:
        if self.node is not None:
            self.node.close()


def test_the_ledger_always_explains_the_stock(make_node: Callable[..., Node], tmp_path: Path) -> None:
    # Setting a store up costs a few fsyncs; each example starts from a copy of one made once per policy.
    templates: dict[Policy, Node] = {}
    serial = itertools.count()

    def open_node(policy: Policy) -> Node:
        if policy not in templates:
            templates[policy] = template = make_node(tmp_path / "templates", policy=policy)
            template.close()  # the last connection out folds the WAL into the file: one file to copy
        template = templates[policy]
        path = tmp_path / f"run-{next(serial)}.sqlite"
        shutil.copyfile(template.path, path)
        return Node(path, clock=copy.copy(template.clock))

    run_state_machine_as_test(
        lambda: NodeMachine(open_node),
        # ~10 s; for a soak run, BACKROOM_NODE_EXAMPLES=2000
        settings=settings(max_examples=int(os.environ.get("BACKROOM_NODE_EXAMPLES", 120)), stateful_step_count=40,
                          deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]),
    )


def test_expiry_asked_again_under_the_same_id_gives_the_same_answer(make_node: Callable[..., Node]) -> None:
    node = make_node()
    # nothing due yet: the id is still answered for, so a later retry cannot expire anything
    assert node.expire_holds("exp-0")["expired"] == []
    node.hold("H-1", "SKU-MILK", 2, ttl=timedelta(minutes=30))
    node.clock.advance(minutes=31)
    assert node.expire_holds("exp-0")["expired"] == []
    assert node.balance("SKU-MILK").held == 2
    first = node.expire_holds("exp-1")
    assert first["expired"] == ["H-1"]
    seq = node.last_seq()
    assert node.expire_holds("exp-1") == first
    assert node.last_seq() == seq and node.balance("SKU-MILK").held == 0
