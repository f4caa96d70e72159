"""The node's side of sync: push the ledger, pull what the hub has for this store, on a schedule.

Nothing here is on a clerk's path: a sale commits locally and this runner
carries it to the hub later. Progress is kept in the node file (`pushed_seq`,
`pull_cursor`), so a restart continues where it stopped, and every step is
safe to repeat: the hub ignores entries it holds, grants apply once by id,
and a release request is answered under an operation id made from its id.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime

from node import rules
from node.errors import AlreadyApplied, StoreError
from node.service import Node, stamp
from sync.client import HubClient, Offline, Refused
from sync.models import MAX_BATCH, LedgerEntry, PushBatch, StoreOpening

log = logging.getLogger("backroom.node.runner")

PUSH_BATCH = 500


def push(node: Node, client: HubClient, *, batch: int = PUSH_BATCH) -> int:
    """Send every entry the hub lacks, in order and in bounded batches. Returns entries accepted."""
    store = node.store_id
    pushed = int(node.meta().get("pushed_seq", 0))
    accepted = 0
    batch = min(batch, MAX_BATCH)
    while True:
        rows = node.ledger(after=pushed, limit=batch)
        if not rows:
            return accepted
        try:
            result = client.push(PushBatch(store_id=store, entries=[LedgerEntry(**r) for r in rows]))
        except Refused as r:
            if r.code == "gap" and r.expected_seq is not None and r.expected_seq <= node.last_seq() + 1:
                # The hub lost nothing we hold: resend from where it says.
                pushed = r.expected_seq - 1
                node.set_meta(pushed_seq=str(pushed))
                continue
            raise
        accepted += result.accepted
        pushed = result.next_seq - 1
        node.set_meta(pushed_seq=str(pushed), last_push_at=stamp(node.clock()))


def pull(node: Node, client: HubClient) -> dict:
    """Apply grants and answer release requests; keep the chain picture and catalog current."""
    store = node.store_id
    done = {"grants": 0, "releases": 0, "chain": 0, "catalog": 0}
    while True:
        cursor = int(node.meta().get("pull_cursor", 0))
        resp = client.pull(store, cursor)
        for g in resp.grants:
            try:
                node.apply_grant(f"grant:{g.grant_id}", g.grant_id, g.sku, g.qty)
                done["grants"] += 1
            except AlreadyApplied:
                pass  # applied before under this grant id: nothing to do
        for rr in resp.release_requests:
            node.release_quota(f"release:{rr.request_id}", rr.sku, rr.qty, request_id=rr.request_id)
            done["releases"] += 1
        node.record_pull(resp)
        done["chain"] += len(resp.chain_stock)
        done["catalog"] += len(resp.catalog)
        if not resp.more:
            node.set_meta(last_pull_at=stamp(node.clock()))
            return done


def sync_once(node: Node, client: HubClient, *, with_pull: bool = True) -> dict:
    """Push (then pull) once; record whether the hub was reachable (the status bar shows it)."""
    try:
        pushed = push(node, client)
        pulled = pull(node, client) if with_pull else {}
        if pulled.get("grants") or pulled.get("releases"):
            pushed += push(node, client)  # the grant and release entries go straight back
    except Offline as err:
        node.set_meta(online="0", last_error=str(err))
        return {"online": False, "error": str(err)}
    except Refused as err:
        node.set_meta(online="1", last_error=f"{err.code}: {err.message}", last_sync_at=stamp(node.clock()))
        return {"online": True, "refused": err.code, "error": err.message}
    node.set_meta(online="1", last_error="", last_sync_at=stamp(node.clock()))
    return {"online": True, "pushed": pushed, **pulled}


def status(node: Node) -> dict:
    m = node.meta()
    last = node.last_seq()
    pushed = int(m.get("pushed_seq", 0))
    return {
        "store_id": m.get("store_id"), "store_name": m.get("store_name"), "policy": m.get("policy"),
        "hub": m.get("hub_url"), "online": m.get("online") == "1" if m.get("hub_url") else None,
        "last_sync_at": m.get("last_sync_at"), "last_error": m.get("last_error") or None,
        "last_seq": last, "pushed_seq": pushed, "waiting": last - pushed,
    }


# -- setting a store up from the hub -------------------------------------------


def initialise_from_hub(node: Node, client: HubClient, store_id: str, *, hub_url: str, token: str) -> dict:
    """Start a store from the hub's opening; a replaced machine gets its ledger back instead."""
    opening: StoreOpening = client.opening(store_id)
    if opening.ledger:
        node.restore(opening)
    else:
        node.initialise(store_id=store_id, name=opening.name, policy=rules.Policy(opening.policy),
                        items=(it.model_dump() for it in opening.catalog), stock=opening.stock,
                        locations=[(loc.id, loc.name, loc.kind) for loc in opening.locations])
    node.set_meta(hub_url=hub_url, token=token, pull_cursor="0",
                  pushed_seq=str(node.meta().get("pushed_seq", "0")))
    return {"store_id": store_id, "restored_entries": len(opening.ledger), "items": len(opening.catalog)}


def client_for(node: Node, *, timeout: float = 5.0, retries: int = 2) -> HubClient:
    m = node.meta()
    if not m.get("hub_url"):
        raise StoreError("This node has no hub; run `backroom node init --hub URL --token T` to connect one.")
    return HubClient(m["hub_url"], m["token"], timeout=timeout, retries=retries)


# -- the schedule ------------------------------------------------------------------


class Runner:
    """Pushes shortly after each sale and on an interval, pulls on an interval, expires holds."""

    def __init__(self, node_path: str, *, pull_every: float = 10.0, check_every: float = 0.5,
                 on_sync: Callable[[dict], None] | None = None) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        self.node = Node(node_path, terminal="sync", clerk="runner")
        self.client = client_for(self.node)
        self.on_sync = on_sync
        self._lock = threading.Lock()
        self._last_pull = 0.0
        self.pull_every = pull_every
        self.scheduler = BackgroundScheduler(timezone="UTC")
        # A cheap check every half second: push as soon as a terminal has written something.
        self.scheduler.add_job(self.tick, IntervalTrigger(seconds=check_every, timezone="UTC"),
                               id="tick", max_instances=1, coalesce=True)

    def tick(self) -> dict | None:
        with self._lock:
            now = datetime.now().timestamp()
            waiting = self.node.last_seq() > int(self.node.meta().get("pushed_seq", 0))
            due_pull = now - self._last_pull >= self.pull_every
            try:
                self.node.expire_holds()
            except StoreError as err:  # a hold closed by a terminal meanwhile: next tick
                log.info("hold expiry skipped: %s", err)
            if not (waiting or due_pull):
                return None
            if due_pull:
                self._last_pull = now
            result = sync_once(self.node, self.client, with_pull=due_pull)
            if self.on_sync:
                self.on_sync(result)
            log.info("sync %s", json.dumps(result))
            return result

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.shutdown(wait=True)
        self.client.close()
        self.node.close()
