"""Selling and taking back: the till's check of a line, a sale, a return."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from node.bounds import DEFAULT_LIMITS, Limits, check_price, check_qty, check_text, found_needs_confirming
from node.errors import BadQuantity, BadReceipt, ConfirmFound, HoldUnavailable, NotOnHand, QuotaExceeded
from node.rules.checks import check_bin, quota_cover, take_from_bins
from node.rules.types import Balance, Change, Hold, Plan, SaleLine, Tender
from sync.kinds import BACK, FLOOR, Kind, Policy


@dataclass(frozen=True)
class TillCheck:
    """What selling `qty` units of one SKU (not from a hold) means for the store's book.

    The till asks this before it adds a line (to warn the clerk, or ask) and
    the sale asks it again when it is written, so both decide alike.
    """

    qty: int
    book: int  # on hand, as the book says
    free: int  # on hand and not held for a customer: the most that may leave without taking a promise
    found: int  # units the book lacks, in the customer's hand: recorded as found at the till
    over_quota: int  # units past the quota (after what was found joins it)
    refusal: str | None = None  # strict policy: why this cannot be sold
    refusal_is_quota: bool = True  # the refusal is about quota (else about units on hand)

    @property
    def confirm_found(self) -> bool:
        """Found units too many to take on the clerk's word alone (see node.bounds)."""
        return found_needs_confirming(self.found, self.book)

    def found_message(self, sku: str) -> str:
        return (f"Selling {self.qty} of {sku} finds {self.found} more than the book has ({self.book} on hand, "
                f"{self.book - max(self.free, 0)} of them held); if they really are in the customer's hand, "
                f"confirm it (at the command line: --confirm-found).")


def till_check(b: Balance, qty: int, policy: Policy | str) -> TillCheck:
    """How a sale of `qty` in-hand units of `b` is covered: quota, found at the till, over quota.

    Held units are promised to another customer: a sale never takes them,
    so what the book cannot cover from its unheld units was found at the till.
    """
    free = b.on_hand - b.held
    if Policy(policy) is Policy.STRICT:
        if qty > free:
            return TillCheck(qty, b.on_hand, free, 0, max(qty - b.quota, 0),
                             f"The book shows only {max(free, 0)} of {b.sku} in the store, not {qty} (held units "
                             f"are promised to customers); count the shelf first.", refusal_is_quota=False)
        if qty > b.quota:
            return TillCheck(qty, b.on_hand, free, 0, qty - b.quota,
                             f"Only {b.quota} of {b.sku} may be sold here without the hub (policy strict); "
                             f"{qty} asked. Ask the hub for more quota, or sell fewer.")
        return TillCheck(qty, b.on_hand, free, 0, 0)
    found = max(qty - max(free, 0), 0)
    return TillCheck(qty, b.on_hand, free, found, max(qty - b.quota - found, 0))


