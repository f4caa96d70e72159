"""The wire's building blocks: strict, bounded numbers and ids, and the base every wire model shares.

Ints are strict on purpose: a ledger is money and units, and `"12"` or
`true` arriving as a quantity is a bug upstream, not something to guess at.
A whole JSON number written with a point (`12.0`) is an integer to JSON
Schema, so it is taken as one; `12.5` is refused.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StringConstraints

WIRE_VERSION = 1

# Bounds on every number, so what a store sends fits the hub's columns (a barcode typed into a
# quantity field is refused here, not overflowed there): units within a billion either way,
# money (minor units) within 10**15, sequences and cursors within 10**18.
MAX_UNITS = 1_000_000_000
MAX_AMOUNT = 10**15
MAX_SEQ = 10**18  # within a signed 64-bit integer, and exact as a JSON number (a double)


def _whole(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


Int = Annotated[StrictInt, BeforeValidator(_whole)]  # an integer, however JSON spells it; never "12" or true


def bounded(lo: int, hi: int) -> Any:
    """An `Int` from `lo` to `hi` (the bounds go before the conversion, so the schema states them)."""
    return Annotated[StrictInt, Field(ge=lo, le=hi), BeforeValidator(_whole)]


Id = Annotated[str, StringConstraints(min_length=1, max_length=128, strip_whitespace=False)]
Stamp = Annotated[str, StringConstraints(min_length=1, max_length=40)]  # ISO-8601 UTC
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]  # ISO 3166-1 alpha-2
Count = bounded(0, MAX_UNITS)
Delta = bounded(-MAX_UNITS, MAX_UNITS)
Amount = bounded(-MAX_AMOUNT, MAX_AMOUNT)
Seq = bounded(1, MAX_SEQ)
Cursor = bounded(0, MAX_SEQ)
Units = bounded(1, MAX_UNITS)  # a quantity that must be at least one unit


class Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
