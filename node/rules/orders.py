"""Web orders handed over at the store: out of the hub's share there, never the store's quota."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from node.bounds import check_text
from node.errors import AlreadyApplied, OrderWithdrawn, QuotaExceeded, UnknownOrder
from node.rules.checks import take_from_bins
from node.rules.types import Balance, Change, Plan
from sync.kinds import BACK, Kind


@dataclass(frozen=True)
class PulledOrder:
    """A web order as the hub listed it for this store to hand over (picked up, or sent off)."""

    order_id: str
    sku: str
    qty: int
    how: str  # pickup | ship
    status: str = "to_hand_over"  # to_hand_over | handed_over | withdrawn (the hub no longer lists it)


def hand_over(balances: Mapping[str, Balance], order_id: str, order: PulledOrder | None, *,
              already_applied: bool) -> Plan:
    """The clerk hands a web order over: its units leave the store out of the hub's share, once.

    The hub reserved them in its share here, so they are units beyond the store's quota and
    holds; the quota is the store's to sell and is never touched. If over-quota sales took
    those units, the order cannot be handed over here until ops re-sources it (or the store
    releases quota to the hub).
    """
    check_text(order_id, "An order id")
    if already_applied or (order is not None and order.status == "handed_over"):
        raise AlreadyApplied(f"Order {order_id} was handed over here already.")
    if order is None:
        raise UnknownOrder(f"Order {order_id} is not one the hub has asked this store to hand over; check the "
                           "order number, or sync first.")
    if order.status == "withdrawn":
        raise OrderWithdrawn(f"Order {order_id} was cancelled or moved to another location since; do not hand "
                             "it over.")
    plan = Plan.over(balances, [order.sku])
    b = plan.balances[order.sku]
    share = b.on_hand - b.quota - b.held
    if order.qty > share:
        raise QuotaExceeded(f"Order {order_id} needs {order.qty} of {order.sku} from the hub's share here, and the "
                            f"book shows only {max(share, 0)} beyond this store's quota and holds (sales over quota "
                            "took them). Ask ops to re-source the order, or release quota to the hub first.")
    plan.post(Change(Kind.ORDER_HANDED_OVER, order.sku, order.qty, take_from_bins(b, order.qty, BACK),
                     ref=order_id, detail={"how": order.how}))
    return plan
