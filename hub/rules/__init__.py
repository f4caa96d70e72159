"""The hub's rules, with no I/O: applying a store's ledger, settling, grants, releases, reservations.

- `errors`: the hub's refusals, and who may act (`Principal`, `authorize`);
- `positions`: a position's figures and the one equation they keep; a store entry
  mirrored on a position and what it leaves to settle (`apply_entry`);
- `references`: the grants, release requests and transfers a store's entry names,
  checked as that store's own (`apply_store_entry`);
- `batches`: a pushed batch against what the hub holds (`plan_batch`);
- `promises`: what the hub promises out of its share (`grant`, `reserve`, `commit`,
  `expire`, ...);
- `orders`: web orders fulfilled (`fulfil`: shipped, or asked of a store), cancelled,
  re-sourced (`resource`).

Callers use `rules.X` from here. A name is looked up on the module that calls it:
`grant` and `commit` (called by the service) here, `_settle` on `positions` and
`check_grant` on `references` (called inside the rules); patch them there.
"""

from __future__ import annotations

from hub.rules.balance import BalanceSettings, Move, Spot, plan
from hub.rules.batches import BatchPlan, plan_batch
from hub.rules.demand import Promo, forecast, hourly_profile
from hub.rules.errors import (
    BadRequest, Blocked, Busy, Conflict, Divergence, Forbidden, Gap, HubError, KeyReused, NotEnough, Principal,
    Unauthenticated, Unknown, WrongStore, authorize,
)
from hub.rules.orders import FULFILMENTS, TO_FULFIL, best_elsewhere, cancel_order, fulfil, may_resource, resource
from hub.rules.positions import (
    OPEN, EntryFacts, Position, Reservation, Settlement, _apply_grant, _hand_over, _settle, apply_entry,
)
from hub.rules.promises import commit, due, expire, grant, pick_location, reserve, send_transfer, unreserve
from hub.rules.references import (
    GrantRecord, Records, ReleaseRecord, TransferRecord, Wanted, apply_store_entry, check_grant, check_order, wanted,
)

__all__ = [
    "FULFILMENTS", "OPEN", "TO_FULFIL", "BadRequest", "BatchPlan", "Blocked", "Busy", "Conflict", "Divergence",
    "EntryFacts", "Forbidden", "Gap", "GrantRecord", "HubError", "KeyReused", "NotEnough", "Position", "Principal",
    "Records", "ReleaseRecord", "Reservation", "Settlement", "TransferRecord", "Unauthenticated", "Unknown", "Wanted",
    "WrongStore", "_apply_grant", "_hand_over", "_settle", "apply_entry", "apply_store_entry", "authorize",
    "best_elsewhere", "cancel_order", "check_grant", "check_order", "commit", "due", "expire", "fulfil", "grant",
    "may_resource", "pick_location", "plan_batch", "reserve", "resource", "send_transfer", "unreserve", "wanted",
]
__all__ += ["BalanceSettings", "Move", "Spot", "plan"]  # the balancer's core (balance.py)
__all__ += ["Promo", "forecast", "hourly_profile"]  # the sales-rate forecast (demand.py)
