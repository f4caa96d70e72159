"""The node's side of sync on a schedule: the runner pushes the ledger and pulls from the hub in the background.

Nothing here is on a clerk's path: a sale commits locally and this runner
carries it to the hub later. One round of push and pull (`push`, `pull`,
`sync_once`, `status`) is in `node.push_pull`, re-exported here; this module
sets a store up from the hub and keeps the schedule (`Runner`). When the
file and the hub disagree, sync stops: see `node.recovery`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

from node import rules
from node.errors import StoreError
from node.push_pull import pull, push, status, sync_once  # noqa: F401 - re-exported: callers sync through the runner
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
from node.snapshots import close_if_due
from sync.client import HubClient
from sync.kinds import utcnow
from sync.models import StoreOpening

log = logging.getLogger("backroom.node.runner")

# The status bar promises OFFLINE within 5 s of the hub hanging or dying: a probe every second,
# each given sync.client.PROBE_TIMEOUT, lands the flag in under 3 s and leaves the bar's own poll time.
PROBE_EVERY = 1.0
CLOSE_EVERY = 15.0  # seconds between looks at whether the store's closing time has come


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
