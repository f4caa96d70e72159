"""A store's rules: quota, holds and ledger entries, with no I/O.

Every operation here takes the balances it needs (loaded by whoever calls it:
the SQLite store, or a simulation holding them in memory) and returns a
`Plan`: the ledger changes, each with the balance after it, and the new
balances. Nothing is mutated before every check has passed, so a refused
operation leaves no trace anywhere.

Words (see DESIGN.md): a store's on-hand is split into its **quota** (units it
may sell or hold with no one's permission, offline included) and the hub's
share. A **hold** moves units from quota to `held`. A sale or loss that the
quota cannot cover is **over-quota**: recorded, and settled by the hub.

The rules live in five modules, all re-exported here: `types` (Balance, Change,
Plan, Hold, SaleLine, Tender), `sale` (till_check, sell, return_items),
`stock` (receive, count, write_off, move, transfers), `quota` (holds,
grants, releases) and `orders` (web orders handed over, out of the hub's
share). `checks` holds what the operations share.
"""

from node.rules.checks import check_bin
from node.rules.orders import PulledOrder, hand_over
from node.rules.quota import (
    PulledGrant,
    apply_grant,
    expire_holds,
    grant_news,
    place_hold,
    release_hold,
    release_quota,
)
from node.rules.sale import Sold, TillCheck, return_items, sell, till_check
from node.rules.stock import Incoming, count, move, receive, transfer_in, transfer_out, write_off
from node.rules.types import Balance, Change, Hold, Plan, Posted, SaleLine, Tender, apply_change
from sync.kinds import BACK, BINS, FLOOR, SOLD, WRITE_OFFS, Kind, Policy  # the shared words, re-exported

__all__ = [
    "BACK", "BINS", "FLOOR", "SOLD", "WRITE_OFFS", "Balance", "Change", "Hold", "Incoming", "Kind", "Plan",
    "Policy", "Posted", "PulledGrant", "PulledOrder", "SaleLine", "Sold", "Tender", "TillCheck", "apply_change",
    "apply_grant", "check_bin", "count", "expire_holds", "grant_news", "hand_over", "move", "place_hold", "receive",
    "release_hold",
    "release_quota", "return_items", "sell", "till_check", "transfer_in", "transfer_out", "write_off",
]
