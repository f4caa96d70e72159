"""A pass's moves carried out through the hub's own paths, and what the pass keeps for the next one.

- grant: the hub share goes to in-flight and a grant is recorded, which the
  store applies on its next pull (`rules.grant`, as `Hub.grant` does, many at once);
- release: a release request the store answers on its next pull;
- transfer: a proposal ops can see and accept (from a warehouse the hub then
  ships it; from a store, it grants the store the units to send); the pass
  proposes none that ops decided within a day (`balance_restraints`).

Every move is recorded in `balance_moves` with its reason and what became of
it, in the same transaction as the grant, request or proposal it became. Moves
go in chunks of `CHUNK`, one transaction each; each renews the pass's lease
there, so a pass that lost its lease (it stalled past the lease's time and
another process took over) stops before writing anything more.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection

from hub import rules
from hub.db import RowWriter, driver_sql, leasing, one_of, transact
from hub.rules import Move
from hub.service.balance_inputs import chunks, note_contacts
from hub.service.balance_pass import Planned
from hub.service.common import _WRITE_POSITIONS, _feed_row, _write_feed

CHUNK = 1000
LEASE = "balance"

_MOVES = RowWriter("balance_moves", [
    ("move_id", "varchar"), ("run_id", "varchar"), ("kind", "varchar"), ("store_id", "varchar"), ("sku", "varchar"),
    ("qty", "integer"), ("source", "varchar"), ("reason", "text"), ("outcome", "varchar"), ("ref", "varchar"),
    ("at", "varchar")])
_GRANTS = RowWriter("grants", [("grant_id", "varchar"), ("store_id", "varchar"), ("grant_no", "bigint"),
                               ("sku", "varchar"), ("qty", "integer"), ("status", "varchar"),
                               ("created_at", "varchar")])
_RELEASES = RowWriter("release_requests", [("request_id", "varchar"), ("store_id", "varchar"), ("sku", "varchar"),
                                           ("qty", "integer"), ("status", "varchar"), ("created_at", "varchar")])
_SALES = RowWriter("balance_sales", [("store_id", "varchar"), ("sku", "varchar"), ("hour", "varchar"),
                                     ("units", "integer")],
                   "ON CONFLICT (store_id, sku, hour) DO UPDATE SET units = balance_sales.units + excluded.units")
_DEMAND = RowWriter("balance_demand", [("store_id", "varchar"), ("sku", "varchar"), ("demand", "float8")],
                    "ON CONFLICT (store_id, sku) DO UPDATE SET demand = excluded.demand")
_TIGHT = RowWriter("balance_tight", [("sku", "varchar")], "ON CONFLICT (sku) DO NOTHING")
_WATCH = RowWriter("balance_watch", [("store_id", "varchar"), ("sku", "varchar"), ("below", "bigint")],
                   "ON CONFLICT (store_id, sku) DO UPDATE SET below = excluded.below")


class LeaseLost(rules.Conflict):
    pass


def grant_many(hub: Any, conn: Connection, moves: list[tuple[str, Move]], now: str) -> list[tuple]:
    """Grant `moves` (each with its move id) as `Hub.grant` would; the `balance_moves` rows for them.

    A move the hub's records no longer allow (the hub share was promised meanwhile, the store is
    blocked, pinned or switched off since) is recorded as skipped, with the refusal as its `ref`."""
    by_store: dict[str, list[tuple[str, Move]]] = defaultdict(list)
    for mid, m in moves:
        by_store[m.location].append((mid, m))
    if not moves:
        return []
    pinned, off = _steered(conn, moves)
    recorded, grant_rows, changed, feed = [], [], [], []
    for store, ms in by_store.items():
        loc = hub._location(conn, store, "store")
        ps = hub._positions(conn, store, {m.sku for _, m in ms})
        before = hub._snapshot(ps)
        no = loc.next_grant_no
        for mid, m in ms:
            outcome, ref = "granted", None
            if _steered_since(m, pinned, off):
                outcome, ref = "skipped", "pinned or switched off since the plan"
            else:
                try:
                    rules.grant(ps[m.sku], m.qty, blocked=loc.blocked)
                except rules.HubError as err:
                    outcome, ref = "skipped", err.message[:128]
            if outcome == "granted":
                ref = f"G-{store}-{no}-{hub.unique(4)}"
                grant_rows.append((ref, store, no, m.sku, m.qty, "in_flight", now))
                no += 1
            recorded.append((mid, m, outcome, ref))
        if no != loc.next_grant_no:
            driver_sql(conn, "UPDATE locations SET next_grant_no = ? WHERE id = ?", (no, store))
            for p in ps.values():
                changed.append(p.row())
                row = _feed_row(p.location, p.sku, before.get(p.sku), p.on_hand, p.promisable, now)
                if row:
                    feed.append(row)
    _WRITE_POSITIONS.write(conn, changed)
    _write_feed(conn, feed)
    _GRANTS.write(conn, grant_rows)
    return recorded


def _steered(conn: Connection, moves: list[tuple[str, Move]]) -> tuple[dict[tuple[str, str], int], set[str]]:
    """The pins among `moves`' SKUs, and the stores and SKUs switched off: ops may have changed them
    since the pass read them."""
    any_sku, params = one_of(conn, sorted({m.sku for _, m in moves}))
    pinned = {(s, k): q for s, k, q in driver_sql(
        conn, f"SELECT store_id, sku, quota FROM balance_pins WHERE sku {any_sku}", params)}
    return pinned, {k for (k,) in driver_sql(conn, "SELECT key FROM balance_off")}


def _steered_since(m: Move, pinned: dict[tuple[str, str], int], off: set[str]) -> bool:
    """Whether ops' pins or switches, as they are now, forbid `m`: a move to a pin only while that pin holds."""
    return m.location in off or m.sku in off or pinned.get((m.location, m.sku)) != m.pin


