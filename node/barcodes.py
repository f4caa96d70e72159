"""Barcodes: turn what a scanner typed into what it identifies.

A scanner types digits (and, for GS1-128 / DataMatrix labels, GS1 element
strings with the FNC1 group separator ``\\x1d``; for QR codes, a web
address) and Enter. ``parse_scan(text, country=...)`` reads:

- GTIN-8, GTIN-12 (UPC-A), GTIN-13 and GTIN-14 as plain digits;
- GS1 element strings carrying (01) GTIN, optionally (17) expiry, (10)
  batch and (21) serial, with or without ``\\x1d`` separators (a
  variable-length field such as (10) swallows what follows it unless a
  separator ends it, so put it last or use a separator);
- the bracketed human-readable form ``(01)...(17)...(10)...``;
- GS1 Digital Link URIs,
  ``https://any.host/[prefix/]01/{gtin}[/22/..][/10/{batch}][/21/{serial}]?17=YYMMDD``,
  percent-decoded and read by biip, with GS1's refusals biip leaves out (as GS1's own Syntax
  Engine makes them): a key qualifier the path could have taken given in
  the query instead (``/01/{gtin}?10=X``), an AI given twice (biip keeps
  the last value, so a label saying two things would be read as whichever
  came last), an empty AI value, a numeric query key that is no AI. The
  GTIN may also come as a query attribute of another key (``/8004/..?01=..``);
- an optional AIM symbology identifier prefix (``]E0``, ``]C1``, ``]d2``,
  ``]Q1``, ``]Q3``...). biip only tries a URL behind a GS1 symbology
  (``]Q3``, ``]d2``); a plain QR code (``]Q1``) is how most Digital Link
  labels are printed, so any prefix in front of ``http`` is dropped here.

Every GTIN is keyed as 14 digits (zero-padded GTIN-14), the form the
catalog's barcode table holds.

In-store codes. Restricted circulation GTIN-13s (prefix 02, 20-29) mean
what the local GS1 member organisation says, so the same digits are a
price in Denmark and a weight in Sweden. ``country`` (ISO 3166 alpha-2,
the node's meta ``rcn_country``) picks the layout; biip knows
``RCN_COUNTRIES``. In a country biip does not know, or with no country,
an in-store code is read with no price or weight and looked up as it is.
All of them are ``kind == "in_store"``; price codes have
``embedded_price`` (minor units), weight codes ``embedded_weight_g``
and never a price. ``lookup_key`` zeroes the variable digits, so one
catalog row matches every price or weight.

Errors are ``node.errors.BadBarcode`` with one plain sentence.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from urllib.parse import parse_qsl, urlsplit

import biip
from biip import ParseConfig, ParseError
from biip.gs1_application_identifiers import GS1ApplicationIdentifier
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
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

__all__ = ["DEFAULT_RCN_COUNTRY", "IN_STORE_PRICE_MAX", "IN_STORE_PRICE_PREFIXES", "MAX_SCAN_CHARS", "RCN_COUNTRIES",
           "Scan", "gtin_check_digit", "make_gtin13", "make_gtin14", "make_in_store_code", "parse_scan"]

DEFAULT_RCN_COUNTRY = "DK"
"""The layout of a node with no country set: the demo chain's in-store codes are printed in it."""

RCN_COUNTRIES = tuple(sorted(r.value.upper() for r in RcnRegion))
"""Countries whose in-store code layouts biip knows."""

MAX_SCAN_CHARS = 3000  # more text than a QR code holds (2,953 bytes): no label scans longer
_GTIN_LENGTHS = (8, 12, 13, 14)
_GS1_MESSAGE_ONLY = ("]C1", "]d2", "]Q3", "]e0", "]J1")  # AIM prefixes of GS1-128, GS1 DataMatrix, QR, DataBar, DotCode

# GS1 Digital Link primary keys and the key qualifier sequences each may take in the path, in order.
_KEY_QUALIFIERS: dict[str, tuple[tuple[str, ...], ...]] = {
    "01": (("22", "10", "21"), ("235",)), "8006": (("22", "10", "21"),), "414": (("254",), ("7040",)),
    "417": (("7040",),), "8004": (("7040",),), "8010": (("8011",),), "8017": (("8019",),), "8018": (("8019",),),
}


