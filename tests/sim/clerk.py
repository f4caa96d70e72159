"""What people do in the world: clerks at the stores' terminals, the web shop, and central ops.

The world keeps what no system sees: the true units on each shelf (units go
missing unseen, or turn up behind a shelf), boxes between stores, and a
tally per SKU of every unit that entered or left the books, so the checker
can hold the production services to the physical truth.

A clerk acts through a terminal's `Node` (real SQL, the production rules).
A terminal may die right after a commit, before the clerk saw the answer:
the clerk starts it again and repeats the operation under the same id, which
must answer the same and write nothing (an operation id is a retry's key).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from hub import rules as hub_rules
from node.errors import StoreError
from node.rules import BACK, FLOOR, SaleLine
from node.service import Node

if TYPE_CHECKING:
    from tests.sim.world import World

STORE_OPS = (
    ("sale", 40), ("hold", 8), ("collect", 6), ("unhold", 3), ("return", 7), ("receive", 6), ("count", 6),
    ("shrink", 3), ("found", 3), ("write_off", 4), ("move", 4), ("release", 3), ("transfer", 3),
)
WRITE_OFFS = ("damaged", "expired", "lost")


def act(w: World, store: str) -> None:
    from tests.sim import orders  # noqa: PLC0415 - orders uses this module's helpers

    if w.orders_rng.random() < orders.HAND_OVER and _node(w, store).orders_to_hand_over():
        op = "hand_over"  # the clerk sees web orders waiting; with none, the step is as it was before them
    else:
        op = w.rng.choices([n for n, _ in STORE_OPS], weights=[x for _, x in STORE_OPS])[0]
    w.stats[f"op:{op}"] += 1
    try:
        globals()[f"op_{op}"](w, store, w.rng.choice(w.skus))
    except StoreError as err:
        w.stats[f"refused:{err.code}"] += 1
        w.log(f"{store} {op} refused: {err}")


def do(w: World, store: str, method: str, *args: Any, **kw: Any) -> dict:
    """One operation at a terminal; the terminal may die after the commit, and the clerk retries."""
    name, t = _terminal(w, store)
    op_id = w.op_id(method)
    first = getattr(t, method)(op_id, *args, **kw)
    if w.faults.crash and w.rng.random() < w.faults.crash:
        w.stats["fault:terminal_crash"] += 1
        t.close()
        t = w.nodes[store][name] = Node(w.node_path(store), terminal=t.terminal, clerk=t.clerk, clock=t.clock)
        again = getattr(t, method)(op_id, *args, **kw)
        if again != first:
            w.checker.fail(f"{store}: retrying {method} under op id {op_id} answered {again}, first {first}")
    return first


def _terminal(w: World, store: str) -> tuple[str, Node]:
    name = f"T{w.rng.randint(1, w.faults.terminals)}"
    return name, w.nodes[store][name]


def _node(w: World, store: str) -> Node:
    return w.nodes[store]["runner"]


def _held(w: World, store: str, sku: str) -> int:
    return sum(h["qty"] for h in _node(w, store).open_holds(sku))


def _free_on_shelf(w: World, store: str, sku: str) -> int:
    return sum(w.shelf[store][sku].values()) - _held(w, store, sku)


def _take_shelf(w: World, store: str, sku: str, qty: int, first: str) -> None:
    sh = w.shelf[store][sku]
    for b in (first, BACK if first == FLOOR else FLOOR):
        n = min(qty, sh[b])
        sh[b] -= n
        qty -= n
    assert qty == 0, "the world took units its shelves did not have"


def _count(w: World, store: str, sku: str, bin_: str) -> None:
    counted = w.shelf[store][sku][bin_]
    book = _node(w, store).balance(sku).bins.get(bin_, 0)
    do(w, store, "count", sku, bin_, counted)
    diff = counted - book
    w.tally[sku]["counted_up" if diff > 0 else "counted_down"] += abs(diff)
    w.log(f"{store} counts {sku} {bin_}: book {book}, shelf {counted}")


def _tally_found(w: World, store: str, sku: str, result: dict) -> None:
    """Units a sale found at the till (the book was short) entered as supply."""
    first, last = result["seq"]
    for e in _node(w, store).ledger(after=first - 1, limit=last - first + 1):
        if e["kind"] == "count" and e["detail"].get("found_at_till"):
            w.tally[sku]["counted_up"] += e["qty"]


def _sell(w: World, store: str, sku: str, line: SaleLine) -> dict:
    try:
        return do(w, store, "sell", [line])
    except StoreError as err:
        if err.code not in ("not_on_hand", "confirm_found"):
            raise
        for bin_ in (FLOOR, BACK):  # "count the shelf first", then sell again
            _count(w, store, sku, bin_)
        return do(w, store, "sell", [line])


def op_sale(w: World, store: str, sku: str) -> None:
    qty = min(w.rng.choice((1, 1, 1, 2)), _free_on_shelf(w, store, sku))
    if qty <= 0:
        w.stats["walk_in_unserved"] += 1
        return
    quota = _node(w, store).balance(sku).quota
    result = _sell(w, store, sku, SaleLine(sku, qty, w.prices[sku]))
    _tally_found(w, store, sku, result)
    _take_shelf(w, store, sku, qty, FLOOR)
    w.tally[sku]["sold"] += qty
    if result.get("over_quota"):
        w.stats["over_quota_sales"] += 1
    w.log(f"{store} sells {qty} {sku} (quota was {quota})")


def op_hold(w: World, store: str, sku: str) -> None:
    qty = w.rng.choice((1, 1, 2))
    do(w, store, "hold", sku, qty, ttl=timedelta(minutes=w.rng.randint(30, 360)))
    w.stats["holds"] += 1
    w.log(f"{store} holds {qty} {sku}")


def op_collect(w: World, store: str, sku: str) -> None:
    holds = _node(w, store).open_holds()
    if not holds:
        return
    h = w.rng.choice(holds)
    if sum(w.shelf[store][h["sku"]].values()) < h["qty"]:  # the units are gone: the customer cannot have them
        do(w, store, "release_hold", h["hold_id"])
        return
    line = SaleLine(h["sku"], h["qty"], w.prices[h["sku"]], hold_id=h["hold_id"])
    result = _sell(w, store, h["sku"], line)
    _tally_found(w, store, h["sku"], result)
    _take_shelf(w, store, h["sku"], h["qty"], FLOOR)
    w.tally[h["sku"]]["sold"] += h["qty"]
    w.stats["holds_collected"] += 1
    w.log(f"{store} sells hold {h['hold_id']} ({h['qty']} {h['sku']})")


def op_unhold(w: World, store: str, sku: str) -> None:
    holds = _node(w, store).open_holds()
    if holds:
        do(w, store, "release_hold", w.rng.choice(holds)["hold_id"])


def op_return(w: World, store: str, sku: str) -> None:
    resellable = w.rng.random() < 0.75
    receipts = [tuple(r) for r in _node(w, store).conn.execute(
        "SELECT ref, sku FROM ledger WHERE ref IS NOT NULL AND kind IN ('sale', 'hold_converted', 'return') "
        "GROUP BY ref, sku HAVING sum(CASE WHEN kind = 'return' THEN -qty ELSE qty END) > 0 ORDER BY ref, sku")]
    receipt = None
    if receipts and w.rng.random() < 0.8:
        receipt, sku = w.rng.choice(receipts)
    do(w, store, "return_items", sku, 1, resellable=resellable, receipt=receipt)
    if resellable:
        w.shelf[store][sku][BACK] += 1
        w.tally[sku]["returned"] += 1
    w.log(f"{store} takes back 1 {sku} ({'resellable' if resellable else 'not resellable'})")


def op_receive(w: World, store: str, sku: str) -> None:
    qty = w.rng.randint(1, 5)
    do(w, store, "receive", sku, qty)
    w.shelf[store][sku][BACK] += qty
    w.tally[sku]["received"] += qty
    w.log(f"{store} receives {qty} {sku}")


def op_count(w: World, store: str, sku: str) -> None:
    _count(w, store, sku, w.rng.choice((FLOOR, BACK)))


def op_shrink(w: World, store: str, sku: str) -> None:
    bin_ = w.rng.choice((FLOOR, BACK))
    if w.shelf[store][sku][bin_] > 0:
        w.shelf[store][sku][bin_] -= 1  # nobody saw it go
        w.stats["shrink"] += 1


def op_found(w: World, store: str, sku: str) -> None:
    w.shelf[store][sku][w.rng.choice((FLOOR, BACK))] += 1  # it was behind the shelf all along
    w.stats["found"] += 1


def op_write_off(w: World, store: str, sku: str) -> None:
    kind = w.rng.choice(WRITE_OFFS)
    bin_ = w.rng.choice((FLOOR, BACK))
    if kind != "lost" and w.shelf[store][sku][bin_] < 1:
        return
    do(w, store, "write_off", kind, sku, 1, bin_=bin_)
    if kind != "lost":  # damaged or expired: the clerk takes the unit off the shelf
        w.shelf[store][sku][bin_] -= 1
    w.tally[sku]["written_off"] += 1
    w.log(f"{store} writes off 1 {sku} ({kind})")


def op_move(w: World, store: str, sku: str) -> None:
    src, dst = (FLOOR, BACK) if w.rng.random() < 0.4 else (BACK, FLOOR)
    if w.shelf[store][sku][src] < 1:
        return
    do(w, store, "move", sku, 1, from_bin=src, to_bin=dst)
    w.shelf[store][sku][src] -= 1
    w.shelf[store][sku][dst] += 1


def op_release(w: World, store: str, sku: str) -> None:
    do(w, store, "release_quota", sku, w.rng.randint(1, 3))
    w.stats["own_releases"] += 1


def op_transfer(w: World, store: str, sku: str) -> None:
    qty = w.rng.choice((1, 1, 2))
    if _free_on_shelf(w, store, sku) < qty:
        return
    to = w.rng.choice([s for s in w.stores if s != store])
    tid = w.op_id(f"T-{store}")
    do(w, store, "transfer_out", sku, qty, to_location=to, transfer_id=tid)
    _take_shelf(w, store, sku, qty, BACK)
    w.tally[sku]["in_transit"] += qty
    w.transfers.append({"id": tid, "from": store, "to": to, "sku": sku, "qty": qty, "booked": False,
                        "arrives": w.now + timedelta(minutes=w.rng.randint(60, 12 * 60))})
    w.stats["transfers"] += 1
    w.log(f"{store} sends {qty} {sku} to {to} ({tid})")


def op_hand_over(w: World, store: str, sku: str) -> None:
    from tests.sim import orders  # noqa: PLC0415 - orders uses this module's helpers

    orders.op_hand_over(w, store, sku)


def book_arrived_transfers(w: World, everything: bool = False) -> None:
    """Boxes that arrived are booked in as the transfer they are, once the store has heard of it;
    a box whose transfer the hub never learnt of (its sender lost the entry) goes in as a delivery."""
    for t in w.transfers:
        if t["booked"] or (t["arrives"] > w.now and not everything) or t["to"] in w.restored:
            continue
        try:
            do(w, t["to"], "transfer_in", t["id"], t["sku"], t["qty"], from_location=t["from"])
        except StoreError as err:
            if err.code != "unknown_transfer":
                raise
            orphaned = t.get("forgotten") or any(e["ref"] == t["id"] for e in w.orphans.get(t["from"], ()))
            if not orphaned:
                continue  # the store has not pulled it yet
            do(w, t["to"], "receive", t["sku"], t["qty"])
            w.stats["transfers_booked_as_delivery"] += 1
        t["booked"] = True
        w.shelf[t["to"]][t["sku"]][BACK] += t["qty"]
        w.tally[t["sku"]]["in_transit"] -= t["qty"]
        w.log(f"{t['to']} books in transfer {t['id']} ({t['qty']} {t['sku']})")


# -- the web shop and central ops, at the hub -----------------------------------------------


def web_shop(w: World) -> None:
    from tests.sim import orders  # noqa: PLC0415 - orders uses this module's helpers

    if w.orders_rng.random() < orders.FULFIL:
        return orders.web_fulfil(w)
    rng, hub = w.rng, w.pick_hub()
    what = rng.choices(("reserve", "retry", "commit", "cancel", "expire"), weights=(6, 1, 3, 2, 2))[0]
    open_ = sorted(r for r, x in w.web.items() if x["status"] in ("held", "ordered", "to_hand_over"))
    try:
        if what == "reserve" or (what == "retry" and not w.web):
            key = f"k{w.seed}-{w.step_no}-{rng.randint(0, 10**6)}"
            sku, qty = rng.choice(w.skus), rng.choice((1, 1, 2))
            loc = rng.choice((None, None, "W1", *w.stores))
            r = hub.reserve(key, sku, qty, location=loc, ttl_s=rng.randint(10, 180) * 60)
            w.web[r["reservation_id"]] = {"key": key, "sku": sku, "qty": qty, "loc": loc, "status": r["status"],
                                          "expires_at": r["expires_at"]}
            w.stats["web_reserved"] += 1
            w.log(f"web reserves {qty} {sku} at {r['location']}")
        elif what == "retry":
            x = w.web[rng.choice(sorted(w.web))]
            hub.reserve(x["key"], x["sku"], x["qty"], location=x["loc"])
            w.stats["web_retried"] += 1
        elif what == "expire":
            w.stats["web_expired"] += hub.expire_due()
        elif open_:
            rid = rng.choice(open_)
            r = getattr(hub, what)(rid)
            w.web[rid]["status"] = r["status"]
            w.stats[f"web_{what}"] += 1
            w.log(f"web {what} {rid}")
    except hub_rules.HubError as err:
        w.stats[f"web_refused:{err.code}"] += 1
    except w.ambiguous:
        w.stats["web_unsure"] += 1  # the web shop does not know; its next retry will tell


def commit_cart(w: World, hub: Any, rid: str) -> None:
    """The web shop's checkout: the cart becomes an order, if the hub still holds it."""
    try:
        w.web[rid]["status"] = hub.commit(rid)["status"]
        w.stats["web_commit"] += 1
        w.log(f"web commit {rid}")
    except hub_rules.HubError as err:
        w.stats[f"web_refused:{err.code}"] += 1
    except w.ambiguous:
        w.stats["web_unsure"] += 1


def ops(w: World) -> None:
    """A stand-in for the balancer: top up a store running low, ask one holding much to release; and
    re-source an order put at risk."""
    from tests.sim import orders  # noqa: PLC0415 - orders uses this module's helpers

    if w.orders_rng.random() < orders.RESOURCE and orders.ops_resource(w):
        return
    rng, hub = w.rng, w.pick_hub()
    store, sku = rng.choice(w.stores), rng.choice(w.skus)
    quota = _node(w, store).balance(sku).quota
    try:
        if quota < 2:
            pos = next((p for p in hub.stock(sku)["locations"] if p["location"] == store), None)
            if pos and pos["promisable"] > 0:
                g = hub.grant(store, sku, rng.randint(1, pos["promisable"]))
                w.stats["grants"] += 1
                w.log(f"ops grants {g['qty']} {sku} to {store} ({g['grant_id']})")
        elif quota >= 3:
            hub.request_release(store, sku, rng.randint(1, quota - 1))
            w.stats["release_requests"] += 1
            w.log(f"ops asks {store} to release {sku}")
    except hub_rules.HubError as err:
        w.stats[f"ops_refused:{err.code}"] += 1
    except w.ambiguous:
        w.stats["ops_unsure"] += 1
