"""The checker's rules for web orders (see tests/sim/check.py, (c) and (d)).

A store hands an order over once, out of the hub's share (its quota and holds
untouched); the hub marks a store's order done only with that store's hand-over
in its copy; a reservation done, cancelled or expired never changes again (but
for a restore of the hub); and a hand-over the hub could not match to an open
order of that store (one cancelled or moved meanwhile) left its share unplanned,
as an over-quota sale does, so it may leave a shortfall.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

FINAL = ("done", "cancelled", "expired")


def node_hand_over(fail: Callable[[str], None], s: str, handed: dict[str, tuple[str, int]], seq: int, ref: str,
                   sku: str, qty: int, floor: int, back: int, quota: int, held: int) -> None:
    """An order_handed_over entry in store `s`'s own ledger."""
    if ref in handed:
        fail(f"{s}: order {ref} handed over twice (again at seq {seq})")
    handed[ref] = (sku, qty)
    if quota or held or floor + back != -qty:
        fail(f"{s}: entry {seq} hands over order {ref} with quota {quota:+d}, held {held:+d}, on hand "
             f"{floor + back:+d} for {qty} units: a hand-over is out of the hub's share")


def reservation(fail: Callable[[str], None], final: dict[str, str], stores: Iterable[str], hub_copy: Mapping[str, Any],
                rid: str, loc: str, status: str) -> None:
    """One reservation as the hub holds it."""
    was = final.get(rid)
    if was is not None and was != status:
        fail(f"hub: reservation {rid} was {was} and is {status} now")
    if status in FINAL:
        final[rid] = status
    if status == "done" and loc in stores and rid not in hub_copy[loc].handed:
        fail(f"hub: order {rid} is done at {loc}, and {loc}'s copy holds no hand-over of it")


def unmatched(stores: Iterable[str], hub_copy: Mapping[str, Any], status_of: Mapping[str, str],
              loc_of: Mapping[str, str]) -> dict[tuple[str, str], int]:
    """Units per (store, SKU) of hand-overs in the hub's copies that no order of that store took."""
    out: dict[tuple[str, str], int] = defaultdict(int)
    for s in stores:
        for ref, (sku, qty) in hub_copy[s].handed.items():
            if not (status_of.get(ref) == "done" and loc_of.get(ref) == s):
                out[(s, sku)] += qty
    return out
