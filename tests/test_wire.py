"""The wire's content hash: what makes two entries under one sequence the same entry."""

from __future__ import annotations

from dataclasses import astuple

from hub.rules import Position
from sync.models import LedgerEntry


def sale(**over: object) -> LedgerEntry:
    fields = dict(seq=7, store_id="S001", op_id="op-7", kind="sale", sku="SKU000001", qty=1, floor_delta=-1,
                  back_delta=0, quota_delta=-1, held_delta=0, over_quota=0, ref="R-1", amount=1299, on_hand_after=4,
                  quota_after=3, held_after=0, terminal="T1", clerk="ann", at="2026-11-30T09:00:00.000000+00:00",
                  detail={"receipt": "R-1", "tender": "card", "unit_price": 1299})
    return LedgerEntry(**{**fields, **over})


def test_the_same_content_in_another_key_order_hashes_the_same() -> None:
    sorted_detail = sale(detail={"a": 1, "b": {"x": [{"m": 1, "n": 2}], "y": 2}})
    shuffled = sale(detail={"b": {"y": 2, "x": [{"n": 2, "m": 1}]}, "a": 1})
    assert shuffled.canonical_json() == sorted_detail.canonical_json()
    assert shuffled.content_hash() == sorted_detail.content_hash()


def test_an_unsorted_key_deep_inside_detail_is_still_sorted() -> None:
    # The top level is in order; only a dict inside a list is not.
    entry = sale(detail={"lines": [{"qty": 1, "price": 5}], "receipt": "R-1"})
    assert '"lines":[{"price":5,"qty":1}]' in entry.canonical_json()


def test_any_change_of_content_changes_the_hash() -> None:
    base = sale()
    for changed in (sale(clerk="bob"), sale(qty=2), sale(detail={"receipt": "R-2", "tender": "card",
                                                                   "unit_price": 1299})):
        assert changed.content_hash() != base.content_hash()


def test_a_position_row_is_its_fields_in_order() -> None:
    # The hub writes positions with Position.row(); the table's columns follow the dataclass.
    p = Position("S001", "SKU1", on_hand=9, quota=1, held=2, in_flight=3, hub_share=4, reserved=5, shortfall=6,
                 safety_buffer=7)
    assert p.row() == astuple(p)