def sell(
    balances: Mapping[str, Balance],
    lines: list[SaleLine],
    *,
    policy: Policy,
    receipt: str,
    tender: Tender,
    holds: Mapping[str, Hold] | None = None,
    now: datetime | None = None,
    confirm_found: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> Plan:
    """A sale of one or more lines. A line naming a hold sells the held units."""
    if not lines:
        raise BadQuantity("A sale needs at least one line.")
    if len(lines) > limits.max_line_qty:
        raise BadQuantity(f"A sale may have at most {limits.max_line_qty} lines, not {len(lines)}.")
    policy = Policy(policy)  # "strict" as a plain string must not be read as in-hand (`is` below)
    holds = holds or {}
    check_text(receipt, "A receipt number")
    plan = Plan.over(balances, {ln.sku for ln in lines})
    for ln in lines:
        check_qty(ln.qty, most=limits.max_line_qty)
        check_price(ln.unit_price, ln.sku)
        if ln.hold_id is not None:
            check_text(ln.hold_id, "A hold id")
        b = plan.balances[ln.sku]
        detail = {"receipt": receipt, "tender": str(tender), "unit_price": ln.unit_price}
        if ln.hold_id is not None:
            hold = _open_hold(holds, ln.hold_id, now, plan)
            if hold.sku != ln.sku or hold.qty != ln.qty:
                raise HoldUnavailable(
                    f"Hold {hold.hold_id} is for {hold.qty} of {hold.sku}, not {ln.qty} of {ln.sku}."
                )
            plan.post(Change(Kind.HOLD_CONVERTED, ln.sku, ln.qty, take_from_bins(b, ln.qty, FLOOR),
                             held_delta=-ln.qty, ref=receipt, amount=ln.qty * ln.unit_price,
                             detail={**detail, "hold_id": hold.hold_id}))
            plan.closed_holds.append((hold.hold_id, Kind.HOLD_CONVERTED))
            continue
        check = till_check(b, ln.qty, policy)
        if check.refusal and check.refusal_is_quota:
            raise QuotaExceeded(check.refusal, sku=ln.sku, qty=ln.qty)
        if check.refusal:
            raise NotOnHand(check.refusal)
        if check.found:
            if check.confirm_found and not confirm_found:
                raise ConfirmFound(check.found_message(ln.sku))
            # The customer holds a unit the book does not know: the book was short. The
            # unit is new supply nobody was promised, so it joins the quota, then sells.
            plan.post(Change(Kind.COUNT, ln.sku, check.found, ((FLOOR, check.found),), quota_delta=check.found,
                             detail={"found_at_till": True, "receipt": receipt}))
        bins = take_from_bins(b, ln.qty, FLOOR)
        quota_delta, over = quota_cover(b, ln.qty)
        plan.post(Change(Kind.SALE, ln.sku, ln.qty, bins, quota_delta=quota_delta, over_quota=over,
                         ref=receipt, amount=ln.qty * ln.unit_price, detail=detail))
    return plan


def _open_hold(holds: Mapping[str, Hold], hold_id: str, now: datetime | None, plan: Plan) -> Hold:
    hold = holds.get(hold_id)
    if hold is None or any(h == hold_id for h, _ in plan.closed_holds):
        raise HoldUnavailable(f"Hold {hold_id} is not open (unknown, already released, sold or expired).")
    if now is not None and now >= hold.expires_at:
        raise HoldUnavailable(f"Hold {hold_id} expired at {hold.expires_at:%Y-%m-%d %H:%M} UTC.")
    return hold


@dataclass(frozen=True)
class Sold:
    """What a receipt sold of one SKU and what has come back of it already."""

    qty: int
    unit_price: int
    returned: int = 0


def return_items(
    balances: Mapping[str, Balance],
    sku: str,
    qty: int,
    *,
    resellable: bool,
    unit_price: int,
    receipt: str | None = None,
    sold: Sold | None = None,
    bin_: str = BACK,
    limits: Limits = DEFAULT_LIMITS,
) -> Plan:
    """A customer brings units back. Resellable units are new supply: they join the quota."""
    check_qty(qty, most=limits.max_line_qty)
    check_bin(bin_)
    check_price(unit_price, sku)
    if receipt is not None:
        check_text(receipt, "A receipt number")
    plan = Plan.over(balances, [sku])
    if receipt is not None:
        if sold is None:
            raise BadReceipt(f"Receipt {receipt} has no sale of {sku}.")
        if qty > sold.qty - sold.returned:
            raise BadReceipt(
                f"Receipt {receipt} sold {sold.qty} of {sku} and {sold.returned} came back already; "
                f"{qty} more cannot be returned on it."
            )
        unit_price = sold.unit_price
    detail = {"receipt": receipt, "resellable": resellable, "unit_price": unit_price}
    if resellable:
        plan.post(Change(Kind.RETURN, sku, qty, ((bin_, qty),), quota_delta=qty, ref=receipt,
                         amount=-qty * unit_price, detail=detail))
    else:
        # The unit never rejoins stock: the refund is recorded, the book is unchanged.
        plan.post(Change(Kind.RETURN, sku, qty, (), ref=receipt, amount=-qty * unit_price, detail=detail))
    return plan
