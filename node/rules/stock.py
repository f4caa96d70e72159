"""Units arriving, counted, written off, moved between bins, and sent to or received from other locations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from node.bounds import (
    DEFAULT_LIMITS,
    MAX_NOTE,
    MAX_UNITS,
    Limits,
    check_counted,
    check_qty,
    check_text,
    found_needs_confirming,
)
from node.errors import AlreadyApplied, BadQuantity, ConfirmFound, QuotaExceeded, TransferMismatch, UnknownTransfer
from node.rules.checks import check_bin, keep_holds_backed, quota_cover, take_from_bin, take_from_bins
from node.rules.types import Balance, Change, Plan
from sync.kinds import BACK, FLOOR, WRITE_OFFS, Kind


def receive(balances: Mapping[str, Balance], sku: str, qty: int, *, bin_: str = BACK,
            delivery: str | None = None, detail: Mapping[str, object] | None = None,
            limits: Limits = DEFAULT_LIMITS) -> Plan:
    """A delivery: new physical supply joins the store's quota at once."""
    check_qty(qty, most=limits.max_line_qty)
    check_bin(bin_)
    if delivery is not None:
        check_text(delivery, "A delivery note's reference")
    plan = Plan.over(balances, [sku])
    plan.post(Change(Kind.RECEIVE, sku, qty, ((bin_, qty),), quota_delta=qty, ref=delivery,
                     detail=dict(detail or {})))
    return plan


def count(balances: Mapping[str, Balance], sku: str, bin_: str, counted: int, *, confirm_found: bool = False,
          limits: Limits = DEFAULT_LIMITS) -> Plan:
    """A counted figure replaces the book's; the difference is recorded.

    Units found join the quota (nobody else can have promised them); units
    missing come out of the quota first, the rest is over-quota for the hub.
    Far more found than the book had must be confirmed (a typo must not
    invent stock), and a count may not leave fewer units than are held for
    customers: those holds are released or sold first, so no promise is left
    without a unit behind it.
    """
    check_bin(bin_)
    check_counted(counted, most=limits.max_counted)
    plan = Plan.over(balances, [sku])
    b = plan.balances[sku]
    book = b.bins.get(bin_, 0)
    diff = counted - book
    detail = {"book": book, "counted": counted}
    if diff > 0 and found_needs_confirming(diff, book) and not confirm_found:
        raise ConfirmFound(f"Counting {counted} of {sku} in the {bin_} bin finds {diff} more than the book's "
                           f"{book}; if that is right, confirm the count (at the command line: --confirm-found).")
    keep_holds_backed(b, -diff, "Counting away")
    if diff >= 0:
        plan.post(Change(Kind.COUNT, sku, diff, ((bin_, diff),), quota_delta=diff, detail=detail))
    else:
        quota_delta, over = quota_cover(b, -diff)
        plan.post(Change(Kind.COUNT, sku, -diff, ((bin_, diff),), quota_delta=quota_delta,
                         over_quota=over, detail=detail))
    return plan


def write_off(balances: Mapping[str, Balance], kind: Kind, sku: str, qty: int, *, bin_: str = FLOOR,
              reason: str = "", limits: Limits = DEFAULT_LIMITS) -> Plan:
    """Damaged, expired or lost units leave without a sale, out of the quota first."""
    if kind not in WRITE_OFFS:
        raise ValueError(f"{kind} is not a write-off")
    check_qty(qty, most=limits.max_line_qty)
    check_bin(bin_)
    check_text(reason, "A write-off's note", most=MAX_NOTE, empty_ok=True)
    plan = Plan.over(balances, [sku])
    b = plan.balances[sku]
    bins = take_from_bin(b, qty, bin_)
    keep_holds_backed(b, qty, "Writing off")
    quota_delta, over = quota_cover(b, qty)
    plan.post(Change(kind, sku, qty, bins, quota_delta=quota_delta, over_quota=over,
                     detail={"reason": reason} if reason else {}))
    return plan


def move(balances: Mapping[str, Balance], sku: str, qty: int, *, from_bin: str, to_bin: str,
         limits: Limits = DEFAULT_LIMITS) -> Plan:
    check_qty(qty, most=limits.max_line_qty)
    check_bin(from_bin)
    check_bin(to_bin)
    if from_bin == to_bin:
        raise BadQuantity(f"A move needs two different bins, not {from_bin} to {to_bin}.")
    plan = Plan.over(balances, [sku])
    bins = take_from_bin(plan.balances[sku], qty, from_bin)
    plan.post(Change(Kind.MOVE, sku, qty, bins + ((to_bin, qty),)))
    return plan


def transfer_out(balances: Mapping[str, Balance], transfer_id: str, sku: str, qty: int, *, to_location: str,
                 hub_ordered: bool = False, bin_: str = BACK, limits: Limits = DEFAULT_LIMITS) -> Plan:
    """Units leave for another location: from the hub share if the hub ordered it, else from quota."""
    check_qty(qty, most=limits.max_line_qty)
    check_bin(bin_)
    check_text(transfer_id, "A transfer id")
    check_text(to_location, "A destination")
    plan = Plan.over(balances, [sku])
    b = plan.balances[sku]
    bins = take_from_bins(b, qty, bin_)
    quota_delta = 0
    if hub_ordered:
        share = b.on_hand - b.quota - b.held
        if qty > share:
            # the store's quota and its customers' holds are promises the hub cannot send away
            raise QuotaExceeded(f"Only {max(share, 0)} of {sku} here are the hub's to send; {qty} asked.")
    else:
        if qty > b.quota:
            raise QuotaExceeded(f"Only {b.quota} of {sku} are this store's to send; {qty} asked.")
        quota_delta = -qty
    plan.post(Change(Kind.TRANSFER_OUT, sku, qty, bins, quota_delta=quota_delta, ref=transfer_id,
                     detail={"to": to_location, "hub_ordered": hub_ordered}))
    return plan


@dataclass(frozen=True)
class Incoming:
    """A transfer to this store as the hub described it in a pull."""

    transfer_id: str
    sku: str
    qty: int
    from_location: str


def transfer_in(balances: Mapping[str, Balance], transfer_id: str, sku: str, qty: int, *, from_location: str,
                expected: Incoming | None, already_applied: bool, bin_: str = BACK) -> Plan:
    """Units arrive from another location and join this store's quota.

    Only a transfer the hub told this node about, received as the hub
    described it: units received against nothing, or more than were sent,
    would be stock no one ever had.
    """
    if already_applied:
        raise AlreadyApplied(f"Transfer {transfer_id} was already received here.")
    check_qty(qty, most=MAX_UNITS)
    check_bin(bin_)
    check_text(transfer_id, "A transfer id")
    if expected is None:
        raise UnknownTransfer(f"Transfer {transfer_id} is not known here yet; sync with the hub first "
                              f"(or receive the units as a delivery).")
    wrong = [f"{what} {got} (the hub sent {want})" for what, got, want in (
        ("SKU", sku, expected.sku), ("quantity", qty, expected.qty), ("source", from_location, expected.from_location))
        if got != want]
    if wrong:
        raise TransferMismatch(f"Transfer {transfer_id} does not match the hub's: {'; '.join(wrong)}. "
                               f"Nothing was received.")
    plan = Plan.over(balances, [sku])
    plan.post(Change(Kind.TRANSFER_IN, sku, qty, ((bin_, qty),), quota_delta=qty, ref=transfer_id,
                     detail={"from": from_location}))
    return plan
