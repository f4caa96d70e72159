"""GTIN arithmetic: check digits and the codes a chain prints.

Shared by the node (reading scans), the hub and the fixtures (making a
catalog), so it lives with the wire, which imports neither side.
"""

from __future__ import annotations

IN_STORE_PRICE_PREFIXES = ("21", "22", "23", "24")  # in-store codes that embed a price: 2P IIII VVVVVV C

IN_STORE_PRICE_MAX = 999_999  # the largest price, in minor units, that fits


def gtin_check_digit(body: str) -> int:
    """The GS1 mod-10 check digit of ``body`` (the digits before the check digit)."""
    if not body.isdigit() or not body.isascii():
        raise ValueError(f"A GTIN body must be digits only, got {body!r}.")
    # Weights 3,1,3,1... from the rightmost digit of the body.
    total = 3 * sum(map(int, body[-1::-2])) + sum(map(int, body[-2::-2]))
    return -total % 10


def make_gtin13(body12: str) -> str:
    """A GTIN-13 from its first 12 digits."""
    if len(body12) != 12 or not body12.isdigit():
        raise ValueError(f"A GTIN-13 body must be 12 digits, got {body12!r}.")
    return body12 + str(gtin_check_digit(body12))


def make_gtin14(indicator: int, gtin13: str) -> str:
    """The case code (GTIN-14) with ``indicator`` 1-8 for an item's GTIN-13."""
    if not 1 <= indicator <= 8:
        raise ValueError(f"A case indicator digit must be 1 to 8, got {indicator}.")
    if len(gtin13) != 13 or not gtin13.isdigit():
        raise ValueError(f"An item GTIN-13 must be 13 digits, got {gtin13!r}.")
    body = f"{indicator}{gtin13[:12]}"
    return body + str(gtin_check_digit(body))


def make_in_store_code(prefix2: str, item_ref: str, price_minor: int) -> str:
    """A valid in-store GTIN-13 ``2P IIII VVVVVV C`` with ``price_minor`` embedded.

    ``prefix2`` is one of ``IN_STORE_PRICE_PREFIXES``; ``item_ref`` is 4 digits;
    a price of 0 gives the lookup key itself.
    """
    if prefix2 not in IN_STORE_PRICE_PREFIXES:
        raise ValueError(
            f"An in-store price prefix must be one of {', '.join(IN_STORE_PRICE_PREFIXES)}, "
            f"got {prefix2!r}."
        )
    if len(item_ref) != 4 or not item_ref.isdigit():
        raise ValueError(f"An in-store item reference must be 4 digits, got {item_ref!r}.")
    if not 0 <= price_minor <= IN_STORE_PRICE_MAX:
        raise ValueError(
            f"An in-store price must be 0 to {IN_STORE_PRICE_MAX} minor units, got {price_minor}."
        )
    return make_gtin13(f"{prefix2}{item_ref}{price_minor:06d}")
