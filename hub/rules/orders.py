"""Web orders fulfilled, cancelled or re-sourced: what the web shop and ops ask of an order.

An order (a committed reservation) is fulfilled out of the hub's share where it
is reserved. At a location with only a hub share (the warehouse) the hub records
it itself: shipped, the units leave (`on_hand` and `reserved` drop together). At
a store only the store's ledger may say a unit left: the order becomes
`to_hand_over` (picked up at the counter, or sent off by the store), the store's
pull lists it, and its `order_handed_over` entry consumes the reservation when
it arrives (see positions.apply_entry). Until then it can still be cancelled or
moved; an entry for an order no longer there is settled like an over-quota.
"""

from __future__ import annotations

from collections.abc import Iterable

from hub.rules.errors import BadRequest, Conflict
from hub.rules.positions import Position, Reservation
from hub.rules.promises import pick_location, reserve

FULFILMENTS = ("pickup", "ship")
TO_FULFIL = ("ordered", "to_hand_over")  # an order not yet handed over


def fulfil(pos: Position, r: Reservation, how: str, *, at_store: bool) -> bool:
    """Fulfil order `r`, reserved at `pos`, by `how` (pickup or ship); False if it already was, as asked.

    At a store the order becomes `to_hand_over`; asking again is answered as the first time, but
    the other method is refused: the store may have pulled the first one already (a parcel packed,
    or the order put at the counter), and nothing tells the hub it has not. Anywhere else only
    shipping is possible, and it is done now.
    """
    if how not in FULFILMENTS:
        raise BadRequest(f"An order is fulfilled by pickup or ship, not {how!r}.")
    _an_order(r, "fulfilled")
    if r.status == "done":
        if r.how == how:
            return False
        raise Conflict(f"Order {r.reservation_id} was handed over already ({_how(r.how)}).")
    if not at_store:
        if how == "pickup":
            raise Conflict(f"Order {r.reservation_id} is reserved at {r.location}, which has no counter to pick up "
                           "at; ship it, or re-source it to a store.")
        pos.reserved -= r.qty
        pos.on_hand -= r.qty
        r.status, r.how = "done", how
        return True
    if r.status == "to_hand_over":
        if r.how == how:
            return False
        raise Conflict(f"Order {r.reservation_id} is to be {_how(r.how)} already; to have it {_how(how)} "
                       "instead, cancel it and order again.")
    r.status, r.how = "to_hand_over", how
    return True


def cancel_order(pos: Position, r: Reservation) -> bool:
    """The customer cancels: the order's units return to the hub (its shortfall first). False if it
    was cancelled already; an order handed over cannot be (a unit back is a return at a store)."""
    if r.status == "cancelled":
        return False
    if r.status == "done":
        raise Conflict(f"Order {r.reservation_id} was handed over ({_how(r.how)}); it cannot be cancelled. "
                       "A unit brought back is a return.")
    if r.status not in ("held", *TO_FULFIL):
        raise Conflict(f"Reservation {r.reservation_id} is {r.status}; there is nothing to cancel.")
    pos.reserved -= r.qty
    pos.credit_hub(r.qty)
    r.status = "cancelled"
    return True


def resource(old: Position, new: Position, r: Reservation) -> None:
    """Move an at-risk order to `new`'s hub share, in one step: reserved there, its claim at `old` released.

    The claim at `old` goes back as a cancel's does: it pays the shortfall that put the order at
    risk first. The order is `ordered` again at its new location (how to fulfil it is asked anew).
    """
    may_resource(r)
    if new.location == old.location or new.sku != r.sku:
        raise Conflict(f"Order {r.reservation_id} is for {r.sku} at {r.location} already; re-source it to another "
                       "location.")
    reserve(new, r.qty)
    old.reserved -= r.qty
    old.credit_hub(r.qty)
    r.location, r.at_risk, r.status, r.how = new.location, False, "ordered", None


def may_resource(r: Reservation) -> None:
    """Refuse, saying why, unless `r` is an order not yet handed over and at risk."""
    if r.status not in TO_FULFIL:
        raise Conflict(f"Reservation {r.reservation_id} is {r.status}; only an order not yet handed over "
                       "can be re-sourced.")
    if not r.at_risk:
        raise Conflict(f"Order {r.reservation_id} is not at risk: its units at {r.location} are still backed.")


def best_elsewhere(positions: Iterable[Position], r: Reservation) -> Position:
    """Where to re-source `r` when ops says "best": the most promisable location other than its own."""
    return pick_location((p for p in positions if p.location != r.location), r.qty)


def _an_order(r: Reservation, doing: str) -> None:
    if r.status == "held":
        raise Conflict(f"Reservation {r.reservation_id} is a cart hold, not an order; commit it before it is {doing}.")
    if r.status not in (*TO_FULFIL, "done"):
        raise Conflict(f"Order {r.reservation_id} is {r.status}; it cannot be {doing}.")


def _how(how: str | None) -> str:
    return {"pickup": "picked up", "ship": "shipped"}.get(how or "", "handed over")
