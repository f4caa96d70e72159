"""The rules' nouns: a SKU's balance, a change to it, a plan of changes, holds, sale lines, tenders."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from node.errors import UnknownSku
from sync.kinds import Kind


class Tender(StrEnum):
    CASH = "cash"
    CARD = "card"
    OTHER = "other"


@dataclass
class Balance:
    """One SKU at one store: units per bin, and how the store may use them."""

    sku: str
    bins: dict[str, int] = field(default_factory=dict)
    quota: int = 0
    held: int = 0
    over_quota: int = 0  # units ever sold or lost beyond quota (for the record; the hub settles)

    @property
    def on_hand(self) -> int:
        return sum(self.bins.values())

    def copy(self) -> Balance:
        return Balance(self.sku, dict(self.bins), self.quota, self.held, self.over_quota)


@dataclass(frozen=True)
class Change:
    """One ledger entry's effect, before the store gives it a sequence number."""

    kind: Kind
    sku: str
    qty: int  # units the entry is about, never negative
    bins: tuple[tuple[str, int], ...] = ()  # per-bin deltas; their sum is the on-hand delta
    quota_delta: int = 0
    held_delta: int = 0
    over_quota: int = 0
    ref: str | None = None  # receipt, hold, grant, transfer or release id
    amount: int = 0  # money in minor units: + taken at a sale, - refunded
    detail: Mapping[str, object] = field(default_factory=dict)

    @property
    def on_hand_delta(self) -> int:
        return sum(d for _, d in self.bins)


@dataclass(frozen=True)
class Posted:
    """A change and the balances right after it: what the ledger records."""

    change: Change
    on_hand: int
    quota: int
    held: int


@dataclass(frozen=True)
class Hold:
    hold_id: str
    sku: str
    qty: int
    expires_at: datetime
    customer: str = ""


@dataclass
class Plan:
    """What an operation will write: entries in order and the balances after them."""

    balances: dict[str, Balance]
    entries: list[Posted] = field(default_factory=list)
    opened_holds: list[Hold] = field(default_factory=list)
    closed_holds: list[tuple[str, Kind]] = field(default_factory=list)

    @classmethod
    def over(cls, balances: Mapping[str, Balance], skus: Iterable[str]) -> Plan:
        work = {}
        for sku in skus:
            if sku not in balances:
                raise UnknownSku(f"SKU {sku} is not in this store's catalog.")
            work[sku] = balances[sku].copy()
        return cls(work)

    def post(self, change: Change) -> None:
        b = self.balances[change.sku]
        apply_change(b, change)
        self.entries.append(Posted(change, b.on_hand, b.quota, b.held))

    @property
    def changed(self) -> list[Balance]:
        return list(self.balances.values())


def apply_change(b: Balance, c: Change) -> None:
    """The one place a change alters a balance (used by planning and by replay)."""
    for bin_, delta in c.bins:
        b.bins[bin_] = b.bins.get(bin_, 0) + delta
    b.quota += c.quota_delta
    b.held += c.held_delta
    b.over_quota += c.over_quota


@dataclass(frozen=True)
class SaleLine:
    sku: str
    qty: int
    unit_price: int  # minor units, tax included
    hold_id: str | None = None