@dataclass(frozen=True)
class Scan:
    """What one scan identifies."""

    gtin: str  # 14 digits; for in-store codes this still includes the price or weight
    kind: str  # "item" | "case" | "in_store"
    expiry: date | None  # GS1 AI (17)
    batch: str | None  # GS1 AI (10)
    embedded_price: int | None  # minor units, in-store price codes only
    raw: str  # the scanned text, stripped of surrounding whitespace
    lookup_key: str  # in-store: gtin with the variable digits zeroed; else gtin
    serial: str | None = None  # GS1 AI (21)
    embedded_weight_g: int | None = None  # in-store weight codes only: a weight, never a price


@lru_cache(maxsize=16)
def _config(country: str | None) -> ParseConfig:
    code = (country or "").strip().lower()
    known = {r.value for r in RcnRegion}
    return ParseConfig(rcn_region=RcnRegion(code) if code in known else None)


# --------------------------------------------------------------------------
# Errors


def _show(text: str) -> str:
    text = text if len(text) <= 120 else text[:100] + "..."
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


def _measure_error(text: str, message: str, config: ParseConfig) -> BadBarcode | None:
    """An in-store code whose price or weight fails its own check digit, in the country's layout."""
    if "variable measure" not in message or config.rcn_region is None:
        return None
    country = RcnRegion(config.rcn_region).value.upper()
    return BadBarcode(f"Barcode {_show(text)} has a wrong check digit in its price or weight "
                      f"(in-store codes as printed in {country}).")


def _gs1_error(text: str, message: str) -> BadBarcode:
    for ai, what in (("17", "expiry date"), ("10", "batch"), ("21", "serial"), ("01", "GTIN")):
        if f"({ai})" in message:
            return BadBarcode(f"Barcode {_show(text)} has an invalid {what} in ({ai}).")
    return _unreadable(text)


# --------------------------------------------------------------------------
# What a GTIN, a GS1 message and a Digital Link stand for


def _minor(price: Decimal) -> int:
    minor = price * 100
    if minor != minor.to_integral_value():  # pragma: no cover - every layout biip knows has 2 decimals or fewer
        raise ValueError(f"Price {price} is finer than minor units.")
    return int(minor)


def _scan_from_gtin(text: str, gtin: Gtin, expiry: date | None = None, batch: str | None = None,
                    serial: str | None = None) -> Scan:
    gtin14 = gtin.as_gtin_14()
    if isinstance(gtin, Rcn) and gtin.usage == RcnUsage.GEOGRAPHICAL:
        price = None if gtin.price is None else _minor(gtin.price)
        grams = None if gtin.weight is None else int(gtin.weight * 1000)
        # With no known layout nothing is variable: the code is its own key.
        lookup_key = gtin14 if gtin.region is None else gtin.without_variable_measure().as_gtin_14()
        return Scan(gtin14, "in_store", expiry, batch, price, text, lookup_key, serial, grams)
    kind = "case" if gtin.format == GtinFormat.GTIN_14 and gtin14[0] in "12345678" else "item"
    return Scan(gtin14, kind, expiry, batch, None, text, gtin14, serial)


def _element(message: GS1Message, ai: str):  # noqa: ANN202
    # biip's element_strings.get(ai=...) matches by prefix; we want the exact AI.
    return next((e for e in message.element_strings if e.ai.ai == ai), None)


def _from_message(text: str, message: GS1Message, config: ParseConfig) -> Scan:
    ai01 = _element(message, "01")
    if ai01 is None:
        raise BadBarcode(f"Barcode {_show(text)} has no GTIN in (01).")
    if ai01.gtin is None:
        wrong = _wrong_check_digit(text, ai01.value)
        raise wrong or BadBarcode(f"Barcode {_show(text)} has an invalid GTIN in (01).")
    ai17, ai10, ai21 = (_element(message, ai) for ai in ("17", "10", "21"))
    # Re-parse the GTIN with the region's rules so in-store codes are read.
    try:
        gtin = Gtin.parse(ai01.value, config=config)
    except ParseError as exc:
        raise _measure_error(text, str(exc), config) or BadBarcode(
            f"Barcode {_show(text)} has an invalid GTIN in (01).") from None
    return _scan_from_gtin(text, gtin, ai17.date if ai17 is not None else None,
                           ai10.value if ai10 is not None else None, ai21.value if ai21 is not None else None)


def _known_ai(key: str) -> bool:
    try:
        return GS1ApplicationIdentifier.extract(key).ai == key  # extract() matches by prefix: 999 gives (99)
    except ParseError:
        return False


