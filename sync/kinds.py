"""The domain's shared words, spelled once: ledger entry kinds, store policies, bins, and the time stamp.

The node, the hub and the wire all import these; nowhere else spells them.
A `StrEnum` member is its string, so an entry's `kind` compares equal to
`Kind.SALE` whether it came from SQLite, JSON or this module.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum


class Kind(StrEnum):
    """What a store's ledger entry did."""

    SALE = "sale"
    RETURN = "return"
    RECEIVE = "receive"
    HOLD = "hold"
    HOLD_RELEASED = "hold_released"
    HOLD_EXPIRED = "hold_expired"
    HOLD_CONVERTED = "hold_converted"  # a held unit sold: the sale line of that hold
    COUNT = "count"
    DAMAGED = "damaged"
    EXPIRED = "expired"
    LOST = "lost"
    MOVE = "move"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"
    QUOTA_GRANTED = "quota_granted"
    QUOTA_RELEASED = "quota_released"
    # A web order handed to its customer (picked up, or sent off by the store): out of the hub's share
    # (the order's reservation), never the store's quota.
    ORDER_HANDED_OVER = "order_handed_over"


WRITE_OFFS = (Kind.DAMAGED, Kind.EXPIRED, Kind.LOST)
SOLD = (Kind.SALE, Kind.HOLD_CONVERTED)


class Policy(StrEnum):
    """What a store does with a sale past its quota (the unit is in the customer's hand)."""

    STRICT = "strict"  # refuse, with a clear message
    IN_HAND = "in-hand"  # sell, record over-quota, the hub settles


FLOOR = "floor"
BACK = "back"
BINS = (FLOOR, BACK)


def utcnow() -> datetime:
    return datetime.now(UTC)


def stamp(t: datetime) -> str:
    """A time as stored and sent: ISO-8601 in UTC, to the microsecond."""
    return t.astimezone(UTC).isoformat(timespec="microseconds")


def parse_stamp(s: str) -> datetime:
    return datetime.fromisoformat(s)
