"""The checker catches each class of bug: a bug is planted in the production code, and a seed must fail.

Each plant is a small wrong version of one production rule, patched in for
the test only. The simulation must report it within a few seeds, with the
replay command, and the shrinker must cut the failing schedule down.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from hub import rules as hub_rules
from node import rules as node_rules
from tests.sim.__main__ import shrink
from tests.sim.faults import Faults
from tests.sim.world import SimFailure, run

STEPS = 300


def _grant_from_nowhere(pos: hub_rules.Position, qty: int, *, blocked: bool = False) -> None:
    pos.in_flight += qty  # the hub's share is never lowered: a unit promised twice


def _commit_anything(r: hub_rules.Reservation, now: object) -> None:
    r.status = "ordered"  # an expired or cancelled cart becomes an order its units no longer back


_settle = hub_rules._settle


def _settle_without_risk(pos: hub_rules.Position, need: int, reservations: object, s: object) -> None:
    _settle(pos, need, (), s)  # reservations whose units are gone are never marked at risk


_check_grant = hub_rules.check_grant


def _any_store_may_apply(store_id: str, e: hub_rules.EntryFacts, g: object) -> tuple:
    got = _check_grant(getattr(g, "store_id", store_id) if g is not None else store_id, e, g)
    return got  # a store's entry closes another store's grant


_till_check = node_rules.till_check


def _sell_held_units(b: node_rules.Balance, qty: int, policy: object) -> object:
    unheld = node_rules.Balance(b.sku, dict(b.bins), b.quota, 0, b.over_quota)
    return _till_check(unheld, qty, policy)  # units on hold for a customer sold to a walk-in


def _grant_past_the_shelf(balances: dict, grant_id: str, sku: str, qty: int, **kw: object) -> object:
    # Quota for every unit granted, though an over-quota sale took some of them meanwhile
    # (the bug the simulation found in the first node that checked grants).
    plan = node_rules.Plan.over(balances, [sku])
    plan.post(node_rules.Change(node_rules.Kind.QUOTA_GRANTED, sku, qty, (), quota_delta=qty, ref=grant_id))
    return plan


def _expire_orders_too(pos: hub_rules.Position, r: hub_rules.Reservation, now: object) -> bool:
    # defect 2 of issue 8: expiry decided on a stale listing, so an order committed meanwhile expired
    if r.status not in ("held", "ordered") or r.expires_at is None or r.expires_at > now:
        return False
    pos.reserved -= r.qty
    pos.credit_hub(r.qty)
    r.status = "expired"
    return True


_plan_batch = hub_rules.plan_batch


def _plan_loses_an_entry(seqs_and_hashes: object, next_seq: int, held: object) -> object:
    plan = _plan_batch(seqs_and_hashes, next_seq, held)
    return type(plan)(plan.new[:-1], plan.duplicates, plan.next_seq) if plan.new else plan  # said taken, never kept


_hand_over = node_rules.hand_over


def _hand_over_from_quota(balances: dict, order_id: str, order: object, *, already_applied: bool) -> object:
    # The web order's units taken out of the store's quota first, as a write-off's are, instead of the
    # hub's share that the order reserved.
    plan = _hand_over(balances, order_id, order, already_applied=already_applied)  # its refusals as before
    c = plan.entries[0].change
    b = balances[c.sku]
    wrong = node_rules.Plan.over(balances, [c.sku])
    wrong.post(node_rules.Change(c.kind, c.sku, c.qty, c.bins, quota_delta=-min(b.quota, c.qty), ref=c.ref,
                                 detail=c.detail))
    return wrong


def _cancel_handed_over(pos: hub_rules.Position, r: hub_rules.Reservation) -> bool:
    if r.status == "cancelled":
        return False
    pos.reserved -= r.qty  # an order handed over is cancelled too: its units come back that left
    pos.credit_hub(r.qty)
    r.status = "cancelled"
    return True


# plant -> (the module, the rule it replaces, the bug, words the checker's report must contain)
PLANTS: dict[str, tuple[object, str, Callable, str]] = {
    "grant_from_nowhere": (hub_rules, "grant", _grant_from_nowhere, "!= quota"),
    "commit_anything": (hub_rules, "commit", _commit_anything, "open reservations and orders"),
    "settle_without_risk": (hub_rules.positions, "_settle", _settle_without_risk, "marked at risk"),
    "foreign_grant_applied": (hub_rules.references, "check_grant", _any_store_may_apply, "copy lacks its entry"),
    "sell_held_units": (node_rules.sale, "till_check", _sell_held_units, "a promise no unit backs"),
    "expire_orders_too": (hub_rules, "expire", _expire_orders_too, "open reservations and orders|has expired since"),
    "batch_loses_an_entry": (hub_rules, "plan_batch", _plan_loses_an_entry, "next_seq"),
    "grant_past_the_shelf": (node_rules, "apply_grant", _grant_past_the_shelf, "a promise no unit backs"),
    "hand_over_from_quota": (node_rules, "hand_over", _hand_over_from_quota, "a hand-over is out of the hub's share"),
    "cancel_handed_over": (hub_rules, "cancel_order", _cancel_handed_over,
                           "was done and is cancelled now|open reservations and orders|negative"),
}


@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_the_checker_catches_a_planted_bug(plant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    module, name, bug, report = PLANTS[plant]
    monkeypatch.setattr(module, name, bug)
    seen = []
    for seed in range(40):
        try:
            run(seed, STEPS)
        except SimFailure as f:
            seen.append(str(f).split("\n", 1)[0])
            if re.search(report, str(f)):
                assert "replay: python -m tests.sim" in str(f)
                return
    pytest.fail(f"planted bug {plant} went unnoticed over 40 seeds; other failures: {seen[:5]}")


def test_a_failing_seed_shrinks_to_a_short_schedule_that_replays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_rules, "grant", _grant_from_nowhere)
    seed = next(s for s in range(40) if _fails(s))
    schedule, failure = shrink(seed, STEPS, log=False)
    assert len(schedule) <= 10, schedule
    with pytest.raises(SimFailure):
        run(seed, STEPS, only=schedule)


def test_with_no_faults_a_plain_world_passes() -> None:
    """The checker itself raises no false alarm on a world where nothing goes wrong."""
    for seed in range(5):
        run(seed, STEPS, faults=Faults.none())


def _fails(seed: int) -> bool:
    try:
        run(seed, STEPS)
    except SimFailure:
        return True
    return False
