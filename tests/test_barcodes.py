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


# ---------------------------------------------------------------- GS1's own examples, by symbology
#
# The Digital Link URIs are the GS1 Digital Link URI Syntax standard's examples, and its refusals
# those GS1's Syntax Engine (gs1/gs1-syntax-engine, src/c-lib/dl.c) makes of them.

GTIN = "09520123456788"  # GS1's example GTIN throughout its standards
READS = [
    # (symbology, text, gtin14, kind, expiry, batch, serial)
    ("EAN-13", "9520123456788", GTIN, "item", None, None, None),
    ("EAN-13 ]E0", "]E09520123456788", GTIN, "item", None, None, None),
    ("EAN-8", "96385074", "00000096385074", "item", None, None, None),
    ("EAN-8 ]E4", "]E496385074", "00000096385074", "item", None, None, None),
    ("UPC-A", "614141123452", "00614141123452", "item", None, None, None),
    ("ITF-14", "10614141000415", "10614141000415", "case", None, None, None),
    ("ITF-14 ]I1", "]I110614141000415", "10614141000415", "case", None, None, None),
    ("GS1-128 ]C1", "]C1" "0109520123456788" "17180426" "10ABC123", GTIN, "item", date(2018, 4, 26), "ABC123", None),
    ("GS1-128 FNC1", "0109520123456788" "10ABC123" + GS + "17180426", GTIN, "item", date(2018, 4, 26), "ABC123", None),
    ("DataMatrix ]d2", "]d2" "0109520123456788" "10ABC1" + GS + "2112345" + GS + "17180426", GTIN, "item",
     date(2018, 4, 26), "ABC1", "12345"),
    ("GS1 QR ]Q3", "]Q3" "0109520123456788" "2112345", GTIN, "item", None, None, "12345"),
    ("HRI", "(01)09520123456788(10)ABC1(21)12345(17)180426", GTIN, "item", date(2018, 4, 26), "ABC1", "12345"),
    ("serial ending X12", "0109520123456788" "21ABCX12", GTIN, "item", None, None, "ABCX12"),
    ("DL", "https://id.gs1.org/01/09520123456788", GTIN, "item", None, None, None),
    ("DL zero-suppressed", "https://brand.example.com/01/9520123456788", GTIN, "item", None, None, None),
    ("DL path prefix", "https://brand.example.com/some-extra/pathinfo/01/9520123456788", GTIN, "item",
     None, None, None),
    ("DL variant", "https://id.gs1.org/01/09520123456788/22/2A", GTIN, "item", None, None, None),
    ("DL batch", "https://id.gs1.org/01/09520123456788/10/ABC123", GTIN, "item", None, "ABC123", None),
    ("DL serial", "https://id.gs1.org/01/09520123456788/21/12345", GTIN, "item", None, None, "12345"),
    ("DL all", "https://id.gs1.org/01/09520123456788/10/ABC123/21/12345?17=180426", GTIN, "item",
     date(2018, 4, 26), "ABC123", "12345"),
    ("DL weight", "https://example.com/01/09520123456788?3103=000195", GTIN, "item", None, None, None),
    ("DL attributes", "https://example.com/01/09520123456788?3103=000195&3922=0299&17=201225", GTIN, "item",
     date(2020, 12, 25), None, None),
    ("DL 235, then (10) in the query", "https://id.gs1.org/01/09520123456788/235/XYZ?10=ABC123", GTIN, "item",
     None, "ABC123", None),
    ("DL GTIN as an attribute", "https://example.com/8004/9520614141234567?01=09520123456788", GTIN, "item",
     None, None, None),
    ("DL percent-encoded", "https://id.gs1.org/01/09520123456788/10/AB%2F1%2d2/21/SN%2A3", GTIN, "item",
     None, "AB/1-2", "SN*3"),
    ("DL fragment", "https://a.example/01/09520123456788/10/abc/21/xyz#fragment", GTIN, "item", None, "abc", "xyz"),
    ("DL unknown parameter", "https://a.example/01/09520123456788?linkType=all&17=180426", GTIN, "item",
     date(2018, 4, 26), None, None),
    ("DL serial ending SNX3", "https://id.gs1.org/01/09520123456788/21/SNX3", GTIN, "item", None, None, "SNX3"),
    ("DL ]Q1", "]Q1https://id.gs1.org/01/09520123456788/10/ABC123?17=180426", GTIN, "item",
     date(2018, 4, 26), "ABC123", None),
    ("DL ]Q3", "]Q3https://id.gs1.org/01/09520123456788?17=180426", GTIN, "item", date(2018, 4, 26), None, None),
    ("DL ]d1", "]d1https://id.gs1.org/01/09520123456788/21/12345", GTIN, "item", None, None, "12345"),
    ("DL ]d2", "]d2https://id.gs1.org/01/09520123456788/10/ABC123", GTIN, "item", None, "ABC123", None),
    ("DL case", "https://id.gs1.org/01/10614141000415?17=251231", "10614141000415", "case",
     date(2025, 12, 31), None, None),
]


