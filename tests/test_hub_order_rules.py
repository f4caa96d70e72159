"""The hub's rules for web orders after checkout, with no I/O: fulfilled, handed over, cancelled, re-sourced.

Every figure is checked against the position's equation after each step:
on_hand + shortfall == quota + held + in_flight + hub_share + reserved.
"""

from __future__ import annotations

import pytest

from hub import rules
from hub.rules import EntryFacts, Position, Records, Reservation
from sync.kinds import Kind


def store_pos(**kw: int) -> Position:
    """S001, SKU X: 10 on hand, quota 6, hub share 2, 2 reserved (one order of 2), unless told."""
    figures = {"on_hand": 10, "quota": 6, "hub_share": 2, "reserved": 2, **kw}
    return Position("S001", "X", **figures)


def order(rid: str = "W-1", status: str = "ordered", qty: int = 2, location: str = "S001", **kw: object) -> Reservation:
    return Reservation(rid, location, "X", qty, status, None, **kw)  # type: ignore[arg-type]


def hand_over_entry(ref: str = "W-1", qty: int = 2, seq: int = 7, **kw: int) -> EntryFacts:
    fields = {"on_hand_delta": -qty, "quota_delta": 0, "held_delta": 0, **kw}
    return EntryFacts(seq, Kind.ORDER_HANDED_OVER, "X", qty, fields["on_hand_delta"], fields["quota_delta"],
                      fields["held_delta"], 0, ref)


def apply(pos: Position, e: EntryFacts, orders: list[Reservation], store: str = "S001") -> rules.Settlement:
    records = Records(orders={o.reservation_id: o for o in orders})
    s = rules.apply_store_entry(pos, store, e, records, [o for o in orders if o.status in rules.OPEN])
    assert pos.balanced, pos
    return s


# -- fulfilled ---------------------------------------------------------------------------


def test_shipping_from_the_warehouse_takes_the_units_out_now() -> None:
    w = Position("W01", "X", on_hand=5, hub_share=3, reserved=2)
    o = order(location="W01")
    assert rules.fulfil(w, o, "ship", at_store=False)
    assert (w.on_hand, w.reserved, w.hub_share, o.status, o.how) == (3, 0, 3, "done", "ship")
    assert w.balanced
    assert not rules.fulfil(w, o, "ship", at_store=False)  # again: nothing moves
    assert (w.on_hand, w.reserved) == (3, 0)


def test_a_store_is_asked_and_nothing_moves_until_its_entry_says_so() -> None:
    p, o = store_pos(), order()
    assert rules.fulfil(p, o, "pickup", at_store=True)
    assert (o.status, o.how, p.on_hand, p.reserved) == ("to_hand_over", "pickup", 10, 2)
    assert not rules.fulfil(p, o, "pickup", at_store=True)
    # The store may have pulled "pick-up" already: the other method is refused, not switched under it.
    with pytest.raises(rules.Conflict, match="is to be picked up already; to have it shipped instead, cancel it"):
        rules.fulfil(p, o, "ship", at_store=True)
    assert (o.status, o.how, p.on_hand, p.reserved) == ("to_hand_over", "pickup", 10, 2)
    shipped = order(rid="W-2")
    assert rules.fulfil(p, shipped, "ship", at_store=True)
    with pytest.raises(rules.Conflict, match="is to be shipped already; to have it picked up instead"):
        rules.fulfil(p, shipped, "pickup", at_store=True)
    assert not rules.fulfil(p, shipped, "ship", at_store=True)  # the same method again: answered as before


@pytest.mark.parametrize("status, words", [("held", "cart hold, not an order"), ("cancelled", "is cancelled"),
                                           ("expired", "is expired")])
def test_only_an_order_is_fulfilled(status: str, words: str) -> None:
    with pytest.raises(rules.Conflict, match=words):
        rules.fulfil(store_pos(), order(status=status), "ship", at_store=True)


def test_no_pick_up_where_there_is_no_counter_and_no_other_way() -> None:
    w = Position("W01", "X", on_hand=2, reserved=2)
    with pytest.raises(rules.Conflict, match="no counter"):
        rules.fulfil(w, order(location="W01"), "pickup", at_store=False)
    with pytest.raises(rules.BadRequest, match="pickup or ship"):
        rules.fulfil(w, order(location="W01"), "drone", at_store=False)
    done = order(status="done", how="pickup")
    with pytest.raises(rules.Conflict, match="handed over already"):
        rules.fulfil(store_pos(), done, "ship", at_store=True)


# -- handed over at the store -----------------------------------------------------------------


def test_a_hand_over_consumes_its_own_order_out_of_the_hub_share() -> None:
    p, o = store_pos(), order(status="to_hand_over", how="pickup")
    s = apply(p, hand_over_entry(), [o])
    assert (p.on_hand, p.quota, p.reserved, p.hub_share) == (8, 6, 0, 2)  # the quota untouched
    assert o.status == "done" and not s.problems


def test_an_order_the_hub_holds_as_ordered_there_is_taken_too() -> None:
    """A hub restored from a backup may have lost the asking; the store's entry is the fact."""
    p, o = store_pos(), order(status="ordered")
    assert not apply(p, hand_over_entry(), [o]).problems
    assert o.status == "done"


@pytest.mark.parametrize("case, kind", [("unknown", "unknown_reference"), ("elsewhere", "foreign_reference"),
                                        ("cancelled", "order_not_open"), ("done", "order_repeated"),
                                        ("other_qty", "reference_mismatch")])
