"""The balancer in the hub: passes (scheduled or asked for), what they did, and top-ups at a store's pull.

A pass (`rebalance`) reads on one snapshot (hub/service/balance_pass.py),
lets `hub.rules.plan` decide, and carries the moves out through the hub's
own paths (hub/service/balance_moves.py), recording the run and every move
with its reason. It runs in one hub process at a time, whichever holds the
`balance` lease (hub/db/leasing.py); the run's row says which. A dry run takes
no lease and writes nothing: it returns the moves a pass would make now.

At a store's pull (`_low_at_pull`, `_top_up_at_pull`), the spots the last
pass watched (near a top-up) whose quota has fallen that far are planned on
the spot, and their grants made before the pull reads the grants it returns: a
store that syncs while low gets its top-up in that same pull. The check is the
first read of the pull's own snapshot; only a pull that tops up reads its
page on a second one, after the grants are made. The pull also notes that the hub
heard from the store (at most once a minute per process, and only if no other
writer holds the database: a note is not worth a wait): the forecast's online
hours.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from hub import rules
from hub.db import AmbiguousCommit, driver_sql, leasing, one_of, transact
from hub.rules import BalanceSettings, plan
from hub.service.balance_inputs import asked_of, note_contact
from hub.service.balance_moves import LEASE, Writer, grant_many, record
from hub.service.balance_pass import Cadence, Pass, Planned
from hub.service.common import _POSITION_COLS
from sync.kinds import parse_stamp, stamp

log = logging.getLogger("backroom.hub.balance")

# A store pulls every few seconds: a note of each pull would be a write per pull. Its online hours, and
# ops' last contact (GET /ops/stores), are kept to within this instead.
CONTACT_EVERY = timedelta(minutes=1)
_WATCHED = ("SELECT w.sku FROM balance_watch w JOIN positions p ON p.location = w.store_id AND p.sku = w.sku "
            "WHERE w.store_id = ? AND p.quota + p.in_flight <= w.below AND p.hub_share - p.safety_buffer >= ?")
_RUN_COLS = ("run_id", "holder", "started_at", "finished_at", "status", "full_pass", "spots", "grants", "releases",
             "transfers", "skipped", "message")


class BalanceOps:
    """The balancer's operations (a part of Hub)."""

    balance_settings = BalanceSettings()
    cadence = Cadence()
    lease_for = timedelta(minutes=2)  # a dead pass's lease lapses after this

    @property
    def holder(self) -> str:
        """This process, as a lease and a run name it."""
        if getattr(self, "_holder", None) is None:
            self._holder = f"{socket.gethostname()}:{os.getpid()}:{self.unique(3)}"[:128]
        return self._holder

    def rebalance(self, *, dry_run: bool = False, scheduled: bool = False, full: bool | None = None) -> dict:
        """One pass: plan and carry out the moves (or, dry, only return them).

        `scheduled`: the interval job's pass, which runs at most once an interval (None back if
        another process has run it this interval). Asked for by ops: runs unless a pass is
        running now (Conflict)."""
        now = self.clock()
        if dry_run:
            with self.consistent_reads.connect() as conn:
                planned = Pass(conn, now, self.balance_settings, self.cadence).run(full)
            return _report(None, planned, None)
        run_id = f"B-{now:%Y%m%d%H%M%S}-{self.unique(3)}"
        started, holder = stamp(now), self.holder

        def claim(conn: Connection) -> str | None:
            held = leasing.claim(conn, LEASE, holder, started, stamp(now + self.lease_for), scheduled=scheduled)
            if held is None:
                # Holding the lease, no other pass runs: one still marked running died with its process.
                driver_sql(conn, "UPDATE balance_runs SET status = 'failed', finished_at = ?, message = "
                                 "'its process stopped before it finished' WHERE status = 'running'", (started,))
                driver_sql(conn, "INSERT INTO balance_runs (run_id, holder, started_at, status, full_pass, "
                                 "feed_cursor, spots, grants, releases, transfers, skipped) "
                                 "VALUES (?, ?, ?, 'running', ?, 0, 0, 0, 0, 0, 0)", (run_id, holder, started, False))
            return held
        try:
            held = transact(self.engine, claim)
        except AmbiguousCommit:  # committed or not: the lease says whether this pass holds it
            with self.reads.connect() as conn:
                mine = driver_sql(conn, "SELECT 1 FROM balance_runs WHERE run_id = ?", (run_id,)).first()
            if not mine:
                if scheduled:
                    return {"ran": False, "held_by": None}
                raise rules.Busy("The hub could not tell whether the pass began; try again.") from None
            held = None
        if held is not None:
            if scheduled:
                return {"ran": False, "held_by": held or None}
            raise rules.Conflict(f"A balancer pass is running now ({held}); try again when it is done.")
        until = (now + self.cadence.every * 0.9) if scheduled else now
        try:
            self._number_feed()
            with self.consistent_reads.connect() as conn:
                planned = Pass(conn, now, self.balance_settings, self.cadence).run(full)
            writer = Writer(self, run_id, holder, lambda: stamp(self.clock() + self.lease_for), started)
            counts = writer.moves(planned)
            writer.keep(planned, stamp(now - self.cadence.history))
        except BaseException as err:
            self._end_run(run_id, holder, "failed", None, None, str(err)[:2000] or type(err).__name__, now)
            raise
        self._end_run(run_id, holder, "done", planned, counts, None, max(until, self.clock()))
        return _report(run_id, planned, counts)

    def scheduled_rebalance(self) -> dict | None:
        """The interval job's pass (hub/app.py); what went wrong is logged, and the next interval tries again."""
        try:
            return self.rebalance(scheduled=True)
        except Exception:  # noqa: BLE001 - a scheduler job must outlive any one failure, and say so
            log.exception("balancer pass failed")
            return None

    def _end_run(self, run_id: str, holder: str, status: str, planned: Planned | None, counts: dict | None,
                 message: str | None, until: datetime) -> None:
        c = counts or {}

        def tx(conn: Connection) -> None:
            driver_sql(conn, "UPDATE balance_runs SET finished_at = ?, status = ?, full_pass = ?, feed_cursor = ?, "
                             "spots = ?, grants = ?, releases = ?, transfers = ?, skipped = ?, message = ? "
                             "WHERE run_id = ?",
                       (stamp(self.clock()), status, bool(planned and planned.full),
                        planned.feed_to if planned else 0, planned.spots if planned else 0, c.get("granted", 0),
                        c.get("asked", 0), c.get("proposed", 0), c.get("skipped", 0), message, run_id))
            leasing.let_go(conn, LEASE, holder, stamp(until))
        try:
            transact(self.engine, tx)
        except AmbiguousCommit:
            pass  # it committed; only the answer was lost
        except (rules.HubError, DBAPIError):
            log.exception("could not record the end of balancer run %s; its lease lapses by itself", run_id)

    def balance_view(self, limit: int = 200, offset: int = 0) -> dict:
        """The last run, its moves (a page of them) and their reasons; the runs before it; top-ups at pulls since."""
        with self.consistent_reads.connect() as conn:
            runs = [dict(zip(_RUN_COLS, r, strict=True)) for r in driver_sql(
                conn, f"SELECT {', '.join(_RUN_COLS)} FROM balance_runs ORDER BY started_at DESC, run_id LIMIT 10")]
            last = runs[0] if runs else None
            moves = [] if last is None else [_move(r) for r in driver_sql(
                conn, "SELECT kind, store_id, sku, qty, source, reason, outcome, ref, at FROM balance_moves "
                      "WHERE run_id = ? ORDER BY move_id LIMIT ? OFFSET ?", (last["run_id"], limit, offset))]
            top_ups = [_move(r) for r in driver_sql(
                conn, "SELECT kind, store_id, sku, qty, source, reason, outcome, ref, at FROM balance_moves "
                      "WHERE run_id IS NULL AND at >= ? ORDER BY at DESC LIMIT ?",
                (last["started_at"] if last else "", limit))]
            proposals = driver_sql(conn, "SELECT count(*) FROM transfer_proposals WHERE status = 'open'").scalar()
        for r in runs:
            r["full_pass"] = bool(r["full_pass"])
        return {"last_run": last, "moves": moves, "top_ups_at_pull": top_ups, "open_proposals": proposals,
                "runs": runs}

    # -- at a store's pull ----------------------------------------------------------------------

    def _note_at_pull(self, store_id: str) -> datetime:
        """Note the pull as contact: the forecast's online hours, and ops' last contact (GET /ops/stores).
        At most once in CONTACT_EVERY per store and process, and not when the store's last push is as
        recent (a store that sells needs no note of its pulls). Never fails the pull; the pull's time."""
        now = self.clock()
        noted = getattr(self, "_contacts_noted", None)
        if noted is None:
            noted = self._contacts_noted = {}
        if store_id in noted and now - noted[store_id] < CONTACT_EVERY:
            return now
        noted[store_id] = now
        try:  # a note, not a promise: never waits for another writer, never retried
            with self.reads.connect() as conn:
                store = driver_sql(conn, "SELECT last_seen FROM locations WHERE id = ? AND kind = 'store'",
                                   (store_id,)).first()
            if store is None or (store[0] and now - parse_stamp(store[0]) < CONTACT_EVERY):
                return now
            with self._no_wait.begin() as conn:
                note_contact(conn, store_id, stamp(now))
        except DBAPIError:
            log.info("contact with %s not noted (the database was busy)", store_id)
        return now

    def _low_at_pull(self, conn: Connection, store_id: str) -> list[str] | None:
        """The watched spots of the store that have fallen low, read on the pull's own snapshot (no
        connection of its own); None if the read failed (the pull goes on, on a fresh snapshot)."""
        try:
            return [r[0] for r in driver_sql(conn, _WATCHED, (store_id, self.balance_settings.min_move))]
        except DBAPIError:
            log.info("top-up at %s's pull skipped", store_id, exc_info=True)
            return None

    def _top_up_at_pull(self, store_id: str, low: list[str], now: datetime) -> None:
        """Top up the spots `_low_at_pull` found. Never fails the pull."""
        try:
            transact(self.engine, lambda conn: self._top_up(conn, store_id, low, now))
        except (rules.HubError, AmbiguousCommit, DBAPIError):
            log.info("top-up at %s's pull skipped", store_id, exc_info=True)

    def _top_up(self, conn: Connection, store_id: str, skus: list[str], now: datetime) -> None:
        loc = self._location(conn, store_id, "store")
        any_sku, params = one_of(conn, skus)
        args = (store_id, *params)
        if loc.blocked or driver_sql(conn, "SELECT 1 FROM balance_off WHERE scope = 'store' AND key = ?",
                                     (store_id,)).first():
            return
        demand = dict(driver_sql(conn, f"SELECT sku, demand FROM balance_demand WHERE store_id = ? AND sku {any_sku}",
                                 args).all())
        pins = dict(driver_sql(conn, f"SELECT sku, quota FROM balance_pins WHERE store_id = ? AND sku {any_sku}",
                               args).all())
        off = {k for (k,) in driver_sql(conn, f"SELECT key FROM balance_off WHERE scope = 'sku' AND key {any_sku}",
                                        params)}
        asked = dict(driver_sql(conn, "SELECT sku, sum(qty) FROM release_requests WHERE status = 'open' AND "
                                      f"store_id = ? AND sku {any_sku} GROUP BY sku", args).all())
        incoming = dict(driver_sql(conn, "SELECT sku, sum(qty) FROM transfers WHERE status = 'in_transit' AND "
                                         f"to_location = ? AND sku {any_sku} GROUP BY sku", args).all())
        rows = driver_sql(conn, f"SELECT {_POSITION_COLS} FROM positions WHERE location = ? AND sku {any_sku}", args)
        spots = [(loc_, sku, "store", on_hand, quota, held, in_flight, hub_share, reserved, buffer,
                  demand.get(sku, 0.0), pins.get(sku), sku in off, asked_of(asked.get(sku, 0), quota),
                  incoming.get(sku, 0))
                 for loc_, sku, on_hand, quota, held, in_flight, hub_share, reserved, _, buffer in rows]
        grants = [m for m in plan(spots, self.balance_settings) if m.kind == "grant"]
        if grants:
            at = stamp(now)
            done = grant_many(self, conn, [(f"P-{store_id}-{at}-{m.sku}", m) for m in grants], at)
            record(conn, None, [(f"P-{ref}" if ref and outcome == "granted" else mid, m, outcome, ref)
                                for mid, m, outcome, ref in done], at)


def _move(r: Any) -> dict:
    return {"kind": r[0], "store_id": r[1], "sku": r[2], "qty": r[3], "source": r[4], "reason": r[5],
            "outcome": r[6], "ref": r[7], "at": r[8]}


def _report(run_id: str | None, planned: Planned, counts: dict | None) -> dict:
    moves = [{"kind": m.kind, "store_id": m.location, "sku": m.sku, "qty": m.qty, "source": m.source,
              "reason": m.reason} for m in planned.moves]
    by_kind = {k: sum(1 for m in planned.moves if m.kind == k) for k in ("grant", "release", "transfer")}
    # The same keys either way, so that a script reads a dry run and a pass alike: a dry run counts
    # what the pass would grant, ask and propose; only a pass can find a move skipped.
    would = {"granted": by_kind["grant"], "asked": by_kind["release"], "proposed": by_kind["transfer"], "skipped": 0}
    return {"ran": True, "run_id": run_id, "dry_run": run_id is None, "full": planned.full, "spots": planned.spots,
            "counts": would if counts is None else counts, "by_kind": by_kind, "moves": moves}
