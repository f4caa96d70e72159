"""Wrong input through the Node: the right error, one clear sentence, and nothing written."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest

from node.barcodes import make_gtin13
from node.errors import (
    AlreadyApplied,
    BadBarcode,
    BadInput,
    BadQuantity,
    ExpiredItem,
    HoldUnavailable,
    NotOnHand,
    QuotaExceeded,
    StoreError,
    UnknownSku,
)
from node.rules import SaleLine
from node.service import Node
from sync.models import Grant, PullResponse, TransferOrder

TABLES = ("ledger", "stock", "operations", "holds", "terminals", "meta", "incoming_transfers", "grants", "problems")

MILK_GTIN = make_gtin13("400000000001")
TAPE_GTIN = make_gtin13("400000000003")


def snapshot(node: Node) -> dict[str, list[tuple]]:
    return {t: [tuple(r) for r in node.conn.execute(f"SELECT * FROM {t} ORDER BY rowid")] for t in TABLES}


@contextmanager
def refused(node: Node, error: type[StoreError], match: str) -> Iterator[None]:
    """The block raises `error` with a message matching `match`, and the node file is unchanged."""
    before = snapshot(node)
    with pytest.raises(error, match=match) as info:
        yield
    message = str(info.value)
    assert message and "\n" not in message and message[0].isupper() and message.rstrip().endswith((".", ")"))
    assert info.value.code != StoreError.code
    assert snapshot(node) == before


@pytest.fixture
def node(make_node: Callable[..., Node]) -> Node:
    return make_node()


@pytest.fixture
def strict(make_node: Callable[..., Node]) -> Node:
    return make_node(policy="strict")


# -- scans ---------------------------------------------------------------------


def test_a_scan_with_a_wrong_check_digit_names_the_check_digit(node: Node) -> None:
    good = MILK_GTIN
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    with refused(node, BadBarcode, rf"{bad} has a wrong check digit: expected {good[-1]}"):
        node.resolve(bad)
    with refused(node, BadBarcode, "check digit"):
        node.lookup(bad)
    assert node.resolve(good).sku == "SKU-MILK"


def test_an_unreadable_scan_is_a_bad_barcode(node: Node) -> None:
    with refused(node, BadBarcode, "not a barcode this till can read"):
        node.resolve("hello")
    with refused(node, BadBarcode, "empty"):
        node.resolve("   ")


def test_a_valid_barcode_the_store_does_not_sell_is_an_unknown_sku(node: Node) -> None:
    stranger = make_gtin13("400000000999")
    with refused(node, UnknownSku, rf"Barcode {stranger} is not an item this store sells"):
        node.resolve(stranger)


def test_a_typed_sku_the_store_does_not_have_is_an_unknown_sku(node: Node) -> None:
    with refused(node, UnknownSku, "SKU-NOPE is not in this store's catalog"):
        node.resolve("SKU-NOPE")
    assert node.resolve("sku-milk").sku == "SKU-MILK"


def test_a_perishable_scanned_past_its_expiry_is_refused(node: Node) -> None:
    yesterday = node.clock().date() - timedelta(days=1)
    code = f"(01){MILK_GTIN.zfill(14)}(17){yesterday:%y%m%d}"
    with refused(node, ExpiredItem, rf"Whole milk 1 l expired on {yesterday:%Y-%m-%d}.*cannot be sold"):
        node.resolve(code)
    # the same with FNC1-free GS1 digits as a scanner types them
    with refused(node, ExpiredItem, "expired"):
        node.resolve(f"01{MILK_GTIN.zfill(14)}17{yesterday:%y%m%d}")


def test_a_perishable_within_its_date_and_a_dated_non_perishable_are_sold(node: Node) -> None:
    today = node.clock().date()
    yesterday = today - timedelta(days=1)
    assert node.resolve(f"(01){MILK_GTIN.zfill(14)}(17){today:%y%m%d}").sku == "SKU-MILK"
    r = node.resolve(f"(01){TAPE_GTIN.zfill(14)}(17){yesterday:%y%m%d}")
    assert r.sku == "SKU-TAPE" and r.scan.expiry == yesterday


# -- quantities ----------------------------------------------------------------

BAD_QUANTITIES = [0, -3, 1.5, "2", None, True]


@pytest.mark.parametrize("qty", BAD_QUANTITIES, ids=repr)
def test_a_quantity_that_is_not_a_whole_positive_number_is_refused_everywhere(node: Node, qty: object) -> None:
    attempts: list[Callable[[], object]] = [
        lambda: node.sell("op-sale", [SaleLine("SKU-MILK", qty, 129)]),
        lambda: node.receive("op-recv", "SKU-MILK", qty),
        lambda: node.hold("op-hold", "SKU-MILK", qty),
        lambda: node.return_items("op-ret", "SKU-MILK", qty),
        lambda: node.write_off("op-dmg", "damaged", "SKU-MILK", qty),
        lambda: node.move("op-move", "SKU-MILK", qty, from_bin="back", to_bin="floor"),
        lambda: node.transfer_out("op-tout", "SKU-MILK", qty, to_location="S2"),
        lambda: node.transfer_in("op-tin", "TR-1", "SKU-MILK", qty, from_location="S2"),
        lambda: node.apply_grant("op-grant", "G-1", "SKU-MILK", qty),
        lambda: node.release_quota("op-rel", "SKU-MILK", qty, request_id="RQ-1"),
    ]
    for attempt in attempts:
        with refused(node, BadQuantity, r"must be a whole number|must be at least 1"):
            attempt()


@pytest.mark.parametrize("counted", [-1, 2.5, "4", None])
def test_a_counted_figure_below_zero_or_not_whole_is_refused(node: Node, counted: object) -> None:
    with refused(node, BadQuantity, "counted figure must be a whole number of 0 or more"):
        node.count("op-count", "SKU-SOAP", "floor", counted)


def test_a_bin_that_does_not_exist_is_refused(node: Node) -> None:
    with refused(node, BadQuantity, "Bin 'attic' does not exist here"):
        node.receive("op", "SKU-SOAP", 1, bin_="attic")


# -- unknown things --------------------------------------------------------------


def test_an_unknown_sku_is_refused_by_every_operation(node: Node) -> None:
    attempts: list[Callable[[], object]] = [
        lambda: node.sell("op-sale", [SaleLine("SKU-MILK", 1, 129), SaleLine("SKU-NOPE", 1, 100)]),
        lambda: node.receive("op-recv", "SKU-NOPE", 1),
        lambda: node.hold("op-hold", "SKU-NOPE", 1),
        lambda: node.return_items("op-ret", "SKU-NOPE", 1),
        lambda: node.count("op-count", "SKU-NOPE", "floor", 1),
        lambda: node.write_off("op-lost", "lost", "SKU-NOPE", 1),
        lambda: node.move("op-move", "SKU-NOPE", 1, from_bin="back", to_bin="floor"),
        lambda: node.transfer_out("op-tout", "SKU-NOPE", 1, to_location="S2"),
        lambda: node.release_quota("op-rel", "SKU-NOPE", 1, request_id="RQ-1"),
    ]
    for attempt in attempts:
        with refused(node, UnknownSku, "SKU SKU-NOPE is not in this store's catalog"):
            attempt()
    with pytest.raises(UnknownSku):
        node.balance("SKU-NOPE")


def test_an_unknown_or_closed_hold_is_refused(node: Node) -> None:
    with refused(node, HoldUnavailable, "Hold H-NOPE is not open"):
        node.release_hold("op-rel", "H-NOPE")
    with refused(node, HoldUnavailable, "Hold H-NOPE is not open"):
        node.sell("op-sale", [SaleLine("SKU-MILK", 1, 129, hold_id="H-NOPE")])
    node.hold("H-1", "SKU-MILK", 2)
    node.release_hold("op-rel-1", "H-1")
    with refused(node, HoldUnavailable, "Hold H-1 is not open"):
        node.release_hold("op-rel-2", "H-1")
    with refused(node, HoldUnavailable, "Hold H-1 is not open"):
        node.sell("op-sale", [SaleLine("SKU-MILK", 2, 129, hold_id="H-1")])


def test_a_hold_sold_after_its_time_is_refused(node: Node) -> None:
    node.hold("H-1", "SKU-MILK", 2, ttl=timedelta(minutes=30))
    node.clock.advance(minutes=31)
    with refused(node, HoldUnavailable, "Hold H-1 expired at"):
        node.sell("op-sale", [SaleLine("SKU-MILK", 2, 129, hold_id="H-1")])


def test_a_return_on_a_receipt_that_never_sold_the_item_is_refused(node: Node) -> None:
    sale = node.sell("op-sale", [SaleLine("SKU-MILK", 2, 129)])
    with refused(node, BadInput, f"Receipt {sale['receipt']} has no sale of SKU-SOAP"):
        node.return_items("op-ret", "SKU-SOAP", 1, receipt=sale["receipt"])
    with refused(node, BadInput, f"Receipt {sale['receipt']} sold 2 of SKU-MILK"):
        node.return_items("op-ret", "SKU-MILK", 3, receipt=sale["receipt"])


# -- quota -----------------------------------------------------------------------


def test_a_hold_of_more_than_is_free_is_refused(node: Node) -> None:
    with refused(node, QuotaExceeded, "Only 6 of SKU-MILK are free to hold here; 7 asked"):
        node.hold("op-hold", "SKU-MILK", 7)
    node.hold("op-hold-1", "SKU-MILK", 4)
    with refused(node, QuotaExceeded, "Only 2 of SKU-MILK are free to hold here; 3 asked"):
        node.hold("op-hold-2", "SKU-MILK", 3)
    with refused(node, QuotaExceeded, "Only 0 of SKU-TAPE are free to hold"):
        node.hold("op-hold-3", "SKU-TAPE", 1)


def test_a_strict_sale_past_quota_is_refused_and_uses_no_receipt_number(strict: Node) -> None:
    with refused(strict, QuotaExceeded, r"Only 0 of SKU-TAPE may be sold here without the hub \(policy strict\)"):
        strict.sell("op-1", [SaleLine("SKU-TAPE", 1, 499)])
    # a sale with one good line and one past quota is refused whole
    with refused(strict, QuotaExceeded, "Only 6 of SKU-MILK"):
        strict.sell("op-2", [SaleLine("SKU-SOAP", 1, 350), SaleLine("SKU-MILK", 7, 129)])
    first = strict.sell("op-3", [SaleLine("SKU-SOAP", 1, 350)])
    assert first["receipt"].endswith("-000001")


def test_the_same_sale_under_in_hand_is_sold_over_quota(node: Node) -> None:
    result = node.sell("op-1", [SaleLine("SKU-TAPE", 1, 499)])
    assert result["over_quota"] == 1


def test_a_transfer_or_release_of_more_than_is_free_is_refused(node: Node) -> None:
    with refused(node, QuotaExceeded, "Only 5 of SKU-SOAP are this store's to send; 6 asked"):
        node.transfer_out("op-t", "SKU-SOAP", 6, to_location="S2")
    with refused(node, QuotaExceeded, "no unused quota of SKU-TAPE"):
        node.release_quota("op-r", "SKU-TAPE", 1)


def test_more_than_the_book_shows_is_refused(node: Node, strict: Node) -> None:
    with refused(node, NotOnHand, "only 3 of SKU-SOAP in the floor bin, not 4"):
        node.write_off("op-w", "damaged", "SKU-SOAP", 4, bin_="floor")
    # under in-hand the customer's unit is found at the till instead (see the rules' tests)
    with refused(strict, NotOnHand, "only 10 of SKU-SOAP in the store, not 11"):
        strict.sell("op-s", [SaleLine("SKU-SOAP", 11, 350)])


# -- applied once ----------------------------------------------------------------


def test_a_grant_applied_twice_is_refused_the_second_time(node: Node) -> None:
    node.note_grants([Grant(grant_id="G-1", grant_no=1, sku="SKU-TAPE", qty=2)])
    first = node.apply_grant("op-g1", "G-1", "SKU-TAPE", 2)
    assert first["entries"][0]["quota"] == 2
    with refused(node, AlreadyApplied, "Grant G-1 was already applied here"):
        node.apply_grant("op-g2", "G-1", "SKU-TAPE", 2)
    # the same operation id again is the same answer, not a second grant
    assert node.apply_grant("op-g1", "G-1", "SKU-TAPE", 2) == first
    assert node.balance("SKU-TAPE").quota == 2


def test_a_transfer_in_received_twice_is_refused_the_second_time(node: Node) -> None:
    node.record_pull(PullResponse(cursor=1, transfers=[
        TransferOrder(transfer_id="TR-1", sku="SKU-GLUE", qty=3, from_location="W1", to_location="S1")]))
    node.transfer_in("op-t1", "TR-1", "SKU-GLUE", 3, from_location="W1")
    with refused(node, AlreadyApplied, "Transfer TR-1 was already received here"):
        node.transfer_in("op-t2", "TR-1", "SKU-GLUE", 3, from_location="W1")
    assert node.balance("SKU-GLUE").on_hand == 3


# -- operation ids ---------------------------------------------------------------


@pytest.mark.parametrize("op_id", ["", "   ", None, 7])
def test_an_operation_without_a_caller_made_id_is_refused(node: Node, op_id: object) -> None:
    with refused(node, BadInput, "needs an operation id made by its caller"):
        node.receive(op_id, "SKU-SOAP", 1)


def test_an_operation_id_reused_for_another_kind_of_operation_is_refused(node: Node) -> None:
    node.receive("op-1", "SKU-SOAP", 1)
    with refused(node, BadInput, "Operation id op-1 was already used for a receive, not a sale"):
        node.sell("op-1", [SaleLine("SKU-SOAP", 1, 350)])
