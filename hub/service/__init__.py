"""The hub's operations: load state, call hub.rules, write the result in one transaction.

HTTP routes, the CLI and the scheduler call this layer only. Every write
runs through `db.transact`, so it is retried whole on a serialization
failure; every write that a client may repeat takes an idempotency key.
One `Hub`, its operations kept by audience, as the routers are: `stores`
(opening, push, pull, ledger tail), `web` (availability, reservations,
orders, expiry), `orders` (web orders after checkout: fulfilled, cancelled,
re-sourced), `ops` (setting up, quota moves, views, incidents, the
changefeed), `balance` (the balancer's passes, its top-ups at a store's
pull) and `balance_settings` (pins, switches, promos, transfer proposals);
`reports` (the nightly report), `snapshots` (stores' end-of-day snapshots); `base` holds the engines and the pieces they share.
"""

from __future__ import annotations

from hub.service.balance import BalanceOps
from hub.service.balance_settings import BalanceSettingsOps
from hub.service.base import HubBase
from hub.service.common import (
    POSITION_FIGURES, _feed_row, _position, _write_feed, hash_token,
)
from hub.service.ops import OpsOps
from hub.service.orders import OrderOps
from hub.service.reports import ReportOps
from hub.service.snapshots import SnapshotOps
from hub.service.stores import StoreOps
from hub.service.web import WebOps
from sync.kinds import stamp, utcnow

__all__ = ["POSITION_FIGURES", "Hub", "_feed_row", "_position", "_write_feed", "hash_token", "stamp", "utcnow"]


class Hub(StoreOps, WebOps, OrderOps, OpsOps, BalanceOps, BalanceSettingsOps, ReportOps, SnapshotOps, HubBase):
    """The hub's service: every operation of every audience, on one engine."""
