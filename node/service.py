"""One method per store operation: load state, call the rules, write the result.

Each write is one `BEGIN IMMEDIATE` transaction holding the state change, its
ledger entries (gapless sequence, terminal, clerk, balances after) and the
operation's result under the caller's operation id, so a repeated id returns
the first result and writes nothing. The CLI, the TUI and the sync runner
call this layer and nothing below it.

The SQL is in `node.store`; reads are `node.queries`, setting a file up and
restoring it `node.opening`, what pulls bring and parked sales `node.pulls`: `Node` offers them as
methods too.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from node import opening, queries, rules
from node.orders import Orders
from node.pulls import Parked, Pulls
from node.refusals import Refusals
from node.snapshots import Snapshots
from node.bounds import MAX_TERMINAL, Limits, check_text
from node.errors import BadInput, NotInitialised, QuotaExceeded
from node.opening import DEFAULT_QUOTA_SHARE, initialise_from_chain, opening_quota
from node.queries import Resolved
from node.rules import BACK, FLOOR, Balance, Kind, Plan, Policy, SaleLine, Tender
from node.store import immediate, open_node_file
from node.store import ledger as sql
from node.store import pulled
from sync.kinds import stamp, utcnow

__all__ = ["DEFAULT_QUOTA_SHARE", "Clock", "Node", "Resolved", "initialise_from_chain", "opening_quota"]

Clock = Callable[[], datetime]
MakePlan = Callable[[sqlite3.Connection, datetime, dict[str, Balance]], Plan]


def _same_kind(op_id: str, done: str, asked: str) -> None:
    """An operation id answers only for the kind it was first used for. An entry recovered from
    the hub's copy (kind `restored`) was this store's own operation: any retry of it is a repeat."""
    if done != asked and done != "restored":
        raise BadInput(f"Operation id {op_id} was already used for a {done}, not a {asked}.")


class Node(queries.Reads, opening.Setup, Orders, Snapshots, Refusals, Pulls, Parked):
    """A store's node file, used by one terminal and clerk; its reads come from `queries.Reads`,
    its web orders to hand over from `node.orders.Orders`, its end-of-day snapshots from
    `node.snapshots.Snapshots`, its record of walk-ins turned away from `node.refusals.Refusals`,
    what pulls bring and its parked sales from `node.pulls`, setting up and restoring from `node.opening.Setup`."""

    def __init__(self, path: str | Path, *, terminal: str = "T1", clerk: str = "clerk",
                 clock: Clock = utcnow) -> None:
        self.path = Path(path)
        self.conn = open_node_file(self.path)
        self.terminal = terminal
        self.clerk = clerk
        self.clock = clock
        self._meta_cache: dict[str, str] | None = None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the store's settings ------------------------------------------------

    def meta(self) -> dict[str, str]:
        """The node's settings and sync progress, fresh: other processes write them too."""
        return {r["key"]: r["value"] for r in self.conn.execute("SELECT key, value FROM meta")}

    def _identity(self) -> dict[str, str]:
        # Store id and policy are read once: the sale path should not query them every time.
        if self._meta_cache is None:
            self._meta_cache = self.meta()
        return self._meta_cache

    def set_meta(self, **values: str) -> None:
        with immediate(self.conn) as c:
            sql.put_meta(c, **values)
        self._meta_cache = None

    @property
    def store_id(self) -> str:
        sid = self._identity().get("store_id")
        if sid is None:
            raise NotInitialised(f"{self.path} holds no store yet; run `backroom node init` first.")
        return sid

    @property
    def policy(self) -> Policy:
        return Policy(self._identity().get("policy", Policy.IN_HAND))

    @property
    def limits(self) -> Limits:
        """The store's bounds on a line's units and a counted figure (meta `max_line_qty`, `max_counted`)."""
        return Limits.from_meta(self._identity())

    # -- the write path ------------------------------------------------------

    def _run(self, op_id: str, kind: Kind | str, work: Callable[[sqlite3.Connection, datetime], dict]) -> dict:
        kind = str(kind)
        if not isinstance(op_id, str) or not op_id.strip():
            raise BadInput("Every operation needs an operation id made by its caller.")
        store_id = self.store_id
        with immediate(self.conn) as c:
            # The id first, before any check of the request: a retry must get the first answer
            # even when the state it checked has moved on (a hold already sold, say).
            done = sql.done(c, op_id)
            if done is not None:
                _same_kind(op_id, done["kind"], kind)
                return json.loads(done["result"])
            # What goes into every entry must fit the wire, or the entry would stop the store's sync.
            check_text(op_id, "An operation id")
            check_text(self.terminal, "A terminal id", most=MAX_TERMINAL)
            check_text(self.clerk, "A clerk's name")
            now = self.clock()
            result = {"op_id": op_id, "store_id": store_id, **work(c, now)}
            sql.record(c, op_id, kind, result, result.get("at") or stamp(now))
        return result

    def result_of(self, op_id: str, kind: str) -> dict | None:
        """The recorded result of an operation id, if it was done: an edge asks before it checks anything."""
        row = sql.done(self.conn, op_id)
        if row is None:
            return None
        _same_kind(op_id, row["kind"], kind)
        return json.loads(row["result"])

    def _posted(self, c: sqlite3.Connection, plan: Plan, op_id: str, now: datetime) -> dict:
        at = stamp(now)
        first, last = sql.persist(c, plan, store_id=self.store_id, op_id=op_id, at=at, terminal=self.terminal,
                                  clerk=self.clerk)
        e = plan.entries
        return {
            "at": at,
            "seq": [first, last],
            "entries": [
                {"kind": str(p.change.kind), "sku": p.change.sku, "qty": p.change.qty,
                 "over_quota": p.change.over_quota, "on_hand": p.on_hand, "quota": p.quota, "held": p.held}
                for p in e
            ],
            "over_quota": sum(p.change.over_quota for p in e),
        }

    def _simple(self, op_id: str, kind: Kind | str, make_plan: MakePlan, skus: list[str]) -> dict:
        """An operation whose whole work is a plan over these SKUs' balances."""
        def work(c: sqlite3.Connection, now: datetime) -> dict:
            return self._posted(c, make_plan(c, now, sql.balances(c, skus)), op_id, now)

        return self._run(op_id, kind, work)

    # -- operations ----------------------------------------------------------

    def sell(self, op_id: str, lines: list[SaleLine], tender: Tender | str = Tender.CASH, *,
             confirm_found: bool = False) -> dict:
        """A sale; `confirm_found` is the clerk's word that units far past the book are really in hand."""
        tender = Tender(tender)
        policy = self.policy
        limits = self.limits

        def work(c: sqlite3.Connection, now: datetime) -> dict:
            receipt = f"{self.store_id}-{self.terminal}-{sql.next_receipt(c, self.terminal):06d}"
            hold_ids = [ln.hold_id for ln in lines if ln.hold_id]
            holds = sql.open_holds(c, hold_ids) if hold_ids else {}
            plan = rules.sell(sql.balances(c, [ln.sku for ln in lines]), lines, policy=policy,
                              receipt=receipt, tender=tender, holds=holds, now=now, confirm_found=confirm_found,
                              limits=limits)
            posted = self._posted(c, plan, op_id, now)
            return {"receipt": receipt, "tender": str(tender), "total": sum(p.change.amount for p in plan.entries),
                    "lines": [{"sku": ln.sku, "qty": ln.qty, "unit_price": ln.unit_price, "hold_id": ln.hold_id}
                              for ln in lines], **posted}

        try:
            return self._run(op_id, Kind.SALE, work)
        except QuotaExceeded as err:
            if err.sku is not None and policy is Policy.STRICT:
                # a walk-in turned away: never the ledger; under the sale's op id, so a retry counts once
                self.note_refusal(err.sku, err.qty, "sale", op_id=op_id)
            raise

    def return_items(self, op_id: str, sku: str, qty: int, *, resellable: bool = True,
                     receipt: str | None = None, bin_: str = BACK) -> dict:
        def work(c: sqlite3.Connection, now: datetime) -> dict:
            sold = sql.sold_on(c, receipt, sku) if receipt is not None else None
            price = sql.price(c, sku)
            plan = rules.return_items(sql.balances(c, [sku]), sku, qty, resellable=resellable,
                                      unit_price=price, receipt=receipt, sold=sold, bin_=bin_, limits=self.limits)
            return {"refund": -plan.entries[0].change.amount, **self._posted(c, plan, op_id, now)}

        return self._run(op_id, Kind.RETURN, work)

    def receive(self, op_id: str, sku: str, qty: int, *, bin_: str = BACK, delivery: str | None = None) -> dict:
        return self._simple(op_id, Kind.RECEIVE, lambda c, now, b: rules.receive(
            b, sku, qty, bin_=bin_, delivery=delivery, limits=self.limits), [sku])

    def hold(self, op_id: str, sku: str, qty: int, *, ttl: timedelta = timedelta(hours=2), customer: str = "") -> dict:
        def work(c: sqlite3.Connection, now: datetime) -> dict:
            plan = rules.place_hold(sql.balances(c, [sku]), op_id, sku, qty, now=now, ttl=ttl, customer=customer,
                                    limits=self.limits)
            h = plan.opened_holds[0]
            return {"hold_id": h.hold_id, "expires_at": stamp(h.expires_at), **self._posted(c, plan, op_id, now)}

        return self._run(op_id, Kind.HOLD, work)

    def release_hold(self, op_id: str, hold_id: str) -> dict:
        def work(c: sqlite3.Connection, now: datetime) -> dict:
            holds = sql.open_holds(c, [hold_id])
            skus = [h.sku for h in holds.values()]
            plan = rules.release_hold(sql.balances(c, skus) if skus else {}, holds, hold_id, now=now)
            return {"hold_id": hold_id, **self._posted(c, plan, op_id, now)}

        return self._run(op_id, "hold_release", work)

    def expire_holds(self, op_id: str | None = None) -> dict:
        """Return the units of every hold past its time; the runner and any terminal may call it."""
        now = self.clock()
        if not sql.a_hold_due(self.conn, stamp(now)) and op_id is None:
            # nothing to do, and no caller's id to answer for; a caller's id is always
            # recorded, so that asking again gives the same answer and writes nothing
            return {"expired": []}

        op_id = op_id or f"expire:{self.terminal}:{stamp(now)}"

        def work(c: sqlite3.Connection, now: datetime) -> dict:
            holds = sql.open_holds(c)
            plan = rules.expire_holds(sql.balances(c, [h.sku for h in holds.values()]) if holds else {},
                                      holds, now=now)
            return {"expired": [h for h, _ in plan.closed_holds], **self._posted(c, plan, op_id, now)}

        return self._run(op_id, "hold_expiry", work)

    def count(self, op_id: str, sku: str, bin_: str, counted: int, *, confirm_found: bool = False) -> dict:
        """A shelf count; `confirm_found` is the clerk's word that far more than the book is really there."""
        return self._simple(op_id, Kind.COUNT, lambda c, now, b: rules.count(
            b, sku, bin_, counted, confirm_found=confirm_found, limits=self.limits), [sku])

    def write_off(self, op_id: str, kind: Kind | str, sku: str, qty: int, *, bin_: str = FLOOR,
                  reason: str = "") -> dict:
        kind = Kind(kind)
        return self._simple(op_id, kind, lambda c, now, b: rules.write_off(
            b, kind, sku, qty, bin_=bin_, reason=reason, limits=self.limits), [sku])

    def move(self, op_id: str, sku: str, qty: int, *, from_bin: str, to_bin: str) -> dict:
        return self._simple(op_id, Kind.MOVE, lambda c, now, b: rules.move(
            b, sku, qty, from_bin=from_bin, to_bin=to_bin, limits=self.limits), [sku])

    def transfer_out(self, op_id: str, sku: str, qty: int, *, to_location: str, transfer_id: str | None = None,
                     hub_ordered: bool = False, bin_: str = BACK) -> dict:
        return self._simple(op_id, Kind.TRANSFER_OUT, lambda c, now, b: rules.transfer_out(
            b, transfer_id or op_id, sku, qty, to_location=to_location, hub_ordered=hub_ordered, bin_=bin_,
            limits=self.limits), [sku])

    def transfer_in(self, op_id: str, transfer_id: str, sku: str, qty: int, *, from_location: str,
                    bin_: str = BACK) -> dict:
        """Receive a transfer the hub told this node about (a pull), exactly as it was sent."""
        def plan(c: sqlite3.Connection, now: datetime, b: dict[str, Balance]) -> Plan:
            expected, received = pulled.incoming(c, transfer_id)
            applied = sql.applied(c, Kind.TRANSFER_IN, transfer_id) or received
            p = rules.transfer_in(b, transfer_id, sku, qty, from_location=from_location, expected=expected,
                                  already_applied=applied, bin_=bin_)
            pulled.transfer_received(c, transfer_id)
            return p

        return self._simple(op_id, Kind.TRANSFER_IN, plan, [sku])

    def apply_grant(self, op_id: str, grant_id: str, sku: str, qty: int) -> dict:
        """A quota grant pulled from the hub, applied once and only as the hub sent it (see note_grants)."""
        def plan(c: sqlite3.Connection, now: datetime, b: dict[str, Balance]) -> Plan:
            p = rules.apply_grant(b, grant_id, sku, qty, pulled=pulled.pulled_grant(c, grant_id),
                                  already_applied=sql.applied(c, Kind.QUOTA_GRANTED, grant_id))
            pulled.grant_applied(c, grant_id)
            return p

        return self._simple(op_id, Kind.QUOTA_GRANTED, plan, [sku])

    def release_quota(self, op_id: str, sku: str, qty: int, *, request_id: str | None = None) -> dict:
        return self._simple(op_id, Kind.QUOTA_RELEASED, lambda c, now, b: rules.release_quota(
            b, op_id, sku, qty, request_id=request_id), [sku])
