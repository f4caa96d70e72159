"""What the hub promises out of its share: quota granted to a store, web reservations and orders."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from hub.rules.errors import BadRequest, Blocked, Conflict, NotEnough
from hub.rules.positions import Position, Reservation


def grant(pos: Position, qty: int, *, blocked: bool = False) -> None:
    """Hub -> store: the hub's share goes down now; the units are in flight until the store applies them."""
    if blocked:
        raise Blocked(f"Store {pos.location} has an open incident; no grants until ops clears it.")
    if qty <= 0:
        raise BadRequest(f"A grant must be of at least 1 unit, not {qty}.")
    if qty > pos.promisable:
        raise NotEnough(f"The hub can promise only {pos.promisable} of {pos.sku} at {pos.location}; {qty} asked.")
    pos.hub_share -= qty
    pos.in_flight += qty


def send_transfer(pos: Position, qty: int) -> None:
    """A transfer the hub orders from a location it ships itself (a warehouse): out of its share, gone now.

    The units leave with the truck: the receiving store's transfer in adds them to its quota.
    """
    if qty <= 0:
        raise BadRequest(f"A transfer must be of at least 1 unit, not {qty}.")
    if qty > pos.promisable:
        raise NotEnough(f"The hub can promise only {pos.promisable} of {pos.sku} at {pos.location} now; "
                        f"the transfer wants {qty}.")
    pos.hub_share -= qty
    pos.on_hand -= qty


def reserve(pos: Position, qty: int) -> None:
    if qty <= 0:
        raise BadRequest(f"A reservation must be of at least 1 unit, not {qty}.")
    if qty > pos.promisable:
        raise NotEnough(f"Only {pos.promisable} of {pos.sku} can be promised at {pos.location}; {qty} asked.")
    pos.hub_share -= qty
    pos.reserved += qty


def unreserve(pos: Position, r: Reservation, status: str) -> None:
    """A reservation cancelled or expired: its units come back to the hub.

    A cancel takes a cart hold or an order not yet handed over; only a cart hold expires (an order never does).
    """
    allowed = ("held",) if status == "expired" else ("held", "ordered", "to_hand_over")
    if r.status not in allowed:
        raise Conflict(f"Reservation {r.reservation_id} is {r.status}; it cannot become {status}.")
    pos.reserved -= r.qty
    pos.credit_hub(r.qty)
    r.status = status


def due(r: Reservation, now: datetime) -> bool:
    """Is this a cart hold past its time, as of `now`? An order is never due."""
    return r.status == "held" and r.expires_at is not None and r.expires_at <= now


def expire(pos: Position, r: Reservation, now: datetime) -> bool:
    """Expire `r` if, in its current state, it is a cart hold past its time; else change nothing.

    The caller reads `r` in the transaction that writes the result: a hold committed to an order,
    or cancelled, since it was listed as due is left alone.
    """
    if not due(r, now):
        return False
    unreserve(pos, r, "expired")
    return True


def commit(r: Reservation, now: datetime) -> None:
    if r.status == "ordered":
        return
    if r.status != "held":
        raise Conflict(f"Reservation {r.reservation_id} is {r.status}; it cannot become an order.")
    if r.expires_at is not None and now >= r.expires_at:
        raise Conflict(f"Reservation {r.reservation_id} expired at {r.expires_at:%Y-%m-%d %H:%M} UTC.")
    r.status = "ordered"


def pick_location(positions: Iterable[Position], qty: int) -> Position:
    """Where to reserve when the web shop does not name a location: the most promisable."""
    best = max(positions, key=lambda p: (p.promisable, p.location), default=None)
    if best is None or best.promisable < qty:
        have = best.promisable if best else 0
        raise NotEnough(f"No location can promise {qty}; the most any can is {have}.")
    return best
