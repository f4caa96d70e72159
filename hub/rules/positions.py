"""A position per SKU and location, and a store entry mirrored on it: what the hub settles.

The hub keeps one `Position` per SKU and location. Its figures always satisfy

    on_hand + shortfall == quota + held + in_flight + hub_share + reserved

where `quota` and `held` mirror the store's ledger, `in_flight` is granted
but not yet applied by the store, `hub_share` is the hub's to promise (minus
the safety buffer), `reserved` is what the hub promised (web reservations and
orders, ordered transfers), and `shortfall` is what over-quota sales took
that no share could cover: reservations at that location are then at risk.

Every entry moves units between the store's side (quota, held) and the
hub's side; an entry's hub-side delta is `on_hand_delta - quota_delta -
held_delta`. A positive one (a release, the hub part of an opening) pays
the shortfall first, then joins the hub share. A negative one is a grant
being applied (out of in-flight), a transfer the hub ordered (out of its
reservation), or over-quota to settle (hub share, then reservations at risk).
A web order handed over at the store (`order_handed_over`) leaves out of its
own reservation: `reserved` and `on_hand` drop together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from sync.kinds import Kind


@dataclass
class Position:
    location: str
    sku: str
    on_hand: int = 0
    quota: int = 0
    held: int = 0
    in_flight: int = 0
    hub_share: int = 0
    reserved: int = 0
    shortfall: int = 0
    safety_buffer: int = 0

    @property
    def promisable(self) -> int:
        """What the hub may still promise here: its share above the safety buffer."""
        return max(0, self.hub_share - self.safety_buffer)

    def row(self) -> tuple:
        """location, sku and the figures, in declaration order (the positions table's columns)."""
        return (self.location, self.sku, self.on_hand, self.quota, self.held, self.in_flight, self.hub_share,
                self.reserved, self.shortfall, self.safety_buffer)

    @property
    def balanced(self) -> bool:
        return (self.on_hand + self.shortfall
                == self.quota + self.held + self.in_flight + self.hub_share + self.reserved)

    def credit_hub(self, units: int) -> None:
        """Units coming to the hub's side: they pay any shortfall first."""
        paid = min(self.shortfall, units)
        self.shortfall -= paid
        self.hub_share += units - paid


@dataclass
class Reservation:
    reservation_id: str
    location: str
    sku: str
    qty: int
    status: str  # held | ordered | to_hand_over | done | cancelled | expired | transfer
    expires_at: datetime | None
    at_risk: bool = False
    how: str | None = None  # an order's fulfilment, once the web shop asked for it: pickup | ship


# Reservations whose units are still promised: a cart hold, an order (and one a store is asked to
# hand over), a transfer the hub ordered.
OPEN = ("held", "ordered", "to_hand_over", "transfer")


@dataclass
class Settlement:
    """What applying one store entry did beyond mirroring it."""

    from_share: int = 0
    shortfall: int = 0
    at_risk: list[str] = field(default_factory=list)
    # Mismatches ops should see, as (incident kind, message); the entry is applied anyway.
    problems: list[tuple[str, str]] = field(default_factory=list)

    def problem(self, kind: str, message: str) -> None:
        self.problems.append((kind, message))

    @property
    def note(self) -> str | None:
        return "; ".join(m for _, m in self.problems) or None


class EntryFacts(NamedTuple):
    """The parts of a ledger entry the hub's arithmetic needs (sync.models.LedgerEntry has them).

    A NamedTuple: the hub makes one per entry it takes in, and a tuple is made in a
    quarter of the time a frozen dataclass takes.
    """

    seq: int
    kind: str
    sku: str
    qty: int
    on_hand_delta: int
    quota_delta: int
    held_delta: int
    over_quota: int
    ref: str | None
    hub_ordered: bool = False  # what the store claims; see apply_entry
    quota_after: int | None = None
    request_id: str | None = None  # the release request a quota_released entry answers
    counterpart: str | None = None  # a transfer's other location: "to" of a transfer out, "from" of one in


def apply_entry(pos: Position, e: EntryFacts, reservations: Iterable[Reservation] = (),
                grant_qty: int | None = None, grant_status: str | None = None,
                order: Reservation | None = None) -> Settlement:
    """Mirror one store entry on the hub's position; settle what the store could not cover.

    A store's entry is a fact: it is never refused here. `grant_qty` and
    `grant_status` are the hub's record of the grant a `quota_granted` entry
    applies; None if the entry may not apply any (unknown, another store's:
    see `check_grant`), and then its units are settled like an over-quota.
    `order` is the web order an `order_handed_over` entry hands over, open
    at this store (see `check_order`); None if it may not consume one, and
    then its units too are settled like an over-quota. `reservations` (the
    open ones at this position, newest first, the same objects as `order`)
    are only looked at when the entry takes more than the hub's share or
    leaves a shortfall, so a caller may read them lazily.
    """
    s = Settlement()
    pos.on_hand += e.on_hand_delta
    pos.quota += e.quota_delta
    pos.held += e.held_delta
    hub_side = e.on_hand_delta - e.quota_delta - e.held_delta
    if hub_side > 0:
        pos.credit_hub(hub_side)
    need = max(0, -hub_side)
    if e.kind == Kind.QUOTA_GRANTED and grant_qty is not None:
        need = _apply_grant(pos, e, need, grant_qty, grant_status, s)
    elif e.kind == Kind.ORDER_HANDED_OVER and order is not None:
        need = _hand_over(pos, e, need, order, reservations, s)
    elif e.kind == Kind.TRANSFER_OUT and e.hub_ordered:
        # Only the hub can say it ordered a transfer, and it orders none yet: a store's claim would
        # take the units out of web reservations' backing. Settled as the store's own transfer.
        s.problem("unverified_hub_order", f"store {pos.location} says transfer {e.ref} (seq {e.seq}) was ordered "
                                          "by the hub; the hub has no such order: settled as the store's own")
    if need:
        _settle(pos, need, reservations, s)
    if e.quota_after is not None and pos.quota != e.quota_after:
        s.problem("mismatch", f"store says quota {e.quota_after} after seq {e.seq}, hub has {pos.quota}")
    return s


def _apply_grant(pos: Position, e: EntryFacts, applied: int, grant_qty: int, grant_status: str | None,
                 s: Settlement) -> int:
    """A grant applied by the store: returns what is left to settle like an over-quota.

    The grant's own units leave in-flight once, whatever the store applied: more than
    the grant is settled like an over-quota, less returns the rest to the hub's share
    (which pays a shortfall first). An entry naming the grant's quantity that backs
    fewer units is no mismatch: a node backs quota only with units on hand, and an
    over-quota sale may have taken the units in flight. A second application takes
    nothing from in-flight.
    """
    if grant_status == "applied":
        s.problem("grant_repeated", f"store applied grant {e.ref} again (seq {e.seq}); "
                                    f"{applied} units settled like an over-quota")
        return applied
    own = min(grant_qty, pos.in_flight)
    pos.in_flight -= own
    used = min(applied, own)
    pos.credit_hub(own - used)
    if e.qty != grant_qty or applied > grant_qty:
        s.problem("grant_mismatch", f"store applied grant {e.ref} as {applied} units (seq {e.seq}); "
                                    f"the grant was of {grant_qty}")
    return applied - used


def _hand_over(pos: Position, e: EntryFacts, taken: int, order: Reservation, reservations: Iterable[Reservation],
               s: Settlement) -> int:
    """An order handed over at the store: its reservation backs the units that left; returns what is
    left to settle like an over-quota.

    An honest store takes exactly the order's units out of the hub's side (`taken`). What it took
    out of its quota instead returns the order's claim to the hub's share, and ops hears of it.
    """
    pos.reserved -= order.qty
    order.status = "done"
    covered = min(taken, order.qty)
    if covered < order.qty:
        pos.credit_hub(order.qty - covered)
        s.problem("hand_over_from_quota", f"store {pos.location} handed over order {order.reservation_id} "
                                          f"(seq {e.seq}) out of its quota, not the hub's share")
    if pos.shortfall:
        # The order bore part of the shortfall: the reservations left here bear it now.
        _keep_at_risk(pos, reservations, s)
    return taken - covered


def _keep_at_risk(pos: Position, reservations: Iterable[Reservation], s: Settlement) -> None:
    """Mark open reservations here at risk (newest first) until they cover the shortfall, or all are."""
    here = [r for r in reservations if r.location == pos.location and r.sku == pos.sku and r.status in OPEN]
    marked = sum(r.qty for r in here if r.at_risk)
    for r in here:
        if marked >= min(pos.shortfall, pos.reserved):
            return
        if not r.at_risk:
            r.at_risk = True
            s.at_risk.append(r.reservation_id)
            marked += r.qty


def _settle(pos: Position, need: int, reservations: Iterable[Reservation], s: Settlement) -> None:
    """Units gone from the hub's side without its say (over-quota, uncovered loss)."""
    take = min(pos.hub_share, need)
    pos.hub_share -= take
    s.from_share = take
    need -= take
    if not need:
        return
    pos.shortfall += need
    s.shortfall = need
    # Reservations here are promises no longer backed (callers pass newest first): ops re-sources them.
    uncovered = need
    for r in reservations:
        if uncovered <= 0:
            break
        if r.location == pos.location and r.sku == pos.sku and r.status in OPEN and not r.at_risk:
            r.at_risk = True
            s.at_risk.append(r.reservation_id)
            uncovered -= r.qty
    if uncovered > 0:
        # No promise of ours is hurt, but the store's quota may now outrun its stock.
        s.problem("shortfall", f"{uncovered} of {pos.sku} went over quota at {pos.location} beyond the hub's "
                               "share; the store's quota may outrun its stock: count it")
