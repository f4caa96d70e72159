"""The store's rules on their own: balances in, a Plan out, no SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from node import rules
from node.errors import (
    AlreadyApplied,
    BadQuantity,
    BadReceipt,
    HoldUnavailable,
    NotOnHand,
    QuotaExceeded,
    UnknownSku,
)
from node.rules import BACK, FLOOR, Balance, Hold, Kind, Policy, SaleLine, Sold, Tender

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


def book(floor: int = 0, back: int = 0, quota: int = 0, held: int = 0, over_quota: int = 0,
         sku: str = "A") -> dict[str, Balance]:
    return {sku: Balance(sku, {FLOOR: floor, BACK: back}, quota, held, over_quota)}


def only(plan: rules.Plan) -> rules.Posted:
    assert len(plan.entries) == 1
    return plan.entries[0]


def sell(balances, *lines, policy=Policy.IN_HAND, holds=None, now=NOW):
    return rules.sell(balances, list(lines), policy=policy, receipt="R1", tender=Tender.CASH,
                      holds=holds, now=now)


def hold_on(balances, qty=2, hold_id="H1", ttl=timedelta(hours=2)):
    plan = rules.place_hold(balances, hold_id, "A", qty, now=NOW, ttl=ttl)
    return plan.balances, {h.hold_id: h for h in plan.opened_holds}


# -- sales -------------------------------------------------------------------


def test_a_sale_within_quota_takes_quota_and_units_and_records_no_over_quota() -> None:
    start = book(floor=5, back=5, quota=4)
    p = only(sell(start, SaleLine("A", 3, 200)))
    assert p.change.kind is Kind.SALE
    assert p.change.quota_delta == -3 and p.change.over_quota == 0
    assert p.change.amount == 600 and p.change.ref == "R1"
    assert (p.on_hand, p.quota, p.held) == (7, 1, 0)
    # the caller's balances are not touched: only the plan's copies are
    assert start["A"].quota == 4 and start["A"].on_hand == 10


def test_a_sale_past_quota_under_in_hand_is_sold_and_records_over_quota() -> None:
    plan = sell(book(floor=5, quota=2), SaleLine("A", 5, 100), policy=Policy.IN_HAND)
    p = only(plan)
    assert p.change.quota_delta == -2 and p.change.over_quota == 3
    assert (p.on_hand, p.quota) == (0, 0)
    assert plan.balances["A"].over_quota == 3


def test_a_sale_past_quota_under_strict_is_refused_with_a_clear_message() -> None:
    with pytest.raises(QuotaExceeded, match=r"Only 2 of A may be sold.*strict"):
        sell(book(floor=5, quota=2), SaleLine("A", 3, 100), policy=Policy.STRICT)


def test_a_sale_within_quota_under_strict_is_sold() -> None:
    p = only(sell(book(floor=5, quota=2), SaleLine("A", 2, 100), policy=Policy.STRICT))
    assert p.change.over_quota == 0 and p.quota == 0


def test_a_policy_given_as_its_word_is_honoured() -> None:
    with pytest.raises(QuotaExceeded):
        sell(book(floor=5, quota=0), SaleLine("A", 1, 100), policy="strict")


def test_a_sale_takes_the_floor_first_then_the_back() -> None:
    p = only(sell(book(floor=2, back=5, quota=10), SaleLine("A", 4, 100)))
    assert dict(p.change.bins) == {FLOOR: -2, BACK: -2}


def test_a_sale_of_more_than_is_on_hand_is_refused_under_strict() -> None:
    with pytest.raises(NotOnHand, match="only 3"):
        sell(book(floor=1, back=2, quota=3), SaleLine("A", 4, 100), policy=Policy.STRICT)


def test_in_hand_a_unit_the_book_lacks_is_found_at_the_till_then_sold() -> None:
    plan = sell(book(floor=1, back=2, quota=3), SaleLine("A", 4, 100))
    found, sale = plan.entries
    assert (found.change.kind, found.change.qty, found.change.quota_delta) == (Kind.COUNT, 1, 1)
    assert found.change.detail["found_at_till"] is True
    assert (sale.change.kind, sale.change.qty, sale.change.over_quota) == (Kind.SALE, 4, 0)
    assert (sale.on_hand, sale.quota) == (0, 0)


def test_a_sale_of_several_lines_of_one_sku_uses_the_quota_left_by_the_line_before() -> None:
    plan = sell(book(floor=5, quota=3), SaleLine("A", 2, 100), SaleLine("A", 2, 100))
    first, second = plan.entries
    assert (first.change.over_quota, first.quota) == (0, 1)
    assert (second.change.over_quota, second.quota, second.on_hand) == (1, 0, 1)


def test_a_sale_with_no_lines_or_a_bad_price_is_refused() -> None:
    with pytest.raises(BadQuantity, match="at least one line"):
        sell(book(floor=1, quota=1))
    with pytest.raises(BadQuantity, match="Price"):
        sell(book(floor=1, quota=1), SaleLine("A", 1, -5))


def test_a_sale_of_an_unknown_sku_is_refused() -> None:
    with pytest.raises(UnknownSku, match="SKU Z"):
        sell(book(floor=1, quota=1), SaleLine("Z", 1, 100))


# -- holds -------------------------------------------------------------------


def test_a_hold_comes_out_of_the_quota_and_leaves_the_units_on_hand() -> None:
    plan = rules.place_hold(book(floor=5, quota=3), "H1", "A", 2, now=NOW, ttl=timedelta(hours=2),
                            customer="Ann")
    p = only(plan)
    assert p.change.kind is Kind.HOLD and p.change.bins == ()
    assert (p.on_hand, p.quota, p.held) == (5, 1, 2)
    assert plan.opened_holds == [Hold("H1", "A", 2, NOW + timedelta(hours=2), "Ann")]


def test_a_hold_of_more_than_the_quota_is_refused() -> None:
    with pytest.raises(QuotaExceeded, match="Only 3 of A are free to hold"):
        rules.place_hold(book(floor=9, quota=3), "H1", "A", 4, now=NOW, ttl=timedelta(hours=1))


def test_a_hold_needs_an_unheld_unit_on_the_book_as_well_as_quota() -> None:
    # quota can outrun the book (a grant landing after an unsynced over-quota sale)
    with pytest.raises(NotOnHand, match="only 1 of A not already held; 2 cannot be put aside"):
        rules.place_hold(book(floor=3, quota=4, held=2), "H1", "A", 2, now=NOW, ttl=timedelta(hours=1))


def test_a_hold_that_lasts_no_time_is_refused() -> None:
    with pytest.raises(BadQuantity, match="last a while"):
        rules.place_hold(book(floor=9, quota=3), "H1", "A", 1, now=NOW, ttl=timedelta(0))


def test_a_released_hold_returns_its_units_to_the_quota() -> None:
    balances, holds = hold_on(book(floor=5, quota=3))
    plan = rules.release_hold(balances, holds, "H1", now=NOW + timedelta(minutes=5))
    p = only(plan)
    assert p.change.kind is Kind.HOLD_RELEASED
    assert (p.on_hand, p.quota, p.held) == (5, 3, 0)
    assert plan.closed_holds == [("H1", Kind.HOLD_RELEASED)]


def test_a_hold_released_after_its_time_is_recorded_as_expired() -> None:
    balances, holds = hold_on(book(floor=5, quota=3))
    p = only(rules.release_hold(balances, holds, "H1", now=NOW + timedelta(hours=3)))
    assert p.change.kind is Kind.HOLD_EXPIRED


def test_releasing_an_unknown_hold_is_refused() -> None:
    with pytest.raises(HoldUnavailable, match="H9"):
        rules.release_hold(book(floor=5, quota=3), {}, "H9", now=NOW)


def test_expiry_returns_only_the_holds_past_their_time_in_time_order() -> None:
    balances = book(floor=9, quota=9)
    holds = {
        "late": Hold("late", "A", 1, NOW + timedelta(hours=2)),
        "due2": Hold("due2", "A", 2, NOW - timedelta(minutes=1)),
        "due1": Hold("due1", "A", 3, NOW - timedelta(hours=1)),
    }
    balances["A"].quota, balances["A"].held = 3, 6
    plan = rules.expire_holds(balances, holds, now=NOW)
    assert [p.change.ref for p in plan.entries] == ["due1", "due2"]
    assert all(p.change.kind is Kind.HOLD_EXPIRED for p in plan.entries)
    assert (plan.entries[-1].quota, plan.entries[-1].held) == (8, 1)
    assert plan.closed_holds == [("due1", Kind.HOLD_EXPIRED), ("due2", Kind.HOLD_EXPIRED)]


def test_expiry_with_nothing_due_plans_nothing() -> None:
    plan = rules.expire_holds(book(floor=1, quota=1), {"h": Hold("h", "A", 1, NOW + timedelta(1))}, now=NOW)
    assert plan.entries == [] and plan.closed_holds == []


def test_a_held_unit_sold_through_its_hold_leaves_the_quota_alone() -> None:
    balances, holds = hold_on(book(floor=1, back=4, quota=3), qty=2)
    plan = sell(balances, SaleLine("A", 2, 150, hold_id="H1"), holds=holds)
    p = only(plan)
    assert p.change.kind is Kind.HOLD_CONVERTED
    assert p.change.quota_delta == 0 and p.change.held_delta == -2 and p.change.over_quota == 0
    assert dict(p.change.bins) == {FLOOR: -1, BACK: -1}
    assert (p.on_hand, p.quota, p.held) == (3, 1, 0)
    assert p.change.detail["hold_id"] == "H1" and p.change.amount == 300
    assert plan.closed_holds == [("H1", Kind.HOLD_CONVERTED)]


def test_a_hold_converted_under_strict_with_no_quota_left_is_still_sold() -> None:
    balances, holds = hold_on(book(floor=2, quota=2), qty=2)
    p = only(sell(balances, SaleLine("A", 2, 150, hold_id="H1"), holds=holds, policy=Policy.STRICT))
    assert p.change.over_quota == 0 and p.quota == 0


def test_a_hold_sold_for_another_quantity_or_twice_or_after_its_time_is_refused() -> None:
    balances, holds = hold_on(book(floor=5, quota=3), qty=2)
    with pytest.raises(HoldUnavailable, match="is for 2 of A, not 1"):
        sell(balances, SaleLine("A", 1, 150, hold_id="H1"), holds=holds)
    with pytest.raises(HoldUnavailable, match="not open"):
        sell(balances, SaleLine("A", 2, 150, hold_id="H1"), SaleLine("A", 2, 150, hold_id="H1"), holds=holds)
    with pytest.raises(HoldUnavailable, match="expired"):
        sell(balances, SaleLine("A", 2, 150, hold_id="H1"), holds=holds, now=NOW + timedelta(hours=2))
    with pytest.raises(HoldUnavailable, match="not open"):
        sell(balances, SaleLine("A", 2, 150, hold_id="nope"), holds=holds)


# -- counts and write-offs -----------------------------------------------------


def test_a_count_higher_than_the_book_joins_the_quota() -> None:
    p = only(rules.count(book(floor=3, back=2, quota=1), "A", FLOOR, 7))
    assert p.change.kind is Kind.COUNT and dict(p.change.bins) == {FLOOR: 4}
    assert p.change.quota_delta == 4 and p.change.over_quota == 0
    assert (p.on_hand, p.quota) == (9, 5)
    assert p.change.detail == {"book": 3, "counted": 7}


def test_a_count_lower_than_the_book_takes_the_quota_first_then_records_over_quota() -> None:
    p = only(rules.count(book(floor=6, back=2, quota=2), "A", FLOOR, 1))
    assert dict(p.change.bins) == {FLOOR: -5} and p.change.qty == 5
    assert p.change.quota_delta == -2 and p.change.over_quota == 3
    assert (p.on_hand, p.quota) == (3, 0)


def test_a_count_equal_to_the_book_records_a_correction_of_zero() -> None:
    p = only(rules.count(book(floor=3, quota=1), "A", FLOOR, 3))
    assert p.change.qty == 0 and p.change.quota_delta == 0 and p.on_hand == 3


def test_a_negative_or_fractional_count_or_an_unknown_bin_is_refused() -> None:
    with pytest.raises(BadQuantity):
        rules.count(book(floor=3), "A", FLOOR, -1)
    with pytest.raises(BadQuantity):
        rules.count(book(floor=3), "A", FLOOR, 2.5)
    with pytest.raises(BadQuantity, match="Bin 'attic'"):
        rules.count(book(floor=3), "A", "attic", 2)


@pytest.mark.parametrize("kind", [Kind.DAMAGED, Kind.EXPIRED, Kind.LOST])
def test_a_write_off_takes_the_quota_first_then_records_over_quota(kind: Kind) -> None:
    p = only(rules.write_off(book(floor=1, back=5, quota=1), kind, "A", 3, bin_=BACK, reason="crushed"))
    assert p.change.kind is kind and dict(p.change.bins) == {BACK: -3}
    assert p.change.quota_delta == -1 and p.change.over_quota == 2
    assert (p.on_hand, p.quota) == (3, 0)
    assert p.change.detail == {"reason": "crushed"}


def test_a_write_off_covered_by_the_quota_records_no_over_quota() -> None:
    p = only(rules.write_off(book(floor=4, quota=4), Kind.DAMAGED, "A", 2))
    assert p.change.quota_delta == -2 and p.change.over_quota == 0


def test_a_write_off_of_more_than_the_bin_holds_is_refused() -> None:
    with pytest.raises(NotOnHand, match="floor bin"):
        rules.write_off(book(floor=1, back=9, quota=9), Kind.LOST, "A", 2, bin_=FLOOR)


def test_a_write_off_of_another_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        rules.write_off(book(floor=1), Kind.SALE, "A", 1)


# -- moves and transfers -------------------------------------------------------


def test_a_move_changes_bins_and_nothing_else() -> None:
    p = only(rules.move(book(floor=1, back=5, quota=2), "A", 3, from_bin=BACK, to_bin=FLOOR))
    assert dict(p.change.bins) == {BACK: -3, FLOOR: 3}
    assert p.change.on_hand_delta == 0 and p.change.quota_delta == 0
    assert (p.on_hand, p.quota) == (6, 2)


def test_a_move_to_the_same_bin_or_of_more_than_the_bin_holds_is_refused() -> None:
    with pytest.raises(BadQuantity, match="two different bins"):
        rules.move(book(back=5), "A", 1, from_bin=BACK, to_bin=BACK)
    with pytest.raises(NotOnHand):
        rules.move(book(back=5), "A", 6, from_bin=BACK, to_bin=FLOOR)


def test_a_transfer_the_store_starts_comes_out_of_its_quota() -> None:
    p = only(rules.transfer_out(book(floor=2, back=3, quota=4), "T1", "A", 4, to_location="S2"))
    assert p.change.kind is Kind.TRANSFER_OUT and p.change.ref == "T1"
    assert dict(p.change.bins) == {BACK: -3, FLOOR: -1}
    assert p.change.quota_delta == -4
    assert (p.on_hand, p.quota) == (1, 0)
    assert p.change.detail == {"to": "S2", "hub_ordered": False}


def test_a_transfer_the_store_starts_past_its_quota_is_refused() -> None:
    with pytest.raises(QuotaExceeded, match="Only 1 of A"):
        rules.transfer_out(book(back=5, quota=1), "T1", "A", 2, to_location="S2")


def test_a_transfer_the_hub_orders_comes_out_of_the_hub_share_not_the_quota() -> None:
    p = only(rules.transfer_out(book(back=5, quota=1), "T1", "A", 3, to_location="W1", hub_ordered=True))
    assert p.change.quota_delta == 0 and p.change.on_hand_delta == -3
    assert (p.on_hand, p.quota) == (2, 1)


def test_a_transfer_out_of_more_than_is_on_hand_is_refused() -> None:
    with pytest.raises(NotOnHand):
        rules.transfer_out(book(back=2, quota=2), "T1", "A", 3, to_location="W1", hub_ordered=True)


def test_a_transfer_in_joins_the_quota_once() -> None:
    sent = rules.Incoming("T7", "A", 4, "W1")
    p = only(rules.transfer_in(book(), "T7", "A", 4, from_location="W1", expected=sent, already_applied=False))
    assert p.change.kind is Kind.TRANSFER_IN and dict(p.change.bins) == {BACK: 4}
    assert (p.on_hand, p.quota) == (4, 4)
    with pytest.raises(AlreadyApplied, match="Transfer T7"):
        rules.transfer_in(book(), "T7", "A", 4, from_location="W1", expected=sent, already_applied=True)


def test_a_delivery_joins_the_quota_at_once() -> None:
    p = only(rules.receive(book(floor=1), "A", 6, delivery="D1"))
    assert p.change.kind is Kind.RECEIVE and dict(p.change.bins) == {BACK: 6}
    assert (p.on_hand, p.quota) == (7, 6) and p.change.ref == "D1"


# -- quota moves ---------------------------------------------------------------


def test_a_grant_becomes_quota_and_moves_no_units() -> None:
    p = only(rules.apply_grant(book(back=5, quota=1), "G1", "A", 3, pulled=rules.PulledGrant("G1", "A", 3),
                               already_applied=False))
    assert p.change.kind is Kind.QUOTA_GRANTED and p.change.bins == () and p.change.ref == "G1"
    assert (p.on_hand, p.quota) == (5, 4)


def test_a_grant_applied_before_is_refused() -> None:
    with pytest.raises(AlreadyApplied, match="Grant G1"):
        rules.apply_grant(book(back=5), "G1", "A", 3, pulled=rules.PulledGrant("G1", "A", 3), already_applied=True)


def test_a_release_gives_back_at_most_the_unused_quota() -> None:
    p = only(rules.release_quota(book(back=9, quota=3), "REL1", "A", 5, request_id="RQ1"))
    assert p.change.kind is Kind.QUOTA_RELEASED
    assert p.change.qty == 3 and p.change.quota_delta == -3 and p.quota == 0
    assert p.change.detail == {"asked": 5, "request_id": "RQ1"}


def test_a_release_smaller_than_the_quota_gives_back_what_was_asked() -> None:
    p = only(rules.release_quota(book(back=9, quota=6), "REL1", "A", 2))
    assert p.change.qty == 2 and p.quota == 4


def test_held_units_are_not_unused_quota() -> None:
    balances, _ = hold_on(book(floor=5, quota=3), qty=3)
    p = only(rules.release_quota(balances, "REL1", "A", 2, request_id="RQ1"))
    assert p.change.qty == 0 and p.held == 3


def test_a_hub_requested_release_with_nothing_unused_writes_an_entry_of_zero() -> None:
    p = only(rules.release_quota(book(back=9, quota=0), "REL1", "A", 4, request_id="RQ1"))
    assert p.change.qty == 0 and p.change.quota_delta == 0 and p.change.ref == "REL1"


def test_a_release_of_the_stores_own_with_nothing_unused_is_refused() -> None:
    with pytest.raises(QuotaExceeded, match="no unused quota"):
        rules.release_quota(book(back=9, quota=0), "REL1", "A", 4)


# -- returns -------------------------------------------------------------------


def test_a_resellable_return_joins_the_quota_and_refunds_the_receipts_price() -> None:
    p = only(rules.return_items(book(), "A", 2, resellable=True, unit_price=999, receipt="R1",
                                sold=Sold(qty=3, unit_price=150)))
    assert p.change.kind is Kind.RETURN and dict(p.change.bins) == {BACK: 2}
    assert p.change.quota_delta == 2 and p.change.amount == -300
    assert (p.on_hand, p.quota) == (2, 2)


def test_a_return_that_cannot_be_resold_refunds_and_leaves_the_book_alone() -> None:
    p = only(rules.return_items(book(floor=1, quota=1), "A", 1, resellable=False, unit_price=150))
    assert p.change.bins == () and p.change.quota_delta == 0 and p.change.amount == -150
    assert (p.on_hand, p.quota) == (1, 1)


def test_a_return_of_more_than_the_receipt_has_left_is_refused() -> None:
    with pytest.raises(BadReceipt, match="sold 3 of A and 2 came back already"):
        rules.return_items(book(), "A", 2, resellable=True, unit_price=150, receipt="R1",
                           sold=Sold(qty=3, unit_price=150, returned=2))
    p = only(rules.return_items(book(), "A", 1, resellable=True, unit_price=150, receipt="R1",
                                sold=Sold(qty=3, unit_price=150, returned=2)))
    assert p.change.qty == 1


def test_a_return_on_a_receipt_that_did_not_sell_the_sku_is_refused() -> None:
    with pytest.raises(BadReceipt, match="Receipt R9 has no sale of A"):
        rules.return_items(book(), "A", 1, resellable=True, unit_price=150, receipt="R9", sold=None)


# -- quantities ----------------------------------------------------------------


@pytest.mark.parametrize("qty", [0, -1, 1.5, "2", True, None])
def test_every_operation_refuses_a_quantity_that_is_not_a_whole_positive_number(qty: object) -> None:
    b = book(floor=5, back=5, quota=5)
    attempts = [
        lambda: sell(b, SaleLine("A", qty, 100)),
        lambda: rules.receive(b, "A", qty),
        lambda: rules.place_hold(b, "H", "A", qty, now=NOW, ttl=timedelta(hours=1)),
        lambda: rules.write_off(b, Kind.DAMAGED, "A", qty),
        lambda: rules.move(b, "A", qty, from_bin=BACK, to_bin=FLOOR),
        lambda: rules.transfer_out(b, "T", "A", qty, to_location="S2"),
        lambda: rules.transfer_in(b, "T", "A", qty, from_location="S2", expected=rules.Incoming("T", "A", 1, "S2"),
                                  already_applied=False),
        lambda: rules.apply_grant(b, "G", "A", qty, pulled=rules.PulledGrant("G", "A", 1), already_applied=False),
        lambda: rules.release_quota(b, "R", "A", qty, request_id="RQ"),
        lambda: rules.return_items(b, "A", qty, resellable=True, unit_price=1),
    ]
    for attempt in attempts:
        with pytest.raises(BadQuantity, match="whole number|at least 1"):
            attempt()
    assert b["A"] == Balance("A", {FLOOR: 5, BACK: 5}, 5)
