"""The node's side of sync: push the ledger, pull what the hub has for this store, on a schedule.

Nothing here is on a clerk's path: a sale commits locally and this runner
carries it to the hub later. Progress is kept in the node file (`pushed_seq`,
`pull_cursor`), so a restart continues where it stopped, and every step is
safe to repeat: the hub ignores entries it holds, grants apply once by id,
and a release request is answered under an operation id made from its id.
When the file and the hub disagree, sync stops: see `node.recovery`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable

from node import rules
from node.bounds import MAX_ID
from node.errors import AlreadyApplied, StoreError
from node.recovery import (  # noqa: F401 - re-exported: callers take the stops and recover from the runner
    BLOCKING,
    PUSH_BATCH,
    BadEntry,
    BehindHub,
    Diverged,
    SyncStopped,
    check_position,
    wire_entries,
    recover,
    refuse_if_stopped,
)
from node.service import Clock, Node
from node.snapshots import close_if_due, send_snapshots
from sync.client import HubClient, Offline, Refused
from sync.kinds import stamp, utcnow
from sync.models import MAX_BATCH, PushBatch, StoreOpening

log = logging.getLogger("backroom.node.runner")

# The status bar promises OFFLINE within 5 s of the hub hanging or dying: a probe every second,
# each given sync.client.PROBE_TIMEOUT, lands the flag in under 3 s and leaves the bar's own poll time.
PROBE_EVERY = 1.0
CLOSE_EVERY = 15.0  # seconds between looks at whether the store's closing time has come


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
            node.release_quota(_op_id("release", rr.request_id), rr.sku, rr.qty, request_id=rr.request_id)
            done["releases"] += 1
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
                  pushed_seq=str(node.meta().get("pushed_seq", "0")),
                  **({"rcn_country": opening.rcn_country} if opening.rcn_country else {}))
    return {"store_id": store_id, "restored_entries": len(opening.ledger), "items": len(opening.catalog)}


def client_for(node: Node, *, timeout: float = 5.0, retries: int = 2) -> HubClient:
    m = node.meta()
    if not m.get("hub_url"):
        raise StoreError("This node has no hub; run `backroom node init --hub URL --token T` to connect one.")
    return HubClient(m["hub_url"], m["token"], timeout=timeout, retries=retries)


# -- the schedule ------------------------------------------------------------------


class Runner:
    """Pushes shortly after each sale and on an interval, pulls on an interval, expires holds, and takes
    the end-of-day snapshot at the store's closing time."""

    def __init__(self, node_path: str, *, pull_every: float = 10.0, check_every: float = 0.5,
                 probe_every: float = PROBE_EVERY, close_every: float = CLOSE_EVERY,
                 on_sync: Callable[[dict], None] | None = None, clock: Clock | None = None,
                 client: HubClient | None = None) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        self.node = Node(node_path, terminal="sync", clerk="runner", **({"clock": clock} if clock else {}))
        self.clock = self.node.clock  # one clock for the schedule and the entries: a simulation replays exactly
        self.client = client or client_for(self.node)
        self.on_sync = on_sync
        self._lock = threading.Lock()
        self._last_pull: float | None = None
        # The runner writes nothing (hold expiries) until it has compared this file with the
        # hub: a file just opened may be an old copy, and would write under sequences the hub
        # holds. Holds past their time meanwhile stay held, which promises nothing new.
        self._compared = False
        self.pull_every = pull_every
        self.probe_every = probe_every
        self._stopping = threading.Event()
        self._prober: threading.Thread | None = None
        self.scheduler = BackgroundScheduler(timezone="UTC")
        # A cheap check every half second: push as soon as a terminal has written something.
        self.scheduler.add_job(self.tick, IntervalTrigger(seconds=check_every, timezone="UTC"),
                               id="tick", max_instances=1, coalesce=True)
        # The end-of-day snapshot at the store's closing time (meta `close_at`, off until set): looked for on
        # an interval, not a cron, so a changed setting counts and a runner started after the close takes it.
        self._snapshot_taken = False
        self.scheduler.add_job(self.close_day_if_due, IntervalTrigger(seconds=close_every, timezone="UTC"),
                               id="close-day", max_instances=1, coalesce=True, next_run_time=utcnow())

    def tick(self) -> dict | None:
        with self._lock:
            now = self.clock().timestamp()
            waiting = self.node.last_seq() > int(self.node.meta().get("pushed_seq", 0))
            # The first tick always pulls: a file just opened may be an old copy, and the pull
            # compares it with what the hub holds before anything is pushed.
            due_pull = self._last_pull is None or now - self._last_pull >= self.pull_every
            if self._compared:
                self._expire_holds()
            if not (waiting or due_pull or self._snapshot_taken):
                return None
            self._snapshot_taken = False
            if due_pull:
                self._last_pull = now
            try:
                result = sync_once(self.node, self.client, with_pull=due_pull)
            except Exception as err:  # noqa: BLE001 - the loop must outlive any one failure, and say so
                log.exception("sync failed")
                message = f"Sync failed: {err}"
                self.node.set_meta(sync_stopped="error", last_error=message)
                result = {"online": None, "stopped": "error", "error": message}
            if not self._compared and result.get("online") and not result.get("stopped"):
                self._compared = True
                self._expire_holds()
            if self.on_sync:
                self.on_sync(result)
            log.info("sync %s", json.dumps(result))
            return result

    def close_day_if_due(self) -> dict | None:
        """Take today's end-of-day snapshot once the store's closing time has come (the next tick sends it)."""
        with self._lock:
            taken = close_if_due(self.node)
            self._snapshot_taken = self._snapshot_taken or taken is not None
            return taken

    def _expire_holds(self) -> None:
        try:
            self.node.expire_holds()
        except StoreError as err:  # a hold closed by a terminal meanwhile: next tick
            log.info("hold expiry skipped: %s", err)

    def probe(self, node: Node) -> bool:
        """Ask the hub if it is there (briefly) and keep the `online` flag to the answer."""
        online = self.client.probe()
        flag = "1" if online else "0"
        if node.meta().get("online") != flag:  # most probes change nothing: write only a change
            node.set_meta(online=flag, **({} if online else {"last_error": "The hub does not answer."}))
        return online

    def _probe_loop(self) -> None:
        # Its own thread and its own connection to the file: a push stuck on a hung hub holds the
        # tick's lock for its whole timeout and retries, and the clerk must see OFFLINE before that.
        node = Node(self.node.path, terminal="sync", clerk="probe")
        try:
            while not self._stopping.is_set():
                started = time.monotonic()
                try:
                    self.probe(node)
                except Exception:  # noqa: BLE001 - a locked file or a closing client: the next probe
                    log.exception("hub probe failed")
                self._stopping.wait(max(0.0, self.probe_every - (time.monotonic() - started)))
        finally:
            node.close()

    def start(self) -> None:
        self.scheduler.start()
        if hasattr(self.client, "probe"):  # a simulated or in-process client has no HTTP edge to probe
            self._prober = threading.Thread(target=self._probe_loop, name="hub-probe", daemon=True)
            self._prober.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._prober is not None:
            self._prober.join(timeout=5)
        self.scheduler.shutdown(wait=True)
        self.client.close()
        self.node.close()
