"""A store's end-of-day snapshot against its ledger, with no I/O.

The snapshot says, per SKU, what the store's book held after ledger entry `last_seq` (floor, back, quota,
held). The hub derives the same from its copy of that store's ledger: each entry carries the store's
balances after it (`on_hand_after`, `quota_after`, `held_after`), so a SKU's figures as of `last_seq`
are those of its last entry up to there (none: all zero). `compare` lists the SKUs where the two
disagree; `explain` attaches the entries that led to the ledger's figure.

Sign convention (the report's): a difference is the snapshot's figure less the ledger's, so a snapshot
holding fewer units than the ledger says is negative.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

FIELDS = ("on_hand", "quota", "held")
EXPLAINING = 5  # entries kept per differing SKU: its last ones up to the snapshot's sequence


@dataclass(frozen=True)
class Figures:
    on_hand: int = 0
    quota: int = 0
    held: int = 0


@dataclass(frozen=True)
class Derived:
    """A SKU's figures from the ledger up to the snapshot's sequence, and the entry they come from."""

    sku: str
    on_hand: int
    quota: int
    held: int
    last_seq: int  # the SKU's last entry up to the snapshot's sequence


@dataclass(frozen=True)
class Entry:
    """A ledger entry that explains a difference: what it did and the balances after it."""

    sku: str
    seq: int
    kind: str
    qty: int
    at: str
    on_hand_after: int
    quota_after: int
    held_after: int
    terminal: str
    clerk: str


@dataclass(frozen=True)
class Difference:
    sku: str
    fields: tuple[str, ...]  # which of on_hand, quota, held differ
    snapshot: Figures
    ledger: Figures
    floor: int  # the snapshot's bins (the ledger's balances-after do not say them)
    back: int
    last_seq: int  # the SKU's last entry up to the snapshot's sequence (0: none)
    entries: tuple[Entry, ...] = ()  # the last entries for the SKU up to the snapshot's sequence, oldest first

    def delta(self, field: str) -> int:
        return getattr(self.snapshot, field) - getattr(self.ledger, field)

    def message(self, upto: int) -> str:
        said = ", ".join(f"{f.replace('_', ' ')} {getattr(self.snapshot, f)} against {getattr(self.ledger, f)} "
                         f"({self.delta(f):+d})" for f in self.fields)
        seen = f"its last entry up to there is seq {self.last_seq}" if self.last_seq else "no entry up to there"
        return (f"{self.sku}: the snapshot says {said} in the ledger up to seq {upto} ({seen}; the snapshot's "
                f"bins: floor {self.floor}, back {self.back}).")


def compare(snapshot_rows: Iterable[Sequence], derived_rows: Iterable[Derived]) -> list[Difference]:
    """Every SKU whose snapshot figures (rows of sku, floor, back, quota, held) differ from the ledger's,
    by SKU. A SKU on one side only counts as zero on the other; equal figures give nothing."""
    derived = {d.sku: d for d in derived_rows}
    snap = {r[0]: (int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in snapshot_rows}
    out = []
    for sku in sorted(snap.keys() | derived.keys()):
        floor, back, quota, held = snap.get(sku, (0, 0, 0, 0))
        s = Figures(floor + back, quota, held)
        d = derived.get(sku)
        led = Figures(d.on_hand, d.quota, d.held) if d else Figures()
        fields = tuple(f for f in FIELDS if getattr(s, f) != getattr(led, f))
        if fields:
            out.append(Difference(sku, fields, s, led, floor, back, d.last_seq if d else 0))
    return out


def explain(differences: Sequence[Difference], entries: Iterable[Entry], per_sku: int = EXPLAINING) -> list[Difference]:
    """Each difference with its SKU's last `per_sku` entries among `entries` (oldest first)."""
    by_sku: dict[str, list[Entry]] = {}
    for e in sorted(entries, key=lambda e: e.seq):
        by_sku.setdefault(e.sku, []).append(e)
    return [replace(d, entries=tuple(by_sku.get(d.sku, [])[-per_sku:])) for d in differences]
