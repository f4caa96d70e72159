"""Checks and unit-taking shared by the operations: bins, units leaving, holds kept backed, quota cover."""

from __future__ import annotations

from node.errors import BadQuantity, NotOnHand
from node.rules.types import Balance
from sync.kinds import BINS


def check_bin(bin_: str) -> str:
    if bin_ not in BINS:
        raise BadQuantity(f"Bin {bin_!r} does not exist here; use one of: {', '.join(BINS)}.")
    return bin_


def take_from_bins(b: Balance, qty: int, first: str) -> tuple[tuple[str, int], ...]:
    """Units leaving the store: from `first` bin, then the others; never past zero."""
    if b.on_hand < qty:
        raise NotOnHand(
            f"The book shows only {b.on_hand} of {b.sku} in the store, not {qty}; count the shelf first."
        )
    order = [first] + [x for x in sorted(b.bins) if x != first]
    taken, left = [], qty
    for bin_ in order:
        n = min(left, max(b.bins.get(bin_, 0), 0))
        if n:
            taken.append((bin_, -n))
            left -= n
    return tuple(taken)


def take_from_bin(b: Balance, qty: int, bin_: str) -> tuple[tuple[str, int], ...]:
    have = b.bins.get(bin_, 0)
    if have < qty:
        raise NotOnHand(f"The book shows only {have} of {b.sku} in the {bin_} bin, not {qty}.")
    return ((bin_, -qty),)


def keep_holds_backed(b: Balance, leaving: int, doing: str) -> None:
    """Units leaving without a sale may not take those held for customers (their holds go first)."""
    if leaving > 0 and b.on_hand - leaving < b.held:
        raise NotOnHand(
            f"{doing} {leaving} of {b.sku} would take units held for customers (only "
            f"{max(b.on_hand - b.held, 0)} are not held); release or sell those holds first.")


def quota_cover(b: Balance, qty: int) -> tuple[int, int]:
    """How much of `qty` leaving the store the quota covers, and what is over-quota."""
    covered = min(b.quota, qty)
    return -covered, qty - covered