def _belongs_in_path(path_ais: list[str], ai: str) -> bool:
    """Whether `ai` is a key qualifier the path's key could have taken (GS1 DL URI Syntax 4.9):
    /01/{gtin}?10=X is refused, /01/{gtin}/235/Y?10=X is not (235 is the other sequence)."""
    key, qualifiers = path_ais[0], path_ais[1:]
    return any(ai in seq and all(q in seq for q in qualifiers) for seq in _KEY_QUALIFIERS.get(key, ()))


def _from_digital_link(text: str, uri: str, config: ParseConfig) -> Scan:
    query = [(k, v) for k, v in parse_qsl(urlsplit(uri).query, keep_blank_values=True) if k.isdigit()]
    for ai, value in query:
        if not _known_ai(ai):
            raise BadBarcode(f"Barcode {text!r} gives ({ai}), which is not a GS1 Application Identifier.")
        if not value:
            raise BadBarcode(f"Barcode {text!r} gives ({ai}) with no value.")
    try:
        link = GS1DigitalLinkURI.parse(uri, config=config)
    except ParseError as exc:
        if "primary identifier" in str(exc):
            raise BadBarcode(f"Barcode {text!r} is a web address, not a GS1 Digital Link.") from None
        raise _gs1_error(text, str(exc)) from None
    query_ais = [ai for ai, _ in query]
    # biip lists the path's AIs first, then one per distinct query AI.
    path_ais = [e.ai.ai for e in link.element_strings][: len(link.element_strings) - len(set(query_ais))]
    twice = [ai for ai, n in Counter(path_ais + query_ais).items() if n > 1]
    if twice:
        raise BadBarcode(f"Barcode {text!r} gives ({twice[0]}) twice; a label must say one thing once.")
    misplaced = [ai for ai in query_ais if _belongs_in_path(path_ais, ai)]
    if misplaced:
        raise BadBarcode(f"Barcode {text!r} gives ({misplaced[0]}) in its query; GS1 Digital Link puts "
                         f"a key qualifier in the path (/{misplaced[0]}/...).")
    return _from_message(text, link.as_gs1_message(), config)


def _symbology_stripped(s: str) -> str:
    return s[3:] if s.startswith("]") and len(s) >= 3 else s


# --------------------------------------------------------------------------
# Parsing


def parse_scan(text: str, country: str | None = DEFAULT_RCN_COUNTRY) -> Scan:
    """Read one scan, in-store codes in ``country``'s layout. Raises ``BadBarcode`` naming what is wrong."""
    if not isinstance(text, str):
        raise BadBarcode(f"Barcode {text!r} is not text.")
    # str.strip() also removes a leading/trailing FNC1 (\x1d is whitespace to Python).
    s = text.strip()
    if not s:
        raise BadBarcode("The scan was empty.")
    if len(s) > MAX_SCAN_CHARS:  # biip's reading grows faster than the text: refuse before it starts
        raise BadBarcode(f"Barcode {_show(s)} is {len(s)} characters long; no label holds more than {MAX_SCAN_CHARS}.")
    config = _config(country)

    body = _symbology_stripped(s)
    if body[:8].lower().startswith(("http://", "https://")):
        return _from_digital_link(s, body, config)

    if s.startswith("("):
        try:
            message = GS1Message.parse_hri(s, config=config)
        except ParseError as exc:
            raise _gs1_error(s, str(exc)) from None
        return _from_message(s, message, config)

    # Plain digits of a GTIN's length are a GTIN, never a GS1 message: biip
    # would also read 4006381333931 as AI (400) with value 6381333931. Behind
    # a symbology that only carries element strings (]C1, ]d2...) they are one.
    if body.isdigit() and body.isascii() and len(body) in _GTIN_LENGTHS and not s.startswith(_GS1_MESSAGE_ONLY):
        result = biip.parse(body, config=config)
        if result.gtin is None:
            raise _wrong_check_digit(s, body) or _measure_error(s, result.gtin_error or "", config) or BadBarcode(
                f"Barcode {_show(s)} is not a valid GTIN."
            )
        return _scan_from_gtin(s, result.gtin)

    result = biip.parse(s, config=config)
    if result.gs1_message is not None:
        return _from_message(s, result.gs1_message, config)
    if result.gtin is not None:  # e.g. a GTIN behind a symbology identifier
        return _scan_from_gtin(s, result.gtin)
    if result.gtin_error and "check digit" in result.gtin_error:
        wrong = _wrong_check_digit(s, body)
        if wrong is not None:
            raise wrong
    if result.gs1_message_error and s[:2].isdigit():
        raise _gs1_error(s, result.gs1_message_error)
    raise _unreadable(s)