def test_a_hand_over_of_an_order_not_open_here_is_an_incident_settled_like_an_over_quota(case: str, kind: str) -> None:
    p = store_pos()
    o = {"unknown": None, "elsewhere": order(location="S002"), "cancelled": order(status="cancelled"),
         "done": order(status="done"), "other_qty": order(qty=1)}[case]
    before = (o.status, o.location) if o else None
    s = apply(p, hand_over_entry(), [o] if o else [])
    assert [k for k, _ in s.problems] == [kind]
    assert (p.on_hand, p.reserved, p.hub_share) == (8, 2, 0)  # from the hub's share, the reservation kept
    if o is not None:
        assert (o.status, o.location) == before


def test_a_foreign_hand_over_leaves_the_other_stores_order_alone() -> None:
    p, o = store_pos(), order(location="S002", status="to_hand_over")
    apply(p, hand_over_entry(), [o], store="S001")
    assert o.status == "to_hand_over"


def test_a_hand_over_out_of_the_quota_returns_the_claim_and_says_so() -> None:
    p, o = store_pos(), order(status="to_hand_over")
    s = apply(p, hand_over_entry(quota_delta=-2), [o])
    assert (p.on_hand, p.quota, p.reserved, p.hub_share) == (8, 4, 0, 4)
    assert [k for k, _ in s.problems] == ["hand_over_from_quota"]


def test_handing_over_an_order_at_risk_moves_the_risk_to_the_orders_left() -> None:
    """A shortfall of 1 borne by the older order; the newer one bears it once the older is handed over
    (the store could: units granted, not yet applied, were still on its shelf)."""
    p = Position("S001", "X", on_hand=6, quota=4, in_flight=1, hub_share=0, reserved=2, shortfall=1)
    older, newer = order("W-old", qty=1, status="to_hand_over", at_risk=True), order("W-new", qty=1)
    records = Records(orders={"W-old": older})
    s = rules.apply_store_entry(p, "S001", hand_over_entry("W-old", qty=1), records, [newer, older])
    assert p.balanced and older.status == "done"
    assert newer.at_risk and s.at_risk == ["W-new"]
    assert p.shortfall == 1 and p.reserved == 1


# -- cancelled --------------------------------------------------------------------------------


def test_a_cancel_returns_the_units_once_and_pays_a_shortfall_first() -> None:
    p = Position("S001", "X", on_hand=4, quota=2, hub_share=0, reserved=3, shortfall=1)
    o = order(qty=3, at_risk=True)
    assert rules.cancel_order(p, o)
    assert (p.reserved, p.shortfall, p.hub_share, o.status) == (0, 0, 2, "cancelled") and p.balanced
    assert not rules.cancel_order(p, o)  # again: nothing changes
    assert (p.reserved, p.hub_share) == (0, 2)


@pytest.mark.parametrize("status", ["to_hand_over", "held"])
def test_an_order_asked_of_a_store_or_a_cart_can_be_cancelled(status: str) -> None:
    p = store_pos()
    assert rules.cancel_order(p, order(status=status))
    assert (p.reserved, p.hub_share) == (0, 4)


def test_a_handed_over_order_cannot_be_cancelled() -> None:
    p = store_pos(reserved=0, on_hand=8)
    with pytest.raises(rules.Conflict, match="handed over .* cannot be cancelled"):
        rules.cancel_order(p, order(status="done", how="pickup"))
    assert (p.reserved, p.hub_share) == (0, 2)


# -- re-sourced -------------------------------------------------------------------------------


def test_resourcing_moves_the_claim_in_one_step() -> None:
    old = Position("S001", "X", on_hand=1, quota=0, hub_share=0, reserved=2, shortfall=1)
    new = Position("W01", "X", on_hand=5, hub_share=5)
    o = order(qty=2, status="to_hand_over", how="pickup", at_risk=True)
    rules.resource(old, new, o)
    assert (o.location, o.status, o.how, o.at_risk) == ("W01", "ordered", None, False)
    assert (new.hub_share, new.reserved) == (3, 2) and new.balanced
    assert (old.reserved, old.shortfall, old.hub_share) == (0, 0, 1) and old.balanced


@pytest.mark.parametrize("o, words", [(order(), "not at risk"), (order(status="done", at_risk=True), "is done"),
                                      (order(status="cancelled", at_risk=True), "is cancelled")])
def test_only_an_open_order_at_risk_is_resourced(o: Reservation, words: str) -> None:
    with pytest.raises(rules.Conflict, match=words):
        rules.resource(store_pos(), Position("W01", "X", on_hand=5, hub_share=5), o)


def test_resourcing_where_nothing_can_be_promised_is_refused_and_changes_nothing() -> None:
    old = Position("S001", "X", on_hand=1, reserved=2, shortfall=1)
    new = Position("W01", "X", on_hand=1, hub_share=1)
    o = order(qty=2, at_risk=True)
    with pytest.raises(rules.NotEnough, match="Only 1 of X can be promised at W01; 2 asked"):
        rules.resource(old, new, o)
    assert (old.reserved, new.hub_share, o.location, o.at_risk) == (2, 1, "S001", True)
    with pytest.raises(rules.NotEnough, match="No location can promise 2"):
        rules.best_elsewhere([old, new], o)
    assert rules.best_elsewhere([old, new, Position("S002", "X", on_hand=3, hub_share=3)], o).location == "S002"
    with pytest.raises(rules.Conflict, match="already"):
        rules.resource(old, Position("S001", "X", hub_share=5, on_hand=5), o)