@pytest.mark.parametrize(("name", "text", "gtin14", "kind", "expiry", "batch", "serial"), READS,
                         ids=[r[0] for r in READS])
def test_gs1_examples_read(name: str, text: str, gtin14: str, kind: str, expiry: date | None,
                           batch: str | None, serial: str | None) -> None:
    scan = parse_scan(text)
    assert (scan.gtin, scan.kind, scan.expiry, scan.batch, scan.serial) == (gtin14, kind, expiry, batch, serial)
    assert scan.lookup_key == gtin14 and scan.embedded_price is None and scan.raw == text.strip()


UNREADABLE = "not a barcode this till can read"
REFUSED = [
    # (why, text, words the sentence must hold)
    ("key qualifier in the query", "https://example.com/01/09520123456788?10=ABC123", "(10) in its query"),
    ("serial in the query", "https://id.gs1.org/01/09520123456788/10/ABC1?21=5", "(21) in its query"),
    ("GTIN twice", "https://id.gs1.org/01/09520123456788/10/ABC123?99=XYZ789&01=09520123456788", "(01) twice"),
    ("batch in path and query", "https://id.gs1.org/01/09520123456788/10/ABC123?99=XYZ789&10=ABC123",
     "(10) twice"),
    ("attribute twice", "https://id.gs1.org/01/09520123456788/10/ABC123?99=XYZ789&99=XYZ789", "(99) twice"),
    ("expiry twice", "https://id.gs1.org/01/09520123456788?17=180426&17=991231", "(17) twice"),
    ("unknown AI in the query", "https://example.com/01/09520123456788?99=XYZ&89=ABC123", "(89), which is not"),
    ("unknown AI in the path", "https://example.com/01/09520123456788/89/ABC123?99=XYZ", UNREADABLE),
    ("empty AI value", "https://a.example/01/12312312312333?99=", "(99) with no value"),
    ("'+' is a space in a query", "https://a.example/01/12312312312333/22/A%2d1?99=ABC&98=XYZ+987", UNREADABLE),
    ("ends in a slash", "https://a.example/stem/00/006141411234567890/", UNREADABLE),
    ("no GTIN", "https://id.gs1.org/00/952012345678912345", "no GTIN in (01)"),
    ("not a GS1 Digital Link", "https://example.com/products/milk", "web address, not a GS1 Digital Link"),
    ("not a GS1 Digital Link, ]Q1", "]Q1https://example.com/", "web address, not a GS1 Digital Link"),
    ("wrong check digit", "https://id.gs1.org/01/09520123456789", "wrong check digit: expected 8, got 9"),
    ("bad expiry", "https://id.gs1.org/01/09520123456788?17=181326", "invalid expiry date in (17)"),
    ("batch too long", "https://id.gs1.org/01/09520123456788/10/" + "A" * 21, "invalid batch in (10)"),
    ("element string without (01)", "]d2" "10ABC123" + GS + "17180426", "no GTIN in (01)"),
]


@pytest.mark.parametrize(("why", "text", "words"), REFUSED, ids=[r[0] for r in REFUSED])
def test_gs1_refusals(why: str, text: str, words: str) -> None:
    with pytest.raises(BadBarcode) as exc:
        parse_scan(text)
    message = str(exc.value)
    assert words in message
    assert message.startswith("Barcode ") and message.endswith(".") and "\n" not in message


# ---------------------------------------------------------------- in-store codes by country


def _rcn(prefix6: str, value: str, *, check_in_value: bool = False) -> str:
    """An in-store GTIN-13: 6 digits, then the variable part (after its own check digit, German style)."""
    from biip.checksums import gs1_price_weight_check_digit  # noqa: PLC0415

    middle = f"{gs1_price_weight_check_digit(value)}{value}" if check_in_value else value
    return make_gtin13(prefix6 + middle)


