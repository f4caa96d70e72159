"""`node.entry.read_entry`: one quantity syntax, N*CODE, that no barcode can collide with; and the CLI on it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.barcodes import gtin_check_digit, parse_scan
from node.cli import main
from node.entry import Entry, read_entry
from node.errors import BadBarcode, BadQuantity, TooLarge
from node.service import Node
from tests.conftest import ITEMS

GS = "\x1d"
MOST = 999
SOAP = next(it["gtin"] for it in ITEMS if it["sku"] == "SKU-SOAP").zfill(14)
MILK = next(it["gtin"] for it in ITEMS if it["sku"] == "SKU-MILK").zfill(14)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4006381333931", Entry("4006381333931", 1)),
        ("3*4006381333931", Entry("4006381333931", 3)),
        ("  3 * 4006381333931\n", Entry("4006381333931", 3)),
        ("+2*SKU000001", Entry("SKU000001", 2)),
        ("0003*SKU000001", Entry("SKU000001", 3)),
        ("999*SKU000001", Entry("SKU000001", 999)),
        ("2*https://id.gs1.org/01/09520123456788/21/SNX3", Entry("https://id.gs1.org/01/09520123456788/21/SNX3", 2)),
        ("10*4006381333931", Entry("4006381333931", 10)),  # "10*40..." is also AI (10) with no (01): no barcode
        # Suffixes are no syntax at all: these are barcodes, once.
        ("0109520123456788" "21ABCX12", Entry("0109520123456788" "21ABCX12", 1)),
        ("https://id.gs1.org/01/09520123456788/21/SNX3", Entry("https://id.gs1.org/01/09520123456788/21/SNX3", 1)),
        # CSET 82 allows * in a value: a text that reads whole as a barcode is that barcode.
        ("0109520123456788" "212*5", Entry("0109520123456788" "212*5", 1)),
        ("https://id.gs1.org/01/09520123456788/10/3*4", Entry("https://id.gs1.org/01/09520123456788/10/3*4", 1)),
        ("]d20109520123456788" f"10A*B{GS}17180426", Entry("]d20109520123456788" f"10A*B{GS}17180426", 1)),
    ],
)
def test_read_entry(text: str, expected: Entry) -> None:
    assert read_entry(text, most=MOST) == expected


@pytest.mark.parametrize(
    ("text", "error", "words"),
    [
        ("0*X", BadQuantity, "at least 1, not 0"),
        ("-1*X", BadQuantity, "at least 1, not -1"),
        ("-0*X", BadQuantity, "at least 1, not 0"),
        ("99999999999*X", TooLarge, "more than the 999 units"),
        ("1000*X", TooLarge, "more than the 999 units"),
        ("3*", BadQuantity, "3* needs a scan after it"),
        ("3*   ", BadQuantity, "needs a scan"),
        ("abc*X", BadQuantity, "'abc' before * is not a quantity"),
        ("*4006381333931", BadQuantity, "'' before * is not a quantity"),
        ("³*X", BadQuantity, "not a quantity"),  # a digit to str.isdigit(), not to a till
        ("2*3*4006381333931", BadQuantity, "two quantities"),
        ("", BadBarcode, "empty"),
        ("   ", BadBarcode, "empty"),
        # Looks like a barcode but is not one: its own error, not a quantity complaint.
        ("https://example.com/a*b", BadBarcode, "not a GS1 Digital Link"),
        ("]d2" "0109520123456789" "10A*B", BadBarcode, "wrong check digit"),
    ],
)
def test_read_entry_refuses_with_one_sentence(text: str, error: type[Exception], words: str) -> None:
    with pytest.raises(error) as exc:
        read_entry(text, most=MOST)
    message = str(exc.value)
    assert words in message
    assert "\n" not in message and (message[0].isupper() or message[0] in "0123456789'")
    assert message.rstrip().endswith(".")


def test_a_huge_quantity_is_refused_without_being_read() -> None:
    t0 = time.perf_counter()
    for digits in (5000, 500_000):
        with pytest.raises(TooLarge):
            read_entry("9" * digits + "*4006381333931", most=MOST)
    with pytest.raises(BadQuantity):
        read_entry("0" * 500_000 + "*X", most=MOST)
    assert time.perf_counter() - t0 < 1.0


def test_the_store_bound_is_the_one_given() -> None:
    assert read_entry("50*X", most=50).times == 50
    with pytest.raises(TooLarge, match="more than the 50 units"):
        read_entry("51*X", most=50)


# -- any barcode, read as itself --------------------------------------------------------------

CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"


@st.composite
def gtins(draw: st.DrawFn, lengths: tuple[int, ...] = (8, 12, 13, 14)) -> str:
    body = draw(st.from_regex(rf"\A[0-9]{{{draw(st.sampled_from(lengths)) - 1}}}\Z"))
    return body + str(gtin_check_digit(body))


def _value(alphabet: str = CSET82) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=1, max_size=20)


@st.composite
def barcodes(draw: st.DrawFn) -> str:
    gtin = draw(gtins((14,)))
    expiry = draw(st.none() | st.dates(date(2000, 1, 1), date(2049, 12, 31)).map(lambda d: f"{d:%y%m%d}"))
    batch, serial = draw(st.none() | _value()), draw(st.none() | _value())
    form = draw(st.sampled_from(["gtin", "elements", "prefixed", "hri", "link"]))
    if form == "gtin":
        return draw(gtins())
    if form in ("elements", "prefixed"):
        fixed = f"01{gtin}" + (f"17{expiry}" if expiry else "")
        variable = [f"{ai}{v}" for ai, v in (("10", batch), ("21", serial)) if v]
        prefix = draw(st.sampled_from(["]C1", "]d2", "]Q3"])) if form == "prefixed" else ""
        return prefix + fixed + GS.join(variable)
    if form == "hri":  # brackets in a value would be read as the next AI
        batch = draw(st.none() | _value(CSET82.replace("(", "").replace(")", "")))
        return f"(01){gtin}" + (f"(17){expiry}" if expiry else "") + (f"(10){batch}" if batch else "")
    path = f"/01/{gtin}" + (f"/10/{quote(batch, safe='')}" if batch else "") + (
        f"/21/{quote(serial, safe='')}" if serial else "")
    prefix = draw(st.sampled_from(["", "]Q1", "]Q3", "]d2"]))
    return f"{prefix}https://shop.example{path}" + (f"?17={expiry}" if expiry else "")


@given(barcodes())
def test_any_valid_barcode_is_itself_once(b: str) -> None:
    parse_scan(b, None)  # the strategy makes only barcodes
    assert read_entry(b, most=MOST) == Entry(b, 1)


@given(barcodes(), st.integers(1, MOST))
def test_a_quantity_before_a_barcode_that_starts_with_its_gtin(b: str, n: int) -> None:
    # A barcode whose (01) comes first, as GS1 labels print it: n* before it is n of it.
    assert read_entry(f"{n}*{b}", most=MOST) == Entry(b, n)


# -- the CLI: one scan is one unit ------------------------------------------------------------


def _sell(path: Path, capsys: pytest.CaptureFixture[str], *codes: str) -> tuple[int, dict]:
    code = main(["sell", *codes, "--db", str(path), "--terminal", "T2", "--clerk", "tester", "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1]) if out else {}


@pytest.mark.parametrize("scan", [
    f"01{SOAP}21ABCX12",  # a GS1 serial (21) ending X12 once sold 12
    f"]d201{SOAP}21SNX12",
    f"https://id.gs1.org/01/{SOAP}/21/SNX3",  # a Digital Link ending /21/SNX3 once sold 3
    f"]Q1https://id.gs1.org/01/{SOAP}/21/SNX3",
])
def test_one_scan_through_the_cli_sells_one_unit(make_node: Callable[..., Node], capsys: pytest.CaptureFixture[str],
                                                 scan: str) -> None:
    node = make_node()
    code, sale = _sell(node.path, capsys, scan)
    assert code == 0, sale
    assert [(ln["sku"], ln["qty"]) for ln in sale["lines"]] == [("SKU-SOAP", 1)]


def test_a_quantity_before_a_scan_through_the_cli(make_node: Callable[..., Node],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    node = make_node()
    code, sale = _sell(node.path, capsys, f"3*https://id.gs1.org/01/{SOAP}/21/SNX3", "2*SKU-SOAP")
    assert code == 0, sale
    assert [ln["qty"] for ln in sale["lines"]] == [3, 2]


@pytest.mark.parametrize(("typed", "words"), [("0*SKU-SOAP", "at least 1"), ("1000*SKU-SOAP", "more than the 999"),
                                              ("abc*SKU-SOAP", "not a quantity"), ("3*", "needs a scan")])
def test_a_bad_quantity_through_the_cli_writes_nothing(make_node: Callable[..., Node],
                                                       capsys: pytest.CaptureFixture[str], typed: str,
                                                       words: str) -> None:
    node = make_node()
    before = node.last_seq()
    code, answer = _sell(node.path, capsys, typed)
    assert code == 2 and words in answer["error"]["message"]
    assert node.last_seq() == before


def test_an_expired_digital_link_is_refused_at_the_cli_as_a_datamatrix_is(
        make_node: Callable[..., Node], capsys: pytest.CaptureFixture[str]) -> None:
    node = make_node()
    past = date.today() - timedelta(days=2)
    answers = [_sell(node.path, capsys, code) for code in (
        f"]d201{MILK}17{past:%y%m%d}", f"]Q1https://id.gs1.org/01/{MILK}?17={past:%y%m%d}")]
    assert [code for code, _ in answers] == [2, 2]
    assert answers[0][1]["error"] == answers[1][1]["error"]
    assert answers[0][1]["error"]["code"] == "expired_item"
