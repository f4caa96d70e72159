"""What a clerk typed at a till or on the command line: a scan, or a quantity and a scan.

    from node.entry import Entry, read_entry

    entry = read_entry(text, most=node.limits.max_line_qty)
    item = node.resolve(entry.code)        # then entry.times of it (of cases, for a case code)

``read_entry(text: str, *, most: int) -> Entry(code: str, times: int)``.
The one quantity syntax is ``N*CODE``: the quantity first, then ``*``, then
the scan (``3*9309243598147``, ``2*SKU000001``); no ``*`` means one. There is
no suffix form: a GS1 serial (21) or a Digital Link path may end in ``X12``
or ``x3``, so a trailing quantity would sell twelve of a single scan.

A prefix cannot collide either, though GS1's character set 82 allows ``*``
inside AI values (``0109520123456788`` ``212*5`` is one item with serial
``2*5``): a text that as a whole reads as a barcode (a GTIN, a GS1 element
string with its (01), a GS1 Digital Link, with or without a symbology
prefix) is that barcode, once. Only otherwise is a leading ``digits*`` a
quantity. Whether a text reads as a barcode is decided without a country:
an in-store code's layout changes what it means, never whether it is one.

Refusals, each one sentence (all ``node.errors.BadInput``):

- ``BadQuantity``: a quantity that is not a whole number of at least one
  (``0*X``, ``-1*X``, ``abc*X``), a quantity with nothing after it (``3*``),
  or two quantities (``2*3*X``);
- ``TooLarge`` (a ``BadQuantity``): more than ``most`` (the store's
  ``limits.max_line_qty``); the digits are counted before they are read, so a
  5,000-digit figure is refused without being parsed;
- ``BadBarcode``: nothing typed at all, or text that looks like a barcode
  (a symbology prefix, a web address, brackets, FNC1) but fails to read as
  one: its own error, rather than a quantity complaint about it.

No I/O: the terminal and the CLI both call this and then ``Node.resolve``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from node.barcodes import parse_scan
from node.bounds import check_qty
from node.errors import BadBarcode, BadQuantity, TooLarge

__all__ = ["Entry", "read_entry"]

_QUANTITY = re.compile(r"[+-]?[0-9]+")  # ASCII digits only: str.isdigit() also takes '³' and '٣'


@dataclass(frozen=True)
class Entry:
    """One line as typed: the scan (or SKU) and how many of it."""

    code: str
    times: int = 1


def _is_barcode(text: str) -> bool:
    try:
        parse_scan(text, None)
    except BadBarcode:
        return False
    return True


def _looks_like_a_barcode(text: str) -> bool:
    return text.startswith(("]", "(")) or "\x1d" in text or text[:8].lower().startswith(("http://", "https://"))


def _shown(text: str) -> str:
    return text if len(text) <= 20 else text[:20] + "..."


def _times(typed: str, most: int) -> int:
    sign, digits = (typed[0], typed[1:]) if typed[0] in "+-" else ("", typed)
    significant = digits.lstrip("0")
    # Counted before int(): Python takes quadratic time to read a long enough run of digits.
    if sign != "-" and len(significant) > len(str(most)):
        raise TooLarge(f"Quantity {_shown(typed)} is more than the {most} units one line may hold; "
                       f"check the figure (a barcode typed as a quantity?) or split it.")
    if sign == "-" and significant:
        raise BadQuantity(f"Quantity must be at least 1, not -{_shown(significant)}.")
    return check_qty(int(significant or "0"), most=most)


def read_entry(text: str, *, most: int) -> Entry:
    """``N*CODE`` or ``CODE`` as (code, times); see the module's docstring for what is refused."""
    if not isinstance(text, str) or not text.strip():
        raise BadBarcode("The scan was empty.")
    s = text.strip()
    if "*" not in s or _is_barcode(s):
        return Entry(s, 1)
    before, _, code = s.partition("*")
    before, code = before.strip(), code.strip()
    if not _QUANTITY.fullmatch(before):
        if _looks_like_a_barcode(s):
            parse_scan(s, None)  # raises the barcode's own error
        raise BadQuantity(f"'{_shown(before)}' before * is not a quantity; type the number of units, "
                          f"then *, then scan (e.g. 3*9309243598147).")
    times = _times(before, most)
    if not code:
        raise BadQuantity(f"{before}* needs a scan after it (e.g. {before}*9309243598147).")
    nested, star, _ = code.partition("*")
    if star and _QUANTITY.fullmatch(nested.strip()) and not _is_barcode(code):
        raise BadQuantity(f"{s!r} gives two quantities; type one, then *, then scan.")
    return Entry(code, times)
