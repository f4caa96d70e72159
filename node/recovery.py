"""A node file out of step with the hub: why sync stops, and recovering the entries an old copy lacks.

A file restored from an old copy is behind the hub (`BehindHub`): its ledger
is a prefix of the hub's copy, and `recover` writes the missing tail exactly
as the hub holds it. A file whose entries differ from the hub's under the same
sequences has diverged (`Diverged`): only ops can sort that out. Either stops
pushing (`BLOCKING`) until it is resolved.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from node.errors import BadInput
from node.service import Node
from sync.client import HubClient, Refused
from sync.models import MAX_BATCH, LedgerEntry, PushBatch

log = logging.getLogger("backroom.node.runner")  # recovery is one of the runner's steps: its log

PUSH_BATCH = 500


class SyncStopped(Exception):
    """The node will not push until something changes; `code` for programs, `message` for people."""

    code = "stopped"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BehindHub(SyncStopped):
    """The hub holds more of this store's ledger than its file: it was restored from an old copy."""

    code = "behind_hub"

    def __init__(self, local: int, hub: int) -> None:
        super().__init__(f"Restored behind the hub: this store's ledger ends at seq {local} but the hub holds it "
                         f"up to seq {hub}; pushing is stopped until the missing entries are recovered from the "
                         f"hub (`backroom node recover`).")
        self.local, self.hub = local, hub


class Diverged(SyncStopped):
    """Entries under sequences the hub holds differ from the hub's: only ops can sort that out."""

    code = "diverged"

    def __init__(self, seq: int, detail: str = "") -> None:
        super().__init__(f"Diverged from the hub: this store's entry {seq} differs from the hub's copy "
                         f"(new entries were written under sequences the hub already holds{detail}); pushing is "
                         f"stopped and ops are told. Restore this store from the hub into a new file.")
        self.seq = seq


class BadEntry(SyncStopped):
    code = "bad_entry"


# Stopped states that no push may pass: pushing would skip or overwrite entries.
BLOCKING = (BehindHub.code, Diverged.code)


def wire_entries(rows: list[dict]) -> list[LedgerEntry]:
    try:
        return [LedgerEntry(**r) for r in rows]
    except ValidationError as err:
        first = err.errors()[0]
        seq = next((r["seq"] for r in rows if not _valid(r)), rows[0]["seq"])
        raise BadEntry(f"Ledger entry {seq} cannot be sent to the hub ({'.'.join(map(str, first['loc']))}: "
                       f"{first['msg']}); sync is stopped at it.") from None


def _valid(row: dict) -> bool:
    try:
        LedgerEntry(**row)
    except ValidationError:
        return False
    return True


def check_position(node: Node, hub_next: int | None) -> None:
    """The hub expecting a sequence past this file's next one means the file is an old copy."""
    if hub_next is not None and hub_next - 1 > node.last_seq():
        raise BehindHub(node.last_seq(), hub_next - 1)


def refuse_if_stopped(node: Node) -> None:
    m = node.meta()
    if m.get("sync_stopped") in BLOCKING:
        err = SyncStopped(m.get("last_error") or "Sync is stopped.")
        err.code = m["sync_stopped"]
        raise err


def recover(node: Node, client: HubClient) -> dict:
    """Compare this file's ledger with the hub's copy of it; restore the tail the hub holds and the file lacks.

    Only when the file's ledger is a prefix of the hub's copy: then the
    missing entries are written exactly as the hub holds them. If the file
    holds entries the hub has differently, it pushes them so that the hub
    records the divergence for ops, and stops.
    """
    store = node.store_id
    last = node.last_seq()
    base = min(int(node.meta().get("pushed_seq", 0)), last)  # the hub acknowledged these: they match
    theirs: dict[int, LedgerEntry] = {}
    after = base
    while True:
        tail = client.ledger_tail(store, after)
        theirs.update((e.seq, e) for e in tail.entries)
        if not tail.more or not tail.entries:
            break
        after = tail.entries[-1].seq
    hub_last = tail.next_seq - 1
    after = base
    while after < min(last, hub_last) and (rows := node.ledger(after=after, limit=PUSH_BATCH)):
        for mine in wire_entries(rows):
            if mine.seq > hub_last:
                break
            if theirs.get(mine.seq) is None or theirs[mine.seq].content_hash() != mine.content_hash():
                if node.meta().get("sync_stopped") == Diverged.code:
                    raise Diverged(mine.seq)  # the hub was shown it already; once is enough for ops
                # The hub records a divergence only when it is shown one: show it, then stop.
                try:
                    client.push(PushBatch(store_id=store, entries=wire_entries(
                        node.ledger(after=mine.seq - 1, limit=min(PUSH_BATCH, MAX_BATCH)))))
                except Refused as r:
                    raise Diverged(mine.seq, f"; the hub says: {r.message}") from None
                raise Diverged(mine.seq)
        after = rows[-1]["seq"]
    restored = 0
    if hub_last > last:
        try:
            restored = node.restore_tail([theirs[seq] for seq in range(last + 1, hub_last + 1)])
        except (KeyError, BadInput):  # a terminal wrote meanwhile, or the hub's copy moved: compare again
            raise BehindHub(node.last_seq(), hub_last) from None
    node.set_meta(sync_stopped="", last_error="", pushed_seq=str(max(hub_last, base)))
    log.warning("recovered %d entries from the hub (ledger now ends at seq %d)", restored, node.last_seq())
    return {"recovered": restored, "last_seq": node.last_seq(), "hub_seq": hub_last}
