from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.barcodes import (
    Scan,
    gtin_check_digit,
    make_gtin13,
    make_gtin14,
    make_in_store_code,
    parse_scan,
)
from node.errors import BadBarcode

GS = "\x1d"


# ---------------------------------------------------------------- check digits


def test_check_digit_known_values() -> None:
    assert gtin_check_digit("400638133393") == 1
    assert gtin_check_digit("9638507") == 4
    assert gtin_check_digit("03600029145") == 2
    assert gtin_check_digit("1061414100041") == 5
    assert make_gtin13("400638133393") == "4006381333931"


def test_make_gtin14_from_item() -> None:
    case = make_gtin14(1, "4006381333931")
    assert len(case) == 14 and case.startswith("1400638133393")
    assert case[-1] == str(gtin_check_digit(case[:-1]))
    with pytest.raises(ValueError):
        make_gtin14(0, "4006381333931")
    with pytest.raises(ValueError):
        make_gtin14(9, "4006381333931")


# ---------------------------------------------------------------- plain GTINs


@pytest.mark.parametrize(
    ("text", "gtin14"),
    [
        ("96385074", "00000096385074"),  # GTIN-8
        ("036000291452", "00036000291452"),  # GTIN-12 / UPC-A
        ("4006381333931", "04006381333931"),  # GTIN-13
        ("04006381333931", "04006381333931"),  # GTIN-14 with indicator 0
    ],
)
def test_items(text: str, gtin14: str) -> None:
    scan = parse_scan(text)
    assert scan == Scan(
        gtin=gtin14,
        kind="item",
        expiry=None,
        batch=None,
        embedded_price=None,
        raw=text,
        lookup_key=gtin14,
    )


def test_case_code() -> None:
    scan = parse_scan("10614141000415")
    assert scan.kind == "case"
    assert scan.gtin == scan.lookup_key == "10614141000415"
    made = make_gtin14(3, "4006381333931")
    assert parse_scan(made).kind == "case"
    assert parse_scan(made).gtin == made


def test_scanner_whitespace_is_stripped() -> None:
    scan = parse_scan("  4006381333931\r\n")
    assert scan.gtin == "04006381333931"
    assert scan.raw == "4006381333931"


def test_symbology_identifier_prefix() -> None:
    assert parse_scan("]E04006381333931").gtin == "04006381333931"


def test_plain_gtin13_is_not_read_as_gs1_message() -> None:
    # biip also reads these 13 digits as AI (400); we must not.
    scan = parse_scan("4006381333931")
    assert scan.expiry is None and scan.batch is None


# ---------------------------------------------------------------- errors


def test_wrong_check_digit_is_named() -> None:
    with pytest.raises(BadBarcode) as exc:
        parse_scan("4006381333932")
    assert str(exc.value) == (
        "Barcode 4006381333932 has a wrong check digit: expected 1, got 2."
    )
    assert exc.value.code == "bad_barcode"


@pytest.mark.parametrize("text", ["96385075", "036000291453", "10614141000416"])
def test_wrong_check_digit_every_length(text: str) -> None:
    with pytest.raises(BadBarcode, match="wrong check digit"):
        parse_scan(text)


@pytest.mark.parametrize("text", ["abc", "12345", "hello world", "!!", "4006381333931x"])
def test_garbage(text: str) -> None:
    with pytest.raises(BadBarcode) as exc:
        parse_scan(text)
    message = str(exc.value)
    assert message.startswith("Barcode ")
    assert message.endswith(".")
    assert "\n" not in message


def test_garbage_message() -> None:
    with pytest.raises(BadBarcode) as exc:
        parse_scan("abc")
    assert str(exc.value) == "Barcode 'abc' is not a barcode this till can read."


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_empty(text: str) -> None:
    with pytest.raises(BadBarcode):
        parse_scan(text)


# ---------------------------------------------------------------- GS1 messages


def test_gs1_without_separator_batch_last() -> None:
    scan = parse_scan("0104006381333931" "17250615" "10LOT42")
    assert scan.gtin == "04006381333931"
    assert scan.kind == "item"
    assert scan.expiry == date(2025, 6, 15)
    assert scan.batch == "LOT42"


def test_gs1_with_separator_batch_first() -> None:
    scan = parse_scan("0104006381333931" "10LOT42" + GS + "17250615\n")
    assert scan.expiry == date(2025, 6, 15)
    assert scan.batch == "LOT42"


def test_gs1_with_leading_fnc1() -> None:
    scan = parse_scan(GS + "0104006381333931" "17250615")
    assert scan.gtin == "04006381333931"
    assert scan.expiry == date(2025, 6, 15)


