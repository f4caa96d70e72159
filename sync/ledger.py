"""A store's ledger on the wire: its entries, a push of them and the hub's answer, and the hub's copy sent back.

An entry's content hash (over its canonical JSON) is what makes two entries
under one sequence the same entry; the hub compares by it.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from pydantic import Field

from sync.fields import WIRE_VERSION, Amount, Count, Delta, Id, Seq, Stamp, Wire
from sync.kinds import Kind

MAX_BATCH = 1000  # entries per push; a day offline drains in several batches

EntryKind = Kind  # the wire's name for it, kept for callers


class LedgerEntry(Wire):
    """One entry of a store's ledger, exactly as the store wrote it."""

    seq: Seq
    store_id: Id
    op_id: Id
    kind: EntryKind
    sku: Id
    qty: Count
    floor_delta: Delta
    back_delta: Delta
    quota_delta: Delta
    held_delta: Delta
    over_quota: Count
    ref: Id | None = None
    amount: Amount
    on_hand_after: Delta
    quota_after: Count
    held_after: Count
    terminal: Id
    clerk: Id
    at: Stamp  # as written by the store
    detail: dict[str, Any] = Field(default_factory=dict)

    @property
    def on_hand_delta(self) -> int:
        return self.floor_delta + self.back_delta

    def canonical_json(self) -> str:
        """The entry as JSON that is the same for the same content.

        Fields serialise in declaration order; only `detail`, a free-form
        dict, needs its keys sorted, and a node already sends it sorted, so
        the common case costs one serialisation.
        """
        if _is_sorted(self.detail):
            return self.model_dump_json()
        return self.model_copy(update={"detail": _sorted(self.detail)}).model_dump_json()

    def content_hash(self) -> str:
        """What makes two entries under one sequence the same entry."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


def _is_sorted(value: Any) -> bool:
    # A plain loop, and scalars not recursed into: a node's detail is a flat dict of
    # scalars, and the hub runs this for every entry it takes in.
    if isinstance(value, dict):
        keys = list(value)
        if keys != sorted(keys):
            return False
        values: Any = value.values()
    elif isinstance(value, list):
        values = value
    else:
        return True
    for v in values:
        if isinstance(v, (dict, list)) and not _is_sorted(v):
            return False
    return True


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


class PushBatch(Wire):
    version: Literal[1] = WIRE_VERSION
    store_id: Id
    entries: Annotated[list[LedgerEntry], Field(min_length=1, max_length=MAX_BATCH)]


class PushResult(Wire):
    """The hub's answer to a push: how much it took and where the store should continue."""

    accepted: Count  # new entries applied
    duplicates: Count  # entries it already had, unchanged
    next_seq: Seq  # the sequence the hub expects next


class LedgerTail(Wire):
    """The hub's copy of a store's own ledger after a sequence: how a restored node gets back what it lost."""

    entries: list[LedgerEntry]
    next_seq: Seq  # the sequence the hub expects next
    more: bool = False
