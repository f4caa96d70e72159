"""The store's quota: holds put aside out of it, grants from the hub into it, releases back to the hub."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from node.bounds import DEFAULT_LIMITS, MAX_UNITS, Limits, check_qty, check_text, check_ttl
from node.errors import AlreadyApplied, GrantMismatch, HoldUnavailable, NotOnHand, QuotaExceeded, UnknownGrant
from node.rules.types import Balance, Change, Hold, Plan
from sync.kinds import Kind


def place_hold(balances: Mapping[str, Balance], hold_id: str, sku: str, qty: int, *, now: datetime,
               ttl: timedelta, customer: str = "", limits: Limits = DEFAULT_LIMITS) -> Plan:
    """Put units aside for a customer, out of the store's quota."""
    check_qty(qty, most=limits.max_line_qty)
    check_text(hold_id, "A hold id")
    check_text(customer, "A customer's name", empty_ok=True)
    check_ttl(ttl)
    plan = Plan.over(balances, [sku])
    b = plan.balances[sku]
    if qty > b.quota:
        raise QuotaExceeded(f"Only {b.quota} of {sku} are free to hold here; {qty} asked.")
    if qty > b.on_hand - b.held:
        # Quota can outrun the book (a grant landing after an unsynced over-quota sale):
        # a hold is a promise to a customer, so it needs a unit on the shelf too.
        raise NotOnHand(f"The book shows only {max(b.on_hand - b.held, 0)} of {sku} not already held; "
                        f"{qty} cannot be put aside.")
    hold = Hold(hold_id, sku, qty, now + ttl, customer)
    plan.post(Change(Kind.HOLD, sku, qty, (), quota_delta=-qty, held_delta=qty, ref=hold_id,
                     detail={"expires_at": hold.expires_at.isoformat(), "customer": customer}))
    plan.opened_holds.append(hold)
    return plan


def release_hold(balances: Mapping[str, Balance], holds: Mapping[str, Hold], hold_id: str, *,
                 now: datetime) -> Plan:
    """The customer will not come: the held units go back to the quota."""
    hold = holds.get(hold_id)
    if hold is None:
        raise HoldUnavailable(f"Hold {hold_id} is not open (unknown, already released, sold or expired).")
    plan = Plan.over(balances, [hold.sku])
    kind = Kind.HOLD_EXPIRED if now >= hold.expires_at else Kind.HOLD_RELEASED
    plan.post(Change(kind, hold.sku, hold.qty, (), quota_delta=hold.qty, held_delta=-hold.qty, ref=hold_id))
    plan.closed_holds.append((hold_id, kind))
    return plan


def expire_holds(balances: Mapping[str, Balance], holds: Mapping[str, Hold], *, now: datetime) -> Plan:
    """Every hold past its time returns its units to the quota."""
    due = sorted((h for h in holds.values() if now >= h.expires_at), key=lambda h: (h.expires_at, h.hold_id))
    plan = Plan.over(balances, {h.sku for h in due})
    for h in due:
        plan.post(Change(Kind.HOLD_EXPIRED, h.sku, h.qty, (), quota_delta=h.qty, held_delta=-h.qty, ref=h.hold_id))
        plan.closed_holds.append((h.hold_id, Kind.HOLD_EXPIRED))
    return plan


@dataclass(frozen=True)
class PulledGrant:
    """A quota grant as the hub sent it: its quantity is the hub's, not anyone's at the node."""

    grant_id: str
    sku: str
    qty: int


def grant_news(known: PulledGrant | None, pulled: PulledGrant) -> str:
    """'new', 'repeat', or 'conflict': a grant id seen before is a repeat only with the same content."""
    if known is None:
        return "new"
    return "repeat" if (known.sku, known.qty) == (pulled.sku, pulled.qty) else "conflict"


def apply_grant(balances: Mapping[str, Balance], grant_id: str, sku: str, qty: int, *,
                pulled: PulledGrant | None, already_applied: bool) -> Plan:
    """The hub gave up `qty` of its share here; it becomes quota (once per grant, as the hub sent it)."""
    check_qty(qty, most=MAX_UNITS)
    if pulled is None:
        raise UnknownGrant(f"Grant {grant_id} has not come from the hub; sync first.")
    if (sku, qty) != (pulled.sku, pulled.qty):
        raise GrantMismatch(f"Grant {grant_id} is for {pulled.qty} of {pulled.sku} as the hub sent it, "
                            f"not {qty} of {sku}. Nothing was applied.")
    if already_applied:
        raise AlreadyApplied(f"Grant {grant_id} was already applied here.")
    plan = Plan.over(balances, [sku])
    b = plan.balances[sku]
    # Quota is only ever backed by a unit on hand. An over-quota sale the hub had not yet
    # heard of when it granted may have taken the very units in flight: the entry still
    # names the grant's quantity, and says how many it could back; the hub returns the
    # rest (it pays the shortfall that sale left).
    backed = min(qty, max(0, b.on_hand - b.quota - b.held))
    plan.post(Change(Kind.QUOTA_GRANTED, sku, qty, (), quota_delta=backed, ref=grant_id,
                     detail={"backed": backed} if backed < qty else {}))
    return plan


def release_quota(balances: Mapping[str, Balance], release_id: str, sku: str, asked: int, *,
                  request_id: str | None = None) -> Plan:
    """Give unused quota back to the hub: at most what is unused.

    Answering a hub request always writes an entry (maybe of 0 units) so the hub
    knows the request is closed; a release on the store's own initiative needs
    something to release.
    """
    check_qty(asked, most=MAX_UNITS)
    check_text(release_id, "A release id")
    if request_id is not None:
        check_text(request_id, "A release request id")
    plan = Plan.over(balances, [sku])
    b = plan.balances[sku]
    released = min(asked, b.quota)
    if released == 0 and request_id is None:
        raise QuotaExceeded(f"This store has no unused quota of {sku} to release.")
    plan.post(Change(Kind.QUOTA_RELEASED, sku, released, (), quota_delta=-released, ref=release_id,
                     detail={"asked": asked, "request_id": request_id}))
    return plan