def _releases(hub: Any, conn: Connection, moves: list[tuple[str, Move]], now: str) -> list[tuple]:
    rows, recorded = [], []
    pinned, off = _steered(conn, moves) if moves else ({}, set())
    for mid, m in moves:
        if _steered_since(m, pinned, off):
            recorded.append((mid, m, "skipped", "pinned or switched off since the plan"))
            continue
        rid = f"RR-{m.location}-{hub.unique(6)}"
        rows.append((rid, m.location, m.sku, m.qty, "open", now))
        recorded.append((mid, m, "asked", rid))
    _RELEASES.write(conn, rows)
    return recorded


def _proposals(hub: Any, conn: Connection, moves: list[tuple[str, Move]], now: str,
               open_ones: dict[tuple[str, str, str], str]) -> list[tuple]:
    recorded = []
    for mid, m in moves:
        key = (m.source or "", m.location, m.sku)
        pid = open_ones.get(key)
        if pid is None:
            pid = open_ones[key] = f"TP-{hub.unique(6)}"
            driver_sql(conn, "INSERT INTO transfer_proposals (proposal_id, from_location, to_location, sku, qty, "
                             "reason, status, created_at) VALUES (?, ?, ?, ?, ?, ?, 'open', ?)",
                       (pid, m.source, m.location, m.sku, m.qty, m.reason, now))
        else:
            driver_sql(conn, "UPDATE transfer_proposals SET qty = ?, reason = ? WHERE proposal_id = ?",
                       (m.qty, m.reason, pid))
        recorded.append((mid, m, "proposed", pid))
    return recorded


def record(conn: Connection, run_id: str | None, recorded: Iterable[tuple], now: str) -> None:
    _MOVES.write(conn, [(mid, run_id, m.kind, m.location, m.sku, m.qty, m.source, m.reason, outcome, ref, now)
                        for mid, m, outcome, ref in recorded])


