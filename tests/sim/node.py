"""A store node in memory: `node.rules` driven the way `node.service` and `node.runner` drive them.

What is mirrored from the real layers, in the same order of checks:

- every write runs under an operation id; a repeated id returns the first
  result and writes nothing (`Node._run`);
- a plan is persisted whole: balances, ledger entries with a gapless
  sequence and the balances after each, holds opened and closed
  (`Node._persist`); a refused plan leaves no trace;
- the opening is written as `receive` entries, the quota spread over the
  bins in bin order (`Node.initialise`);
- a grant is applied under op id ``grant:<id>`` and refused a second time by
  the ledger (`rules.apply_grant(already_applied=...)`), a release request is
  answered under op id ``release:<request id>`` (`runner.pull`);
- push sends entries after `pushed_seq` in batches and moves the cursor to
  the hub's ``next_seq - 1``; a gap refusal rewinds it (`runner.push`).

Nothing here is shared with the hub except the (frozen) entries a message carries.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from node import rules
from node.errors import AlreadyApplied
from node.rules import BACK, FLOOR, Balance, Hold, Kind, Plan, Policy, SaleLine, Tender
from sync.models import LedgerEntry, PullResponse, PushResult


def stamp(t: datetime) -> str:
    return t.isoformat(timespec="microseconds")


class SimNode:
    def __init__(self, store_id: str, policy: Policy, skus: list[str], prices: dict[str, int],
                 clock: Callable[[], datetime], hash_of: Callable[[LedgerEntry], str],
                 bugs: frozenset[str] = frozenset()) -> None:
        self.store_id = store_id
        self.policy = policy
        self.terminal = "T1"
        self.clerk = "sim"
        self.clock = clock
        self.hash_of = hash_of
        self.bugs = bugs
        self.prices = prices
        # Every catalog SKU has a balance (the real node left-joins items to stock).
        self.balances: dict[str, Balance] = {s: Balance(s, {FLOOR: 0, BACK: 0}) for s in skus}
        self.holds: dict[str, Hold] = {}  # open holds only
        self.ledger: list[LedgerEntry] = []
        self.ops: dict[str, tuple[str, Any]] = {}
        self.applied_refs: set[tuple[str, str]] = set()  # (kind, ref) in the ledger, for `_applied`
        self.sold: dict[tuple[str, str], list[int]] = {}  # (receipt, sku) -> [sold, unit_price, returned]
        self.last_receipt = 0
        self.pushed_seq = 0
        self.batch = 25

    # -- the write path (Node._run / _persist) ---------------------------------

    def _run(self, op_id: str, kind: str, work: Callable[[datetime], Any]) -> Any:
        done = self.ops.get(op_id)
        if done is not None and not (kind == "quota_granted" and "node_double_grant" in self.bugs):
            if done[0] != kind:
                raise ValueError(f"op id {op_id} reused for {kind}, was {done[0]}")
            return done[1]
        now = self.clock()
        result = work(now)
        self.ops[op_id] = (kind, result)
        return result

    def _persist(self, plan: Plan, op_id: str, now: datetime) -> list[LedgerEntry]:
        touched = {p.change.sku for p in plan.entries}
        for sku, b in plan.balances.items():
            if sku in touched:
                self.balances[sku] = b
        at = stamp(now)
        out = []
        for p in plan.entries:
            ch = p.change
            deltas = dict.fromkeys(rules.BINS, 0)
            for bin_, d in ch.bins:
                deltas[bin_] += d
            e = LedgerEntry(
                seq=len(self.ledger) + 1, store_id=self.store_id, op_id=op_id, kind=str(ch.kind), sku=ch.sku,
                qty=ch.qty, floor_delta=deltas[FLOOR], back_delta=deltas[BACK], quota_delta=ch.quota_delta,
                held_delta=ch.held_delta, over_quota=ch.over_quota, ref=ch.ref, amount=ch.amount,
                on_hand_after=p.on_hand, quota_after=p.quota, held_after=p.held, terminal=self.terminal,
                clerk=self.clerk, at=at, detail=json.loads(json.dumps(dict(ch.detail), sort_keys=True)))
            self.hash_of(e)
            self.ledger.append(e)
            out.append(e)
            if ch.ref is not None:
                self.applied_refs.add((str(ch.kind), ch.ref))
            if ch.kind in rules.SOLD and ch.ref:
                s = self.sold.setdefault((ch.ref, ch.sku), [0, int(ch.detail["unit_price"]), 0])
                s[0] += ch.qty
            elif ch.kind == Kind.RETURN and ch.ref:
                self.sold[(ch.ref, ch.sku)][2] += ch.qty
        for h in plan.opened_holds:
            self.holds[h.hold_id] = h
        for hid, _ in plan.closed_holds:
            self.holds.pop(hid, None)
        return out

    def _applied(self, kind: Kind, ref: str) -> bool:
        if kind == Kind.QUOTA_GRANTED and "node_double_grant" in self.bugs:
            return False
        return (str(kind), ref) in self.applied_refs

    def _simple(self, op_id: str, kind: str, make_plan: Callable[[datetime, dict[str, Balance]], Plan]) -> Any:
        return self._run(op_id, kind, lambda now: self._persist(make_plan(now, self.balances), op_id, now))

    # -- setting up (Node.initialise) --------------------------------------------

    def initialise(self, stock: list[tuple[str, str, int, int]]) -> None:
        balances: dict[str, Balance] = {}
        for sku, bin_, qty, quota in stock:
            b = balances.setdefault(sku, Balance(sku))
            b.bins[bin_] = b.bins.get(bin_, 0) + qty
            b.quota += quota
        plan = Plan(dict(self.balances))
        for b in list(balances.values()):
            opening = Balance(b.sku, {FLOOR: 0, BACK: 0})
            plan.balances[b.sku] = opening
            for bin_, qty in sorted(b.bins.items()):
                if qty:
                    share = min(qty, b.quota - opening.quota)
                    plan.post(rules.Change(Kind.RECEIVE, b.sku, qty, ((bin_, qty),), quota_delta=share,
                                           ref="opening", detail={"opening": True}))
        self._run("opening", "opening", lambda now: self._persist(plan, "opening", now))

    # -- operations (Node.sell, return_items, ...) ----------------------------------

    def sell(self, op_id: str, lines: list[SaleLine], tender: Tender = Tender.CASH) -> Any:
        def work(now: datetime) -> Any:
            n = self.last_receipt + 1
            receipt = f"{self.store_id}-{self.terminal}-{n:06d}"
            plan = rules.sell(self.balances, lines, policy=self.policy, receipt=receipt, tender=tender,
                              holds=self.holds, now=now)
            self.last_receipt = n  # the counter's UPDATE rolls back with a refused sale
            return {"receipt": receipt, "entries": self._persist(plan, op_id, now)}
        return self._run(op_id, "sale", work)

    def return_items(self, op_id: str, sku: str, qty: int, *, resellable: bool, receipt: str | None,
                     bin_: str = BACK) -> Any:
        def work(now: datetime) -> Any:
            sold = None
            if receipt is not None:
                s = self.sold.get((receipt, sku))
                if s and s[0]:
                    sold = rules.Sold(s[0], s[1], s[2])
            plan = rules.return_items(self.balances, sku, qty, resellable=resellable, unit_price=self.prices[sku],
                                      receipt=receipt, sold=sold, bin_=bin_)
            return self._persist(plan, op_id, now)
        return self._run(op_id, "return", work)

    def receive(self, op_id: str, sku: str, qty: int, *, bin_: str = BACK) -> Any:
        return self._simple(op_id, "receive", lambda now, b: rules.receive(b, sku, qty, bin_=bin_, delivery=op_id))

    def hold(self, op_id: str, sku: str, qty: int, *, ttl: timedelta) -> Any:
        return self._simple(op_id, "hold", lambda now, b: rules.place_hold(b, op_id, sku, qty, now=now, ttl=ttl))

    def release_hold(self, op_id: str, hold_id: str) -> Any:
        def work(now: datetime) -> Any:
            holds = {hold_id: self.holds[hold_id]} if hold_id in self.holds else {}
            return self._persist(rules.release_hold(self.balances, holds, hold_id, now=now), op_id, now)
        return self._run(op_id, "hold_release", work)

    def expire_holds(self) -> Any:
        now = self.clock()
        if not any(now >= h.expires_at for h in self.holds.values()):
            return []
        op_id = f"expire:{self.terminal}:{stamp(now)}"
        return self._run(op_id, "hold_expiry",
                         lambda now: self._persist(rules.expire_holds(self.balances, self.holds, now=now), op_id, now))

    def count(self, op_id: str, sku: str, bin_: str, counted: int) -> Any:
        return self._simple(op_id, "count", lambda now, b: rules.count(b, sku, bin_, counted))

    def write_off(self, op_id: str, kind: Kind, sku: str, qty: int, *, bin_: str) -> Any:
        return self._simple(op_id, str(kind), lambda now, b: rules.write_off(b, kind, sku, qty, bin_=bin_))

    def move(self, op_id: str, sku: str, qty: int, *, from_bin: str, to_bin: str) -> Any:
        return self._simple(op_id, "move", lambda now, b: rules.move(b, sku, qty, from_bin=from_bin, to_bin=to_bin))

    def transfer_out(self, op_id: str, sku: str, qty: int, *, to_location: str) -> Any:
        return self._simple(op_id, "transfer_out",
                            lambda now, b: rules.transfer_out(b, op_id, sku, qty, to_location=to_location))

    def transfer_in(self, op_id: str, transfer_id: str, sku: str, qty: int, *, from_location: str) -> Any:
        return self._simple(op_id, "transfer_in", lambda now, b: rules.transfer_in(
            b, transfer_id, sku, qty, from_location=from_location,
            already_applied=self._applied(Kind.TRANSFER_IN, transfer_id)))

    def apply_grant(self, op_id: str, grant_id: str, sku: str, qty: int) -> Any:
        return self._simple(op_id, "quota_granted", lambda now, b: rules.apply_grant(
            b, grant_id, sku, qty, already_applied=self._applied(Kind.QUOTA_GRANTED, grant_id)))

    def release_quota(self, op_id: str, sku: str, qty: int, *, request_id: str | None = None) -> Any:
        return self._simple(op_id, "quota_released",
                            lambda now, b: rules.release_quota(b, op_id, sku, qty, request_id=request_id))

    # -- sync (runner.push / runner.pull), one message at a time -----------------------

    def next_batch(self) -> tuple[LedgerEntry, ...]:
        return tuple(self.ledger[self.pushed_seq:self.pushed_seq + self.batch])

    def on_push_result(self, result: PushResult) -> bool:
        """Returns whether there is more to push right away (the runner's loop)."""
        self.pushed_seq = result.next_seq - 1
        return len(self.ledger) > self.pushed_seq

    def on_gap(self, expected_seq: int | None) -> bool:
        if expected_seq is not None and expected_seq <= len(self.ledger) + 1:
            self.pushed_seq = expected_seq - 1
            return True
        return False  # the runner re-raises: the store shows the refusal and stops

    def on_pull(self, resp: PullResponse) -> int:
        """Apply grants once by id, answer release requests once; returns how many were handled."""
        done = 0
        for g in resp.grants:
            try:
                self.apply_grant(f"grant:{g.grant_id}", g.grant_id, g.sku, g.qty)
                done += 1
            except AlreadyApplied:
                pass
        for rr in resp.release_requests:
            self.release_quota(f"release:{rr.request_id}", rr.sku, rr.qty, request_id=rr.request_id)
            done += 1
        return done