def test_gs1_bracketed() -> None:
    scan = parse_scan("(01)04006381333931(17)250615(10)LOT42")
    assert scan.gtin == "04006381333931"
    assert scan.expiry == date(2025, 6, 15)
    assert scan.batch == "LOT42"


def test_gs1_case_code() -> None:
    scan = parse_scan("(01)10614141000415(17)250615")
    assert scan.kind == "case"
    assert scan.gtin == "10614141000415"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0104006381333931" "17240200", date(2024, 2, 29)),
        ("0104006381333931" "17250200", date(2025, 2, 28)),
        ("(01)04006381333931(17)251200", date(2025, 12, 31)),
    ],
)
def test_expiry_day_00_is_last_day_of_month(text: str, expected: date) -> None:
    assert parse_scan(text).expiry == expected


@pytest.mark.parametrize(
    "text",
    [
        "0104006381333931" "17251332",  # month 13
        "0104006381333931" "17250230",  # 30 February
        "(01)04006381333931(17)250230",
        "(01)04006381333931(17)251301(10)X",
    ],
)
def test_bad_expiry_date(text: str) -> None:
    with pytest.raises(BadBarcode) as exc:
        parse_scan(text)
    assert str(exc.value).endswith("has an invalid expiry date in (17).")


@pytest.mark.parametrize(
    "text",
    ["0104006381333932" "17250615", "(01)04006381333932(10)X"],
)
def test_gs1_with_wrong_gtin_check_digit(text: str) -> None:
    # biip still parses the message; the (01) GTIN error must not slip through.
    with pytest.raises(BadBarcode, match="wrong check digit: expected 1, got 2"):
        parse_scan(text)


def test_gs1_without_gtin() -> None:
    with pytest.raises(BadBarcode, match=r"no GTIN in \(01\)"):
        parse_scan("(10)LOT42(17)250615")


# ---------------------------------------------------------------- in-store codes


def test_in_store_price_round_trip() -> None:
    code = make_in_store_code("22", "1234", 1299)
    assert len(code) == 13 and code.startswith("221234")
    scan = parse_scan(code)
    assert scan.kind == "in_store"
    assert scan.embedded_price == 1299
    assert scan.gtin == "0" + code
    key = make_in_store_code("22", "1234", 0)
    assert scan.lookup_key == "0" + key
    # Every price of the same item looks up the same catalog row.
    assert parse_scan(make_in_store_code("22", "1234", 5)).lookup_key == scan.lookup_key
    assert parse_scan(key).embedded_price == 0


def test_in_store_in_gs1_message() -> None:
    code = make_in_store_code("21", "0007", 349)
    scan = parse_scan(f"(01)0{code}(17)250615")
    assert scan.kind == "in_store"
    assert scan.embedded_price == 349
    assert scan.expiry == date(2025, 6, 15)


def test_in_store_weight_code_has_no_price() -> None:
    code = make_gtin13("261234001234")  # prefix 26: weight, 1.234 kg
    scan = parse_scan(code)
    assert scan.kind == "in_store"
    assert scan.embedded_price is None
    assert scan.lookup_key != scan.gtin


def test_make_in_store_code_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        make_in_store_code("40", "1234", 100)
    with pytest.raises(ValueError):
        make_in_store_code("22", "123", 100)
    with pytest.raises(ValueError):
        make_in_store_code("22", "1234", 1_000_000)
    with pytest.raises(ValueError):
        make_in_store_code("22", "1234", -1)


@given(
    prefix=st.sampled_from(["21", "22", "23", "24"]),
    ref=st.from_regex(r"\A[0-9]{4}\Z"),
    price=st.integers(0, 999_999),
)
def test_in_store_price_property(prefix: str, ref: str, price: int) -> None:
    scan = parse_scan(make_in_store_code(prefix, ref, price))
    assert scan.kind == "in_store"
    assert scan.embedded_price == price
    assert scan.lookup_key == "0" + make_in_store_code(prefix, ref, 0)


# ---------------------------------------------------------------- property


@given(
    body=st.from_regex(r"\A[0-9]{12}\Z"),
    position=st.integers(0, 12),
    delta=st.integers(1, 9),
)
def test_make_gtin13_round_trip_and_single_digit_error(
    body: str, position: int, delta: int
) -> None:
    code = make_gtin13(body)
    scan = parse_scan(code)
    assert scan.gtin == "0" + code
    assert scan.raw == code

    digits = list(code)
    digits[position] = str((int(digits[position]) + delta) % 10)
    changed = "".join(digits)
    with pytest.raises(BadBarcode) as exc:
        parse_scan(changed)
    expected = gtin_check_digit(changed[:12])
    assert str(exc.value) == (
        f"Barcode {changed} has a wrong check digit: "
        f"expected {expected}, got {changed[12]}."
    )