GERMAN_PRICE = _rcn("221234", "00239", check_in_value=True)  # 2.39 EUR: 22 IIII C VVVVV K
SWEDISH_WEIGHT = make_gtin13("23123456" "1234")  # 1.234 kg: 23 IIIIII VVVV K


@pytest.mark.parametrize(
    ("country", "code", "price", "grams"),
    [
        ("DE", GERMAN_PRICE, 239, None),
        ("DK", GERMAN_PRICE, 400239, None),  # what one fixed layout read it as
        ("de", GERMAN_PRICE, 239, None),
        ("SE", SWEDISH_WEIGHT, None, 1234),
        ("NO", SWEDISH_WEIGHT, None, 1234),
        ("SE", make_gtin13("20123456" "1995"), 1995, None),  # 19.95 SEK
        ("NO", make_gtin13("22123456" "0042"), 4200, None),  # 42 NOK, whole crowns
        ("DK", make_in_store_code("22", "1234", 1299), 1299, None),
        ("DE", _rcn("281234", "01500", check_in_value=True), None, 1500),  # 28 IIII C VVVVV: 1.500 kg
    ],
)
def test_in_store_code_read_in_the_country_layout(country: str, code: str, price: int | None,
                                                  grams: int | None) -> None:
    scan = parse_scan(code, country)
    assert scan.kind == "in_store"
    assert (scan.embedded_price, scan.embedded_weight_g) == (price, grams)
    # every price or weight of one item looks up one catalog row
    assert scan.lookup_key != scan.gtin


def test_swedish_and_norwegian_weight_codes_are_not_prices() -> None:
    for country in ("SE", "NO"):
        scan = parse_scan(SWEDISH_WEIGHT, country)
        assert scan.embedded_price is None and scan.embedded_weight_g == 1234
        assert scan.lookup_key == "0" + make_gtin13("23123456" "0000")
    assert parse_scan(SWEDISH_WEIGHT, "DK").embedded_price == 561234  # the misreading this fixes


def test_a_wrong_german_price_check_digit_is_named() -> None:
    wrong = make_gtin13("2212345" "00239")  # its price check digit is 4, not 5
    with pytest.raises(BadBarcode, match="wrong check digit in its price or weight.*DE"):
        parse_scan(wrong, "DE")


@pytest.mark.parametrize("country", [None, "US", ""])
def test_in_store_code_with_no_known_layout_is_looked_up_as_it_is(country: str | None) -> None:
    scan = parse_scan(GERMAN_PRICE, country)
    assert scan.kind == "in_store"
    assert scan.embedded_price is None and scan.embedded_weight_g is None
    assert scan.lookup_key == scan.gtin == "0" + GERMAN_PRICE


def test_a_scan_longer_than_any_label_is_refused_before_it_is_read() -> None:
    with pytest.raises(BadBarcode, match="characters long") as exc:
        parse_scan("0" * 500_000)
    assert len(str(exc.value)) < 300


# ---------------------------------------------------------------- the node, in its country


def _store(make_node, country: str | None, *items: dict):  # noqa: ANN001, ANN202
    from tests.conftest import ITEMS  # noqa: PLC0415

    node = make_node(items=[*ITEMS, *items])
    if country:
        node.set_meta(rcn_country=country)
    return node


def _in_store_item(sku: str, code: str, country: str, price: int) -> dict:
    key = parse_scan(code, country).lookup_key[1:]  # the catalog holds the zeroed code
    return {"sku": sku, "gtin": key, "name": sku.title(), "price": price, "in_store": True}


def test_a_german_store_reads_a_german_price_code_as_2_39(make_node) -> None:  # noqa: ANN001
    node = _store(make_node, "DE", _in_store_item("SKU-CHEESE", GERMAN_PRICE, "DE", 1999))
    assert node.rcn_country == "DE"
    r = node.resolve(GERMAN_PRICE)
    assert (r.sku, r.unit_price) == ("SKU-CHEESE", 239)