class Writer:
    """Writes one pass, chunk by chunk, renewing the pass's lease in each chunk's transaction."""

    def __init__(self, hub: Any, run_id: str, holder: str, lease_until: Callable[[], str], now: str) -> None:
        self.hub, self.run_id, self.holder, self.lease_until, self.now = hub, run_id, holder, lease_until, now

    def _tx(self, work: Callable[[Connection], Any]) -> Any:
        def tx(conn: Connection) -> Any:
            if not leasing.renew(conn, LEASE, self.holder, self.lease_until()):
                raise LeaseLost("Another hub process took the balancer's lease: this pass stopped.")
            return work(conn)
        return transact(self.hub.engine, tx)

    def moves(self, planned: Planned) -> dict[str, int]:
        counts = {"granted": 0, "asked": 0, "proposed": 0, "skipped": 0}
        open_ones = {(f, t, k): pid for pid, f, t, k in driver_sql_all(
            self.hub, "SELECT proposal_id, from_location, to_location, sku FROM transfer_proposals "
                      "WHERE status = 'open'")}
        renewed: set[str] = set()
        numbered = [(f"{self.run_id}-{n:07d}", m) for n, m in enumerate(planned.moves, start=1)]
        for part in chunks(numbered, CHUNK):
            def work(conn: Connection, part=part) -> tuple[list[tuple], dict]:
                # A transaction may run again whole: it works on its own copy of what it changes.
                mine = dict(open_ones)
                done = grant_many(self.hub, conn, [x for x in part if x[1].kind == "grant"], self.now)
                done += _releases(self.hub, conn, [x for x in part if x[1].kind == "release"], self.now)
                done += _proposals(self.hub, conn, [x for x in part if x[1].kind == "transfer"], self.now, mine)
                record(conn, self.run_id, done, self.now)
                return done, mine
            done, mine = self._tx(work)
            open_ones.update(mine)
            for _, m, outcome, ref in done:
                counts[outcome] += 1
                if outcome == "proposed":
                    renewed.add(ref)
        stale = [pid for (_, _, sku), pid in open_ones.items() if sku in planned.widened and pid not in renewed]
        for part in chunks(stale):
            self._tx(lambda conn, part=part: driver_sql(
                conn, f"UPDATE transfer_proposals SET status = 'superseded', decided_at = ? "
                      f"WHERE status = 'open' AND proposal_id IN ({', '.join('?' * len(part))})", (self.now, *part)))
        return counts

    def keep(self, planned: Planned, history_start: str) -> None:
        """What the next pass starts from: sales, read positions, contacts, forecasts, watched spots, tight SKUs."""
        now = self.now
        for part in chunks(sorted(planned.demand.items()), CHUNK * 5):
            def demand(conn: Connection, part=part) -> None:
                _DEMAND.write(conn, [(s, k, d) for (s, k), d in part if d > 0])
                gone = [(s, k) for (s, k), d in part if d <= 0]
                if gone:
                    driver_sql(conn, "DELETE FROM balance_demand WHERE store_id = ? AND sku = ?", gone)
            self._tx(demand)
        if planned.watch_all:
            self._tx(lambda conn: driver_sql(conn, "DELETE FROM balance_watch"))
        for part in chunks(sorted(planned.watch.items()), CHUNK * 5):
            def watch(conn: Connection, part=part) -> None:
                _WATCH.write(conn, [(s, k, b) for (s, k), b in part if b is not None])
                gone = [(s, k) for (s, k), b in part if b is None]
                if gone:
                    driver_sql(conn, "DELETE FROM balance_watch WHERE store_id = ? AND sku = ?", gone)
            self._tx(watch)
        if planned.watch_all:
            self._tx(lambda conn: driver_sql(conn, "DELETE FROM balance_tight"))
        for part in chunks(sorted(planned.tight.items()), CHUNK * 5):
            def tight(conn: Connection, part=part) -> None:
                _TIGHT.write(conn, [(k,) for k, t in part if t])
                if gone := [(k,) for k, t in part if not t]:
                    driver_sql(conn, "DELETE FROM balance_tight WHERE sku = ?", gone)
            self._tx(tight)

        def stores(conn: Connection) -> None:
            # The sales folded in and each store's read position move together: sales are added to what
            # the hour holds, so entries must never be added twice.
            _SALES.write(conn, [(*k, u) for k, u in planned.folded.units.items() if u])
            note_contacts(conn, planned.heard)
            refreshed = set(planned.refreshed)
            # Each store read or refreshed: its row updated if it has one, else made (in bulk, not a
            # statement or two a store).
            read = sorted(set(planned.folded.seq) | refreshed)
            known: set[str] = set()
            for part in chunks(read):
                any_store, params = one_of(conn, part)
                known.update(driver_sql(conn, f"SELECT store_id FROM balance_stores WHERE store_id {any_store}",
                                        params).scalars())
            update = [(planned.folded.seq.get(s), now if s in refreshed else None, s) for s in read if s in known]
            make = [(s, planned.folded.seq.get(s) or 0, now if s in refreshed else "") for s in read if s not in known]
            if update:
                driver_sql(conn, "UPDATE balance_stores SET seq = coalesce(?, seq), "
                                 "refreshed_at = coalesce(?, refreshed_at) WHERE store_id = ?", update)
            if make:
                driver_sql(conn, "INSERT INTO balance_stores (store_id, seq, refreshed_at) VALUES (?, ?, ?)", make)
            driver_sql(conn, "DELETE FROM balance_sales WHERE hour < ?", (history_start,))
            driver_sql(conn, "DELETE FROM store_contacts WHERE until < ?", (history_start,))
            if planned.dirty:
                driver_sql(conn, f"DELETE FROM balance_dirty WHERE key IN ({', '.join('?' * len(planned.dirty))})",
                           tuple(planned.dirty))
        self._tx(stores)


def driver_sql_all(hub: Any, sql: str) -> list:
    with hub.reads.connect() as conn:
        return driver_sql(conn, sql).all()
