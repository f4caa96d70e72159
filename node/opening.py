"""A store's node file set up: from fixtures or the hub's opening, or restored from the hub's copy of its ledger.

`Node.initialise`, `Node.restore` and `Node.restore_tail` call these;
`initialise_from_chain` sets a node up as one store of the demo chain.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from node import rules
from node.errors import BadInput
from node.rules import BACK, FLOOR, Balance, Plan
from node.store import immediate
from node.store import ledger as sql
from node.store import pulled
from sync.kinds import Kind, Policy, stamp

if TYPE_CHECKING:
    from node.service import Node
    from sync.models import LedgerEntry, StoreOpening

DEFAULT_QUOTA_SHARE = 0.7  # of each SKU's unbuffered stock, the store's to sell offline


def _refuse_if_held(node: Node, into: str) -> None:
    if "store_id" in node.meta():  # fresh read
        raise BadInput(f"{node.path} already holds store {node.meta()['store_id']}; {into}.")


def initialise(node: Node, *, store_id: str, name: str, policy: Policy, items: Iterable[Mapping[str, Any]],
               stock: Iterable[tuple[str, str, int, int]], locations: Iterable[tuple[str, str, str]] = ()) -> None:
    """Load a store: its catalog, and per SKU (sku, bin, on_hand, quota) from fixtures or the hub.

    The opening figures are written as `receive` entries so that the
    ledger alone explains every unit on hand.
    """
    _refuse_if_held(node, "use a new file")
    now = node.clock()
    with immediate(node.conn) as c:
        c.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [("store_id", store_id), ("store_name", name), ("policy", str(Policy(policy))),
             ("created_at", stamp(now))],
        )
        sql.load_catalog(c, items)
        sql.put_locations(c, locations)
        balances: dict[str, Balance] = {}
        for sku, bin_, qty, quota in stock:
            b = balances.setdefault(sku, Balance(sku))
            b.bins[bin_] = b.bins.get(bin_, 0) + qty
            b.quota += quota
        plan = Plan(balances)
        for b in list(balances.values()):
            opening = Balance(b.sku)
            plan.balances[b.sku] = opening
            for bin_, qty in sorted(b.bins.items()):
                if qty:
                    share = min(qty, b.quota - opening.quota)
                    plan.post(rules.Change(Kind.RECEIVE, b.sku, qty, ((bin_, qty),), quota_delta=share,
                                           ref="opening", detail={"opening": True}))
        first, last = sql.persist(c, plan, store_id=store_id, op_id="opening", at=stamp(now),
                                  terminal=node.terminal, clerk=node.clerk)
        sql.record(c, "opening", "opening", {"op_id": "opening", "store_id": store_id, "seq": [first, last]},
                   stamp(now))


def restore(node: Node, opening: StoreOpening) -> None:
    """A replaced machine: take the hub's copy of this store's ledger and replay it.

    Entries are written exactly as the store first wrote them, so the hub
    sees the same hashes; balances, open holds and receipt counters are
    derived from them.
    """
    _refuse_if_held(node, "restore into a new file")
    last = opening.ledger[-1].seq if opening.ledger else 0
    with immediate(node.conn) as c:
        c.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                      [("store_id", opening.store_id), ("store_name", opening.name), ("policy", opening.policy),
                       ("created_at", stamp(node.clock())), ("pushed_seq", str(last))])
        sql.load_catalog(c, (it.model_dump() for it in opening.catalog))
        sql.put_locations(c, [(loc.id, loc.name, loc.kind) for loc in opening.locations])
        replay(c, opening.ledger)


def restore_tail(node: Node, entries: list[LedgerEntry]) -> int:
    """A node restored from an old copy: append the hub's copy of the entries this file lacks.

    The entries must continue this ledger exactly (the next sequences, this
    store's); they are written as the hub holds them and the state they
    imply is derived as `restore` does. Returns how many were appended.
    """
    if not entries:
        return 0
    store_id = node.store_id
    with immediate(node.conn) as c:
        last = sql.last_seq(c)
        seqs = [e.seq for e in entries]
        if seqs != list(range(last + 1, last + 1 + len(entries))):
            raise BadInput(f"The hub's entries {seqs[0]}..{seqs[-1]} do not continue this ledger, "
                           f"which ends at seq {last}.")
        if any(e.store_id != store_id for e in entries):
            raise BadInput(f"The hub's entries are not all store {store_id}'s; nothing was restored.")
        replay(c, entries)
        sql.put_meta(c, pushed_seq=str(seqs[-1]))
    return len(entries)


def replay(c: sqlite3.Connection, entries: Iterable[LedgerEntry]) -> None:
    """Write the hub's copy of entries as they are, and the state they imply on top of this file's."""
    entries = list(entries)
    balances = sql.balances(c, {e.sku for e in entries}) if entries else {}
    receipts = {r[0]: r[1] for r in c.execute("SELECT terminal, last_receipt FROM terminals")}
    opened: dict[str, tuple] = {}
    closed: dict[str, str] = {}
    grants: list[tuple] = []
    arrived: list[tuple] = []
    handed: list[tuple] = []
    rows = []
    for e in entries:
        b = balances.setdefault(e.sku, Balance(e.sku, {FLOOR: 0, BACK: 0}))
        rules.apply_change(b, rules.Change(
            Kind(e.kind), e.sku, e.qty, ((FLOOR, e.floor_delta), (BACK, e.back_delta)),
            quota_delta=e.quota_delta, held_delta=e.held_delta, over_quota=e.over_quota))
        if e.kind == Kind.HOLD:
            opened[e.ref] = (e.ref, e.sku, e.qty, e.detail.get("expires_at"), e.detail.get("customer", ""),
                             e.terminal, e.clerk)
        elif e.kind in (Kind.HOLD_RELEASED, Kind.HOLD_EXPIRED):
            closed[e.ref] = str(e.kind).removeprefix("hold_")
        elif e.kind == Kind.HOLD_CONVERTED:
            closed[e.detail.get("hold_id")] = "converted"
        elif e.kind == Kind.QUOTA_GRANTED and e.ref:
            grants.append((e.ref, e.sku, e.qty))
        elif e.kind == Kind.TRANSFER_IN and e.ref:
            arrived.append((e.ref, e.detail.get("from", ""), e.sku, e.qty))
        elif e.kind == Kind.ORDER_HANDED_OVER and e.ref:
            handed.append((e.ref, e.sku, e.qty, str(e.detail.get("how", "pickup")), e.at))
        if e.kind in rules.SOLD and e.ref and e.ref.count("-") >= 2:
            n = int(e.ref.rsplit("-", 1)[1])
            receipts[e.terminal] = max(receipts.get(e.terminal, 0), n)
        rows.append(tuple(e.model_dump(mode="json")[k] if k != "detail" else json.dumps(e.detail, sort_keys=True)
                          for k in sql.LEDGER_COLS.replace(" ", "").split(",")))
    c.executemany(sql.INSERT_LEDGER, rows)
    sql.put_balances(c, balances.values())
    c.executemany("INSERT OR IGNORE INTO holds (hold_id, sku, qty, expires_at, customer, terminal, clerk) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?)", list(opened.values()))
    sql.close_holds(c, closed.items())
    c.executemany("INSERT INTO terminals (terminal, last_receipt) VALUES (?, ?) ON CONFLICT(terminal) "
                  "DO UPDATE SET last_receipt = max(last_receipt, excluded.last_receipt)", list(receipts.items()))
    pulled.applied_grants(c, grants)
    pulled.received_transfers(c, arrived)
    pulled.handed_over_orders(c, handed)
    c.executemany("INSERT OR IGNORE INTO operations (op_id, kind, result, at) VALUES (?, 'restored', ?, ?)",
                  [(r[2], json.dumps({"op_id": r[2], "restored": True}), r[18]) for r in rows])


def opening_quota(on_hand: int, safety_buffer: int, share: float = DEFAULT_QUOTA_SHARE) -> int:
    """The store's opening quota: a share of what is left after the safety buffer."""
    return int(max(0, on_hand - safety_buffer) * share)


def initialise_from_chain(node: Node, chain: Any, store_id: str, *, policy: Policy = Policy.IN_HAND,
                          quota_share: float = DEFAULT_QUOTA_SHARE) -> None:
    """Set a node up as one store of a fixtures chain (see fixtures.chain), without a hub."""
    location = next((loc for loc in chain.locations if loc.id == store_id and loc.kind == "store"), None)
    if location is None:
        stores = ", ".join(loc.id for loc in chain.stores())
        raise BadInput(f"The demo chain has no store {store_id}; choose one of {stores}.")
    by_sku: dict[str, dict[str, int]] = {}
    for line in chain.stock(store_id):
        by_sku.setdefault(line.sku, {})[line.bin] = line.qty
    stock = []
    for sku, bins in by_sku.items():
        quota = opening_quota(sum(bins.values()), chain.item(sku).safety_buffer, quota_share)
        for bin_, qty in sorted(bins.items()):
            # a SKU's quota is given once; Node.initialise spreads it over the bins
            stock.append((sku, bin_, qty, quota))
            quota = 0
    node.initialise(store_id=store_id, name=location.name, policy=policy,
                    items=(asdict(it) for it in chain.catalog), stock=stock,
                    locations=[(loc.id, loc.name, loc.kind) for loc in chain.locations])


class Setup:
    """`Node`'s setting up and restoring: each a function above, and the node's cached settings read afresh."""

    def initialise(self: Node, *, store_id: str, name: str, policy: Policy, items: Iterable[Mapping[str, Any]],
                   stock: Iterable[tuple[str, str, int, int]], locations: Iterable[tuple[str, str, str]] = ()) -> None:
        """Load a store from fixtures or the hub's opening (see `initialise` above)."""
        initialise(self, store_id=store_id, name=name, policy=policy, items=items, stock=stock, locations=locations)
        self._meta_cache = None

    def restore(self: Node, opening_: StoreOpening) -> None:
        """A replaced machine: the hub's copy of this store's ledger, replayed (see `restore` above)."""
        restore(self, opening_)
        self._meta_cache = None

    def restore_tail(self: Node, entries: list[LedgerEntry]) -> int:
        """Append the hub's copy of the entries an old copy of this file lacks; how many."""
        n = restore_tail(self, entries)
        if n:
            self._meta_cache = None
        return n
