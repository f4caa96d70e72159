"""Web orders fulfilled in the world: the web shop ships, asks for pick-ups and cancels; a clerk hands an
order over at a terminal after a pull; ops re-sources orders put at risk.

Units that leave the chain to a web customer are tallied as `shipped`: at a store
when a clerk hands the order over (the unit leaves its shelf, the store's ledger
says so), at the warehouse when the hub records the order shipped (the warehouse
ships what the hub's record says; after a commit whose answer was lost, the world
reads that record). A hub restored from a backup may have forgotten a warehouse
shipment: the units it then holds again had left already (`phantom`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub import rules as hub_rules
from node.rules import BACK
from tests.sim import clerk

if TYPE_CHECKING:
    from tests.sim.world import World

TO_FULFIL = ("ordered", "to_hand_over")
# How often a step is about web orders, drawn from the world's `orders_rng` (see World.step).
HAND_OVER = 0.25  # of a store's steps while it has orders to hand over: a clerk hands one over
FULFIL = 0.3  # of the web shop's steps
RESOURCE = 0.3  # of ops' steps: re-source an order at risk, if there is one


def web_fulfil(w: World) -> None:
    """The web shop ships an order, asks its store to hand it over, or cancels it (sometimes one already
    handed over, which the hub must refuse)."""
    rng, hub = w.orders_rng, w.pick_hub()
    what = rng.choices(("fulfil", "cancel", "cancel_done", "look"), weights=(8, 2, 1, 1))[0]
    # An order is fulfilled once, mostly; now and then the web shop asks again, or asks the other way
    # (pick-up after ship), which the hub refuses once the store has been asked.
    want = {"cancel_done": ("done",), "fulfil": ("ordered",) if rng.random() < 0.9 else TO_FULFIL}.get(what, TO_FULFIL)
    orders = sorted(r for r, x in w.web.items() if x["status"] in want)
    if not orders:
        carts = sorted(r for r, x in w.web.items() if x["status"] == "held")
        if carts and what == "fulfil":  # nothing to fulfil yet: a customer checks out
            clerk.commit_cart(w, hub, rng.choice(carts))
        return
    rid = rng.choice(orders)
    x = w.web[rid]
    if what == "fulfil":
        # A store's order is picked up or sent off by the store; the warehouse ships (a pick-up
        # there now and then, which the hub must refuse).
        at = _read(w, rid)
        at_store = at is not None and at["location"] in w.stores
        what = rng.choice(("pickup", "ship")) if at_store else ("pickup" if rng.random() < 0.1 else "ship")
    try:
        if what == "look":
            got = hub.order(rid)
        elif what in ("ship", "pickup"):
            got = hub.fulfil(rid, what, key=f"{what}-{rid}")
        else:
            got = hub.cancel_order(rid, key=f"cancel-{w.step_no}-{rid}")
        w.stats[f"web_{what}"] += 1
        if got["status"] == "to_hand_over":
            w.stats["web_asked_store"] += 1
        w.log(f"web {what} {rid}: {got['status']} at {got['location']}")
    except hub_rules.HubError as err:
        w.stats[f"web_refused:{err.code}"] += 1
        got = None
    except w.ambiguous:
        w.stats["web_unsure"] += 1
        got = None
    if got is None:
        got = _read(w, rid)  # the warehouse's pick list, the web shop's next look: the hub's record as it is
    if got is not None:
        _learn(w, rid, x, got)


def _read(w: World, rid: str) -> dict | None:
    try:
        return w.hubs[0].order(rid)
    except hub_rules.Unknown:
        return None


def _learn(w: World, rid: str, x: dict, got: dict) -> None:
    x["status"] = got["status"]
    if got["status"] == "done" and got["location"] == w.warehouse and not x.get("shipped"):
        x["shipped"] = True  # the warehouse sends the units off
        w.tally[got["sku"]]["shipped"] += got["qty"]
        w.stats["warehouse_shipped"] += 1


def op_hand_over(w: World, store: str, sku: str) -> None:
    """A clerk at a terminal hands over one of the web orders the store's last pull listed, if its
    units are on the shelf (a unit that is not there cannot be handed over)."""
    orders = clerk._node(w, store).orders_to_hand_over()
    if not orders:
        return
    o = w.orders_rng.choice(orders)
    if clerk._free_on_shelf(w, store, o["sku"]) < o["qty"]:
        w.stats["order_not_on_shelf"] += 1
        return
    clerk.do(w, store, "hand_over", o["order_id"])
    clerk._take_shelf(w, store, o["sku"], o["qty"], BACK)
    w.tally[o["sku"]]["shipped"] += o["qty"]
    w.stats["orders_handed_over"] += 1
    if o["order_id"] in w.web:
        w.web[o["order_id"]]["handed_over_at"] = store
    w.log(f"{store} hands over order {o['order_id']} ({o['qty']} {o['sku']}, {o['how']})")


def ops_resource(w: World) -> bool:
    """Ops moves an order put at risk to the location that can promise most; False if none is at risk."""
    risky = sorted(r["reservation_id"] for r in w.hubs[0].at_risk() if r["status"] in TO_FULFIL)
    if not risky:
        return False
    hub = w.pick_hub()
    rid = w.orders_rng.choice(risky)
    try:
        got = hub.resource(rid, "best", key=f"resource-{w.step_no}-{rid}")
        w.stats["orders_resourced"] += 1
        w.log(f"ops re-sources order {rid} to {got['location']}")
    except hub_rules.HubError as err:
        w.stats[f"ops_refused:{err.code}"] += 1
    except w.ambiguous:
        w.stats["ops_unsure"] += 1
    if rid in w.web and (got := _read(w, rid)) is not None:
        w.web[rid]["status"] = got["status"]
    return True


def hub_restored(w: World, statuses: dict[str, str]) -> None:
    """The hub's database went back to a backup: warehouse shipments it no longer holds as done left
    anyway, so the units its book holds for them are phantoms (and the order may ship again)."""
    for rid, x in w.web.items():
        if x.get("shipped") and statuses.get(rid) != "done":
            x["shipped"] = False
            w.tally[x["sku"]]["phantom"] += x["qty"]
            w.stats["shipments_forgotten"] += 1
