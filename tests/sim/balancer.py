"""The balancer in the simulation: passes throughout, ops steering it, and what its records must say.

At the end of a step (`World.step` calls `step`), now and then:

- a scheduled pass on one of the hub processes (`Hub.rebalance(scheduled=True)`:
  the lease decides whether it runs), or a pass ops ask for, or a dry run;
- ops pin or unpin a spot, switch the balancer off or on for a store or a SKU,
  add or delete a promo, accept or dismiss a transfer proposal (one from the
  warehouse is a box on its way, booked in when it arrives; a restored hub that
  forgot it holds its units again, as phantoms).

Its draws come from a stream of its own, `Random(seed, step, "balance")`, and
it acts after the step's own work: the step's choices are the same with the
balancer or without it (the hub's fault hook still draws from the world's
stream while a pass runs, as it does for any of the hub's transactions). The
pull's top-ups happen inside the stores' syncs, as in production.

After a pass, beside the world's checker: every move it recorded as done is
what the hub's records say (a grant of that store, SKU and quantity; a
release request; a transfer proposal), and no move touched a spot that was
switched off when the pass began, nor a pinned one but to bring it to its
pin. A dry run writes nothing: no connection commits to the hub's file while
it runs (`PRAGMA data_version`).
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import TYPE_CHECKING

from hub import rules as hub_rules
from tests.sim.check import Violation

if TYPE_CHECKING:
    from tests.sim.world import World

PASS = 0.04  # a step ends with a pass this often (about one every three to four hours of simulated time)
STEER = 0.03  # ... with ops changing a pin, a switch or a promo this often
_SETTINGS = ("SELECT store_id, sku, quota FROM balance_pins", "SELECT scope, key FROM balance_off")


def step(w: World, i: int) -> None:
    from tests.sim.world import SimFailure  # noqa: PLC0415 - the world imports this module

    rng = random.Random(f"{w.seed}:{i}:balance")
    try:
        if rng.random() < STEER:
            steer(w, rng)
        if rng.random() < PASS:
            rebalance(w, rng)
    except Violation as v:
        raise SimFailure(w.failure(str(v))) from None


def rebalance(w: World, rng: random.Random) -> None:
    hub = rng.choice(w.hubs)
    how = rng.choices(("scheduled", "asked", "dry"), weights=(6, 2, 1))[0]
    before = _read(w, _SETTINGS)
    # `PRAGMA data_version` changes whenever another connection commits to the file: a dry pass
    # that wrote anything at all (not only to the balancer's own tables) shows here.
    seen = _data_version(w) if how == "dry" else None
    try:
        done = hub.rebalance(dry_run=how == "dry", scheduled=how == "scheduled")
    except (hub_rules.HubError, w.ambiguous) as err:  # busy, a pass running, a commit whose answer was lost
        w.stats[f"balance_failed:{type(err).__name__}"] += 1
        return
    if how == "dry":
        if _data_version(w) != seen:
            raise Violation("hub: a dry balancer pass wrote to the database")
        return
    if not done["ran"]:
        w.stats["balance_lease_held"] += 1
        return
    w.stats["balance_passes"] += 1
    w.stats["balance_moves"] += len(done["moves"])
    for m in done["moves"]:
        w.stats[f"balance_{m['kind']}"] += 1
    w.log(f"balancer pass {done['run_id']}: {done['counts']}")
    check_run(w, done["run_id"], before)


def check_run(w: World, run_id: str, settings: list[list[tuple]]) -> None:
    pinned, off = {(s, k): q for s, k, q in settings[0]}, {r[1] for r in settings[1]}
    c = w.checker.hub()  # the checker's own connection (autocommit, read only)
    moves = c.execute("SELECT kind, store_id, sku, qty, source, outcome, ref, reason FROM balance_moves "
                      "WHERE run_id = ?", (run_id,)).fetchall()
    for kind, store, sku, qty, source, outcome, ref, reason in moves:
        where = f"hub: balancer move {kind} {qty} {sku} at {store} ({outcome} {ref})"
        if outcome == "skipped":
            continue
        if store in off or sku in off or (source, sku) in pinned:
            raise Violation(f"{where} touched a spot switched off or pinned before the pass")
        if (store, sku) in pinned and not reason.startswith(f"{store} is pinned at {pinned[store, sku]} by ops"):
            raise Violation(f"{where} moved a spot pinned at {pinned[store, sku]} before the pass, not to its pin")
        table, cols = {"granted": ("grants", "grant_id, store_id, sku, qty"),
                       "asked": ("release_requests", "request_id, store_id, sku, qty"),
                       "proposed": ("transfer_proposals", "proposal_id, to_location, sku, qty")}[outcome]
        row = c.execute(f"SELECT {cols} FROM {table} WHERE {cols.split(',')[0]} = ?", (ref,)).fetchone()
        if row is None or row[1:3] != (store, sku) or (outcome != "proposed" and row[3] != qty):
            raise Violation(f"{where}: the hub's {table} say {row}")
        if outcome == "proposed" and c.execute("SELECT from_location FROM transfer_proposals WHERE proposal_id = ?",
                                               (ref,)).fetchone()[0] != source:
            raise Violation(f"{where}: proposed from another source")


def steer(w: World, rng: random.Random) -> None:
    hub, store, sku = rng.choice(w.hubs), rng.choice(w.stores), rng.choice(w.skus)
    what = rng.choice(("pin", "unpin", "off", "on", "promo", "unpromo", "decide"))
    try:
        if what == "decide":
            decide(w, hub, rng)
        elif what == "pin":
            hub.pin(store, sku, rng.randint(0, 4))
        elif what == "unpin":
            hub.unpin(store, sku)
        elif what in ("off", "on"):
            scope = rng.choice(("store", "sku"))
            hub.switch_balancer(scope, store if scope == "store" else sku, on=what == "on")
        elif what == "promo":
            start = w.now + timedelta(hours=rng.randint(-6, 6))
            hub.add_promo(starts_at=start, ends_at=start + timedelta(hours=rng.randint(1, 24)),
                          factor=rng.choice((0.5, 2.0, 3.0)), sku=rng.choice((sku, None)),
                          store_id=rng.choice((store, None)))
        else:
            promos = hub.promos(ended_too=True)
            if promos:
                hub.delete_promo(rng.choice(promos)["promo_id"])
        w.stats[f"balance_steer:{what}"] += 1
    except hub_rules.Unknown:
        pass  # nothing pinned there, no promo left
    except (hub_rules.HubError, w.ambiguous):
        w.stats["balance_steer_failed"] += 1


def decide(w: World, hub, rng: random.Random) -> None:  # type: ignore[no-untyped-def]
    """Ops accept or dismiss a transfer proposal. One the warehouse ships is a box on its way: the world
    books it in when it arrives, as it does a store's. A store's is a grant to that store, which its
    books already follow."""
    proposals = hub.proposals()
    if not proposals:
        raise hub_rules.Unknown("no proposal open")
    p = rng.choice(proposals)
    accept = rng.random() < 0.7
    try:
        hub.decide_proposal(p["proposal_id"], accept=accept)
    finally:  # a commit whose answer was lost happened all the same: the hub's records say whether
        row = w.checker.hub().execute("SELECT from_location, to_location, sku, qty FROM transfers "
                                      "WHERE transfer_id = ?", (p["proposal_id"],)).fetchone()
        if row is not None and not any(t["id"] == p["proposal_id"] for t in w.transfers):
            source, dest, sku, qty = row
            w.tally[sku]["in_transit"] += qty
            w.transfers.append({"id": p["proposal_id"], "from": source, "to": dest, "sku": sku, "qty": qty,
                                "booked": False, "by_hub": True,
                                "arrives": w.now + timedelta(minutes=rng.randint(60, 12 * 60))})
            w.stats["warehouse_transfers"] += 1
            w.log(f"ops accept {p['proposal_id']}: {source} sends {qty} {sku} to {dest}")


def hub_restored(w: World) -> None:
    """Boxes the warehouse sent left, whatever the restored hub holds: one it no longer knows of is
    units its book holds again (phantoms), and a box no store can book as that transfer goes in as a
    delivery."""
    c = w.checker.hub()
    for t in w.transfers:
        if t.get("by_hub") and c.execute("SELECT 1 FROM transfers WHERE transfer_id = ?", (t["id"],)).fetchone() \
                is None and not t.get("forgotten"):
            t["forgotten"] = True
            w.tally[t["sku"]]["phantom"] += t["qty"]
            w.stats["warehouse_transfers_forgotten"] += 1


def _read(w: World, queries: list[str] | tuple[str, ...]) -> list[list[tuple]]:
    c = w.checker.hub()
    return [sorted(c.execute(q).fetchall(), key=repr) for q in queries]


def _data_version(w: World) -> int:
    return w.checker.hub().execute("PRAGMA data_version").fetchone()[0]