@pytest.mark.parametrize("country", ["SE", "NO"])
def test_a_weight_code_is_never_a_price_at_the_node(make_node, country: str) -> None:  # noqa: ANN001
    node = _store(make_node, country, _in_store_item("SKU-APPLES", SWEDISH_WEIGHT, country, 2495))
    r = node.resolve(SWEDISH_WEIGHT)
    assert (r.sku, r.unit_price) == ("SKU-APPLES", 2495)  # the catalog's price, not 5612.34
    assert r.scan is not None and r.scan.embedded_weight_g == 1234 and r.scan.embedded_price is None


def test_a_node_with_no_country_reads_the_demo_chain_layout(make_node) -> None:  # noqa: ANN001
    node = _store(make_node, None)
    assert node.rcn_country == "DK"


def test_an_expired_perishable_as_a_digital_link_is_refused_as_a_datamatrix_is(make_node) -> None:  # noqa: ANN001
    from datetime import timedelta  # noqa: PLC0415

    from node.errors import ExpiredItem  # noqa: PLC0415
    from tests.conftest import ITEMS  # noqa: PLC0415

    node = make_node()
    milk = next(it["gtin"] for it in ITEMS if it["sku"] == "SKU-MILK").zfill(14)
    yesterday = node.clock().date() - timedelta(days=1)
    refusals = []
    for code in (f"]d201{milk}17{yesterday:%y%m%d}10LOT1",
                 f"https://id.gs1.org/01/{milk}/10/LOT1?17={yesterday:%y%m%d}",
                 f"]Q1https://id.gs1.org/01/{milk}?17={yesterday:%y%m%d}",
                 f"]Q3https://id.gs1.org/01/{milk}/21/SNX3?17={yesterday:%y%m%d}"):
        with pytest.raises(ExpiredItem) as exc:
            node.resolve(code)
        refusals.append(str(exc.value))
    assert len(set(refusals)) == 1 and f"expired on {yesterday:%Y-%m-%d}" in refusals[0]
    # a lookup or a write-off as expired still reads it
    assert node.resolve(f"https://id.gs1.org/01/{milk}?17={yesterday:%y%m%d}", for_sale=False).sku == "SKU-MILK"


# ---------------------------------------------------------------- the country, from the hub or init


def test_the_country_comes_from_the_hubs_opening(tmp_path) -> None:  # noqa: ANN001
    from hub.app import create_app  # noqa: PLC0415
    from hub.service import Hub  # noqa: PLC0415
    from hub.settings import Settings  # noqa: PLC0415
    from node.runner import initialise_from_hub  # noqa: PLC0415
    from node.service import Node  # noqa: PLC0415
    from tests.hubfixtures import LocalClient, tiny_chain, tiny_item  # noqa: PLC0415

    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    hub = Hub.open(url)
    item = tiny_item(1)
    hub.load_chain(tiny_chain([item], [("S001", item.sku, "floor", 5)]))
    assert hub.opening("S001").rcn_country is None
    create_app(Settings(database_url=url, rcn_country="se"), hub=hub)  # BACKROOM_HUB_RCN_COUNTRY=se
    assert hub.rcn_country == "SE"
    with Node(tmp_path / "S001.sqlite") as node:
        initialise_from_hub(node, LocalClient(hub, "S001"), "S001", hub_url="http://hub", token="t")
        assert node.rcn_country == "SE" and node.meta()["rcn_country"] == "SE"


def test_the_wire_takes_only_a_two_letter_country() -> None:
    from pydantic import ValidationError  # noqa: PLC0415

    from sync.models import StoreOpening  # noqa: PLC0415

    base = {"store_id": "S1", "name": "S", "policy": "in-hand", "catalog": [], "locations": [], "stock": []}
    assert StoreOpening(**base).rcn_country is None
    assert StoreOpening(**base, rcn_country="DE").rcn_country == "DE"
    for bad in ("de", "Germany", "D", ""):
        with pytest.raises(ValidationError):
            StoreOpening(**base, rcn_country=bad)


def test_init_country_for_a_standalone_node(tmp_path, capsys) -> None:  # noqa: ANN001
    import json  # noqa: PLC0415

    from node.cli import main  # noqa: PLC0415

    db = tmp_path / "n.sqlite"
    assert main(["init", "--store", "S001", "--country", "xx", "--db", str(db)]) == 2
    assert "DE, DK" in capsys.readouterr().err and not db.exists()
    assert main(["init", "--store", "S001", "--country", "se", "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rcn_country"] == "SE"
