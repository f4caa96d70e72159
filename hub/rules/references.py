"""What a store's entry refers to: the hub's grants, release requests, transfers and web orders.

Every id a store's entry names (a grant, a release request, a transfer, a web order
handed over) must be that store's own. A foreign or unknown one is a problem for ops and never changes the
record: the entry is still applied as a fact (see positions.apply_entry).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from hub.rules.positions import EntryFacts, Position, Reservation, Settlement, apply_entry
from sync.kinds import Kind


@dataclass
class GrantRecord:
    grant_id: str
    store_id: str
    sku: str
    qty: int
    status: str  # in_flight | applied


@dataclass
class ReleaseRecord:
    request_id: str
    store_id: str
    sku: str
    status: str  # open | answered
    released: int | None = None


@dataclass
class TransferRecord:
    """Units between two stores. Whichever entry reaches the hub first opens it: a transfer out
    as `in_transit` (the receiver's pull lists it), a transfer in as `arrived`; the other closes
    it as `received`."""

    transfer_id: str
    from_location: str
    to_location: str
    sku: str
    qty: int
    status: str  # in_transit | arrived | received


@dataclass
class Records:
    """The hub's records that a batch's entries name, by id, as they stand while it is applied.

    `changed` are the ids whose record an entry changed or made (`made`): the caller writes them.
    """

    grants: dict[str, GrantRecord] = field(default_factory=dict)
    releases: dict[str, ReleaseRecord] = field(default_factory=dict)
    transfers: dict[str, TransferRecord] = field(default_factory=dict)
    orders: dict[str, Reservation] = field(default_factory=dict)  # web orders handed over, by id
    locations: set[str] = field(default_factory=set)  # the chain's, when a transfer is named
    changed: set[str] = field(default_factory=set)
    made: set[str] = field(default_factory=set)


class Wanted(NamedTuple):
    grants: set[str]
    releases: set[str]
    transfers: set[str]
    orders: set[str]


def wanted(entries: Iterable[EntryFacts]) -> Wanted:
    """The ids of the hub's records that these entries name, by table."""
    w = Wanted(set(), set(), set(), set())
    for e in entries:
        if e.kind == Kind.QUOTA_GRANTED and e.ref:
            w.grants.add(e.ref)
        elif e.kind == Kind.QUOTA_RELEASED and e.request_id:
            w.releases.add(e.request_id)
        elif e.kind in (Kind.TRANSFER_OUT, Kind.TRANSFER_IN) and e.ref:
            w.transfers.add(e.ref)
        elif e.kind == Kind.ORDER_HANDED_OVER and e.ref:
            w.orders.add(e.ref)
    return w


def apply_store_entry(pos: Position, store_id: str, e: EntryFacts, records: Records,
                      reservations: Iterable[Reservation] = ()) -> Settlement:
    """Check what `e` refers to against `records`, update those that are the store's, apply `e`."""
    problems: list[tuple[str, str]] = []
    grant = order = None
    if e.kind == Kind.QUOTA_GRANTED:
        grant, problem = check_grant(store_id, e, records.grants.get(e.ref) if e.ref else None)
        problems += [problem] if problem else []
    elif e.kind == Kind.QUOTA_RELEASED and e.request_id:
        problems += _answer_release(store_id, e, records)
    elif e.kind in (Kind.TRANSFER_OUT, Kind.TRANSFER_IN):
        problems += _match_transfer(store_id, e, records)
    elif e.kind == Kind.ORDER_HANDED_OVER:
        order, problem = check_order(store_id, e, records.orders.get(e.ref) if e.ref else None)
        problems += [problem] if problem else []
    s = apply_entry(pos, e, reservations, grant.qty if grant else None, grant.status if grant else None, order)
    if grant is not None and grant.status != "applied":
        grant.status = "applied"
        records.changed.add(grant.grant_id)
    if order is not None:
        records.changed.add(order.reservation_id)
    s.problems[:0] = problems
    return s


def check_grant(store_id: str, e: EntryFacts, g: GrantRecord | None) -> tuple[GrantRecord | None,
                                                                               tuple[str, str] | None]:
    """The grant a quota_granted entry may apply, or None and why not."""
    if g is None:
        return None, ("unknown_reference", f"store {store_id} applied grant {e.ref} (seq {e.seq}), which the hub "
                                           "never made; its units settled like an over-quota")
    if g.store_id != store_id:
        return None, ("foreign_reference", f"store {store_id} applied grant {e.ref} (seq {e.seq}) of store "
                                           f"{g.store_id}; its units settled like an over-quota")
    if g.sku != e.sku:
        return None, ("reference_mismatch", f"store {store_id} applied grant {e.ref} of {g.sku} to {e.sku} "
                                            f"(seq {e.seq}); its units settled like an over-quota")
    return g, None


def check_order(store_id: str, e: EntryFacts, r: Reservation | None) -> tuple[Reservation | None,
                                                                             tuple[str, str] | None]:
    """The web order an order_handed_over entry may consume, or None and why not.

    Only an order still open at this store, of the entry's SKU and units: one cancelled, moved to
    another location or handed over already was not there to hand over, so its units left the
    hub's share unplanned and are settled like an over-quota. An order the hub holds as `ordered`
    here (not yet asked for) is taken: a hub restored from a backup may have lost the asking.
    """
    ref = f"order {e.ref} (seq {e.seq})"
    if r is None:
        return None, ("unknown_reference", f"store {store_id} handed over {ref}, which the hub never took; "
                                           "its units settled like an over-quota")
    if r.location != store_id:
        return None, ("foreign_reference", f"store {store_id} handed over {ref}, which is to be fulfilled at "
                                           f"{r.location}; its units settled like an over-quota")
    if (r.sku, r.qty) != (e.sku, e.qty):
        return None, ("reference_mismatch", f"store {store_id} handed over {ref} as {e.qty} of {e.sku}; the order "
                                            f"is for {r.qty} of {r.sku}: its units settled like an over-quota")
    if r.status == "done":
        return None, ("order_repeated", f"store {store_id} handed over {ref} again; "
                                        "its units settled like an over-quota")
    if r.status not in ("ordered", "to_hand_over"):
        return None, ("order_not_open", f"store {store_id} handed over {ref}, which is {r.status}; "
                                        "its units settled like an over-quota")
    return r, None


def _answer_release(store_id: str, e: EntryFacts, records: Records) -> list[tuple[str, str]]:
    rid = e.request_id or ""
    r = records.releases.get(rid)
    if r is None:
        return [("unknown_reference", f"store {store_id} answered release request {rid} (seq {e.seq}), "
                                      "which the hub never made")]
    if r.store_id != store_id:
        return [("foreign_reference", f"store {store_id} answered release request {rid} (seq {e.seq}) "
                                      f"of store {r.store_id}")]
    if r.sku != e.sku:
        return [("reference_mismatch", f"store {store_id} answered release request {rid} of {r.sku} "
                                       f"with {e.sku} (seq {e.seq})")]
    if r.status == "open":
        r.status, r.released = "answered", e.qty
        records.changed.add(rid)
    return []


def _match_transfer(store_id: str, e: EntryFacts, records: Records) -> list[tuple[str, str]]:
    """Match a transfer's two halves by id, SKU, quantity, source and destination, in either order."""
    tid, other = e.ref, e.counterpart
    out = e.kind == Kind.TRANSFER_OUT
    if not tid or not other:
        return [("reference_mismatch", f"store {store_id} wrote a {e.kind} (seq {e.seq}) without a transfer id "
                                       "or the other location; it cannot be matched")]
    if other not in records.locations or other == store_id:
        return [("unknown_reference", f"store {store_id} wrote a {e.kind} (seq {e.seq}) of transfer {tid} "
                                      f"{'to' if out else 'from'} {other[:40]!r}, which is no other location")]
    src, dst = (store_id, other) if out else (other, store_id)
    t = records.transfers.get(tid)
    if t is None:
        records.transfers[tid] = TransferRecord(tid, src, dst, e.sku, e.qty, "in_transit" if out else "arrived")
        records.changed.add(tid)
        records.made.add(tid)
        return []
    mine = t.from_location == store_id if out else t.to_location == store_id
    if not mine:
        return [("foreign_reference", f"store {store_id} wrote a {e.kind} (seq {e.seq}) under transfer {tid}, "
                                      f"which is from {t.from_location} to {t.to_location}")]
    if t.status != ("arrived" if out else "in_transit"):
        return [("transfer_repeated", f"store {store_id} wrote a second {e.kind} (seq {e.seq}) for transfer {tid}")]
    t.status = "received"
    records.changed.add(tid)
    differ = [f"{name} {a} against {b}" for name, a, b in (
        ("source", src, t.from_location), ("destination", dst, t.to_location), ("SKU", e.sku, t.sku),
        ("quantity", e.qty, t.qty)) if a != b]
    if differ:
        return [("transfer_mismatch", f"transfer {tid}: store {store_id}'s {e.kind} (seq {e.seq}) says "
                                      + ", ".join(differ) + " in the other store's entry")]
    return []
