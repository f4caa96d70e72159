"""A store's pushed batch against what the hub holds: idempotent, gapless, no divergence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hub.rules.errors import Conflict, Divergence, Gap


@dataclass(frozen=True)
class BatchPlan:
    """Which entries of a batch are new, which the hub already had."""

    new: list[int]  # indexes into the batch, in sequence order
    duplicates: int
    next_seq: int


def plan_batch(seqs_and_hashes: Sequence[tuple[int, str]], next_seq: int,
               held_hashes: Mapping[int, str]) -> BatchPlan:
    """Check a store's batch against what the hub holds: idempotent, gapless, no divergence.

    `held_hashes` are the hub's hashes for the batch's sequences below `next_seq`.
    Raises Gap (with the sequence expected) or Divergence; otherwise nothing is refused.
    """
    new, dups, expect = [], 0, next_seq
    order = sorted(range(len(seqs_and_hashes)), key=lambda i: seqs_and_hashes[i][0])
    seen: dict[int, str] = {}
    for i in order:
        seq, h = seqs_and_hashes[i]
        if seq in seen:
            if seen[seq] != h:
                raise Conflict(f"The batch holds two different entries under sequence {seq}.", seq=seq)
            dups += 1  # the same entry twice, as a resend may carry it
            continue
        seen[seq] = h
        if seq < next_seq:
            if held_hashes.get(seq) != h:
                raise Divergence(
                    f"Entry {seq} differs from the one the hub already holds under that sequence "
                    "(was the store restored from an old backup?); ops must look at it.", seq=seq)
            dups += 1
        elif seq == expect:
            new.append(i)
            expect += 1
        else:
            raise Gap(f"The hub expects sequence {expect} next, not {seq}.", expected_seq=expect)
    return BatchPlan(new, dups, expect)
