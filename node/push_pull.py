"""One round of sync with the hub: push the ledger, pull what the hub has for this store, and the state it leaves.

Nothing here is on a clerk's path: a sale commits locally and the runner
(`node.runner`, which re-exports these) carries it to the hub later. Progress
is kept in the node file (`pushed_seq`, `pull_cursor`), so a restart
continues where it stopped, and every step is safe to repeat: the hub
ignores entries it holds, grants apply once by id, and a release request is
answered under an operation id made from its id. When the file and the hub
disagree, sync stops: see `node.recovery`.
"""

from __future__ import annotations

import hashlib
import logging

from node.bounds import MAX_ID
from node.errors import AlreadyApplied
from node.recovery import (
    BLOCKING,
    PUSH_BATCH,
    BehindHub,
    Diverged,
    SyncStopped,
    check_position,
    recover,
    refuse_if_stopped,
    wire_entries,
)
from node.service import Node
from node.snapshots import send_snapshots
from sync.client import HubClient, Offline, Refused
from sync.kinds import stamp
from sync.models import MAX_BATCH, PushBatch

log = logging.getLogger("backroom.node.runner")  # a round is the runner's work: its log


def push(node: Node, client: HubClient, *, batch: int = PUSH_BATCH) -> int:
    """Send every entry the hub lacks, in order and in bounded batches. Returns entries accepted."""
    refuse_if_stopped(node)
    store = node.store_id
    pushed = min(int(node.meta().get("pushed_seq", 0)), node.last_seq())
    accepted = 0
    batch = min(batch, MAX_BATCH)
    while True:
        rows = node.ledger(after=pushed, limit=batch)
        if not rows:
            return accepted
        try:
            result = client.push(PushBatch(store_id=store, entries=wire_entries(rows)))
        except Refused as r:
            if r.code == "gap" and r.expected_seq is not None:
                check_position(node, r.expected_seq)
                # The hub lost nothing we hold: resend from where it says.
                pushed = r.expected_seq - 1
                node.set_meta(pushed_seq=str(pushed))
                continue
            if r.code == "divergence":
                raise Diverged(rows[0]["seq"], f"; the hub says: {r.message}") from None
            raise
        # The hub's next sequence is ours only if we hold everything before it.
        check_position(node, result.next_seq)
        accepted += result.accepted
        pushed = result.next_seq - 1
        node.set_meta(pushed_seq=str(pushed), last_push_at=stamp(node.clock()))


def pull(node: Node, client: HubClient) -> dict:
    """Apply grants and answer release requests; keep the chain picture and catalog current."""
    store = node.store_id
    done = {"grants": 0, "releases": 0, "chain": 0, "catalog": 0, "grant_problems": 0}
    answered: set[str] = set()  # every page lists every open request: each is answered (and counted) once
    while True:
        cursor = int(node.meta().get("pull_cursor", 0))
        resp = client.pull(store, cursor)
        # Before writing anything: a file behind the hub would write under sequences the hub holds.
        check_position(node, resp.next_seq)
        if resp.next_seq is not None and resp.next_seq - 1 < int(node.meta().get("pushed_seq", 0)):
            # The hub lost entries it had taken (restored from a backup): send them again.
            node.set_meta(pushed_seq=str(resp.next_seq - 1))
        problems = len(node.problems(limit=1000))
        for g in node.note_grants(resp.grants):
            try:
                node.apply_grant(_op_id("grant", g.grant_id), g.grant_id, g.sku, g.qty)
                done["grants"] += 1
            except AlreadyApplied:
                pass  # applied before under this grant id, with this content: nothing to do
        done["grant_problems"] += len(node.problems(limit=1000)) - problems
        for rr in resp.release_requests:
            if rr.request_id not in answered:
                node.release_quota(_op_id("release", rr.request_id), rr.sku, rr.qty, request_id=rr.request_id)
                answered.add(rr.request_id)
        done["releases"] = len(answered)
        node.record_pull(resp)
        done["chain"] += len(resp.chain_stock)
        done["catalog"] += len(resp.catalog)
        if not resp.more:
            node.set_meta(last_pull_at=stamp(node.clock()))
            return done


def _op_id(prefix: str, ref: str) -> str:
    """An operation id made from a hub id, short enough for the wire however long the id."""
    op_id = f"{prefix}:{ref}"
    return op_id if len(op_id) <= MAX_ID else f"{prefix}:sha1:{hashlib.sha1(ref.encode()).hexdigest()}"


def _sync(node: Node, client: HubClient, with_pull: bool) -> dict:
    if node.meta().get("sync_stopped") in BLOCKING:
        recover(node, client)  # raises while the hub and this file still disagree
    pulled = pull(node, client) if with_pull else {}
    done = {"pushed": push(node, client), **pulled}
    sent = send_snapshots(node, client)  # after the push: the hub holds the entries a snapshot covers
    return {**done, "snapshots": sent} if sent else done


def sync_once(node: Node, client: HubClient, *, with_pull: bool = True) -> dict:
    """Pull (when due) then push, once; record whether the hub was reachable and what stopped sync.

    Pulling first compares the hub's position with this file's before any
    push; a file found behind the hub recovers the missing tail by itself
    when its ledger is a prefix of the hub's copy.
    """
    try:
        try:
            done = _sync(node, client, with_pull)
        except BehindHub as behind:
            log.warning("%s", behind.message)
            node.set_meta(sync_stopped=behind.code, last_error=behind.message, hub_seq=str(behind.hub))
            recovered = recover(node, client)
            done = {**_sync(node, client, with_pull), **recovered}
    except Offline as err:
        node.set_meta(online="0", last_error=str(err))
        return {"online": False, "error": str(err)}
    except SyncStopped as err:
        if isinstance(err, BehindHub):
            node.set_meta(hub_seq=str(err.hub))
        _stopped(node, err.code, err.message)
        return {"online": True, "stopped": err.code, "error": err.message}
    except Refused as err:
        _stopped(node, "refused", f"The hub refused: {err.code}: {err.message}")
        return {"online": True, "stopped": "refused", "refused": err.code, "error": err.message}
    node.set_meta(online="1", last_error="", sync_stopped="", last_sync_at=stamp(node.clock()))
    return {"online": True, **done}


def _stopped(node: Node, code: str, message: str) -> None:
    log.error("sync stopped (%s): %s", code, message)
    node.set_meta(online="1", sync_stopped=code, last_error=message, last_sync_at=stamp(node.clock()))
    node.record_problem(code, None, message)


_ONLINE = {"1": True, "0": False}


def status(node: Node) -> dict:
    m = node.meta()
    last = node.last_seq()
    pushed = min(int(m.get("pushed_seq", 0)), last)
    problems = node.problems(limit=1)
    return {
        "store_id": m.get("store_id"), "store_name": m.get("store_name"), "policy": m.get("policy"),
        # None until the runner has asked the hub once: a store just set up is not yet "offline"
        "hub": m.get("hub_url"), "online": _ONLINE.get(m.get("online", "")) if m.get("hub_url") else None,
        "last_sync_at": m.get("last_sync_at"), "last_error": m.get("last_error") or None,
        "sync_stopped": m.get("sync_stopped") or None, "hub_seq": int(m["hub_seq"]) if m.get("hub_seq") else None,
        "last_seq": last, "pushed_seq": pushed, "waiting": last - pushed,
        "last_problem": problems[0]["message"] if problems else None,
    }
