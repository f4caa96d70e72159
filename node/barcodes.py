"""Barcodes: turn what a scanner typed into what it identifies.

A scanner types digits (and, for GS1-128 / DataMatrix labels, GS1 element
strings with the FNC1 group separator ``\\x1d``) and Enter. ``parse_scan``
reads:

- GTIN-8, GTIN-12 (UPC-A), GTIN-13 and GTIN-14 as plain digits;
- GS1 element strings carrying (01) GTIN, optionally (17) expiry and (10)
  batch, with or without ``\\x1d`` separators (a variable-length field such
  as (10) swallows what follows it unless a separator ends it, so put it
  last or use a separator);
- the bracketed human-readable form ``(01)...(17)...(10)...``;
- an optional AIM symbology identifier prefix (``]E0``, ``]C1``, ``]d2``...).

Every GTIN is keyed as 14 digits (zero-padded GTIN-14), the form the
catalog's barcode table holds.

In-store codes. Restricted circulation GTIN-13s with prefix 02 or 20-29 are
given meaning by the local GS1 member organisation. biip 5.2 only extracts
an embedded price when told the region (``ParseConfig(rcn_region=...)``);
Backroom uses the Danish layout (``RCN_REGION``), which is the simplest and
widest price layout biip knows::

    2P IIII VVVVVV C     prefix 21-24: 4-digit item reference, price in
                         minor units (6 digits, 2 decimals), GTIN check digit

Prefixes 26-28 carry a weight in that layout; 02, 20, 25 and 29 carry
nothing biip can read. All of them are ``kind == "in_store"``; only price
codes have ``embedded_price``. ``lookup_key`` zeroes the variable digits, so
one catalog row matches every price.

Errors are ``node.errors.BadBarcode`` with one plain sentence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import biip
from biip import ParseConfig, ParseError
from biip.gs1_messages import GS1Message
from biip.gtin import Gtin, GtinFormat
from biip.rcn import Rcn, RcnRegion, RcnUsage

from node.errors import BadBarcode
from sync.gtin import (  # noqa: F401  (re-exported: tests and tools make codes here)
    IN_STORE_PRICE_MAX,
    IN_STORE_PRICE_PREFIXES,
    gtin_check_digit,
    make_gtin13,
    make_gtin14,
    make_in_store_code,
)

__all__ = [
    "IN_STORE_PRICE_PREFIXES",
    "IN_STORE_PRICE_MAX",
    "RCN_REGION",
    "Scan",
    "gtin_check_digit",
    "make_gtin13",
    "make_gtin14",
    "make_in_store_code",
    "parse_scan",
]

RCN_REGION = RcnRegion.DENMARK
"""The region whose rules give in-store (RCN-13) codes their meaning."""

_CONFIG = ParseConfig(rcn_region=RCN_REGION)
_GTIN_LENGTHS = (8, 12, 13, 14)


@dataclass(frozen=True)
class Scan:
    """What one scan identifies."""

    gtin: str  # 14 digits; for in-store codes this still includes the price
    kind: str  # "item" | "case" | "in_store"
    expiry: date | None  # GS1 AI (17)
    batch: str | None  # GS1 AI (10)
    embedded_price: int | None  # minor units, in-store price codes only
    raw: str  # the scanned text, stripped of surrounding whitespace
    lookup_key: str  # in-store: gtin with the variable digits zeroed; else gtin


# --------------------------------------------------------------------------
# Check digits and code makers


# --------------------------------------------------------------------------
# Parsing


def _show(text: str) -> str:
    return text if text.isdigit() else repr(text)


def _unreadable(text: str) -> BadBarcode:
    return BadBarcode(f"Barcode {_show(text)} is not a barcode this till can read.")


def _wrong_check_digit(shown: str, digits: str) -> BadBarcode | None:
    """The wrong-check-digit error for ``digits`` if that is what is wrong."""
    if digits.isdigit() and digits.isascii() and len(digits) in _GTIN_LENGTHS:
        expected = gtin_check_digit(digits[:-1])
        got = int(digits[-1])
        if expected != got:
            return BadBarcode(
                f"Barcode {_show(shown)} has a wrong check digit: "
                f"expected {expected}, got {got}."
            )
    return None


def _gs1_error(text: str, message: str) -> BadBarcode:
    if "(17)" in message:
        return BadBarcode(f"Barcode {_show(text)} has an invalid expiry date in (17).")
    if "(10)" in message:
        return BadBarcode(f"Barcode {_show(text)} has an invalid batch in (10).")
    if "(01)" in message:
        return BadBarcode(f"Barcode {_show(text)} has an invalid GTIN in (01).")
    return _unreadable(text)


def _price_minor(price: Decimal) -> int:
    minor = price * 100
    if minor != minor.to_integral_value():  # pragma: no cover - no such layout in use
        raise ValueError(f"Price {price} is finer than minor units.")
    return int(minor)


def _scan_from_gtin(
    text: str, gtin: Gtin, expiry: date | None, batch: str | None
) -> Scan:
    gtin14 = gtin.as_gtin_14()
    if isinstance(gtin, Rcn) and gtin.usage == RcnUsage.GEOGRAPHICAL:
        price = None if gtin.price is None else _price_minor(gtin.price)
        lookup_key = gtin.without_variable_measure().as_gtin_14()
        return Scan(gtin14, "in_store", expiry, batch, price, text, lookup_key)
    kind = "case" if gtin.format == GtinFormat.GTIN_14 and gtin14[0] in "12345678" else "item"
    return Scan(gtin14, kind, expiry, batch, None, text, gtin14)


def _element(message: GS1Message, ai: str):  # noqa: ANN202
    # biip's element_strings.get(ai=...) matches by prefix; we want the exact AI.
    return next((e for e in message.element_strings if e.ai.ai == ai), None)


def _from_message(text: str, message: GS1Message) -> Scan:
    ai01 = _element(message, "01")
    if ai01 is None:
        raise BadBarcode(f"Barcode {_show(text)} has no GTIN in (01).")
    if ai01.gtin is None:
        wrong = _wrong_check_digit(text, ai01.value)
        raise wrong or BadBarcode(f"Barcode {_show(text)} has an invalid GTIN in (01).")
    ai17 = _element(message, "17")
    ai10 = _element(message, "10")
    expiry = ai17.date if ai17 is not None else None
    batch = ai10.value if ai10 is not None else None
    # Re-parse the GTIN with the region's rules so in-store codes are read.
    try:
        gtin = Gtin.parse(ai01.value, config=_CONFIG)
    except ParseError:
        raise BadBarcode(f"Barcode {_show(text)} has an invalid GTIN in (01).") from None
    return _scan_from_gtin(text, gtin, expiry, batch)


def parse_scan(text: str) -> Scan:
    """Read one scan. Raises ``BadBarcode`` naming what is wrong."""
    if not isinstance(text, str):
        raise BadBarcode(f"Barcode {text!r} is not text.")
    # str.strip() also removes a leading/trailing FNC1 (\x1d is whitespace to Python).
    s = text.strip()
    if not s:
        raise BadBarcode("The scan was empty.")

    if s.startswith("("):
        try:
            message = GS1Message.parse_hri(s, config=_CONFIG)
        except ParseError as exc:
            raise _gs1_error(s, str(exc)) from None
        return _from_message(s, message)

    # Plain digits of a GTIN's length are a GTIN, never a GS1 message: biip
    # would also read 4006381333931 as AI (400) with value 6381333931.
    if s.isdigit() and s.isascii() and len(s) in _GTIN_LENGTHS:
        result = biip.parse(s, config=_CONFIG)
        if result.gtin is None:
            raise _wrong_check_digit(s, s) or BadBarcode(
                f"Barcode {s} is not a valid GTIN."
            )
        return _scan_from_gtin(s, result.gtin, None, None)

    result = biip.parse(s, config=_CONFIG)
    if result.gs1_message is not None:
        return _from_message(s, result.gs1_message)
    if result.gtin is not None:  # e.g. a GTIN behind a symbology identifier
        return _scan_from_gtin(s, result.gtin, None, None)
    if result.gtin_error and "check digit" in result.gtin_error:
        body = s[3:] if s.startswith("]") else s
        wrong = _wrong_check_digit(s, body)
        if wrong is not None:
            raise wrong
    if result.gs1_message_error and s[:2].isdigit():
        raise _gs1_error(s, result.gs1_message_error)
    raise _unreadable(s)
