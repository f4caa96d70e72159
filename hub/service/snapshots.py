"""End-of-day snapshots at the hub (a part of Hub): a store's parts taken in, the whole compared with the
hub's copy of that store's ledger up to the snapshot's sequence, and what the nightly report reads of them.

A snapshot is signed off once: the same part sent again is a repeat and changes nothing; another
snapshot for a store and date the hub holds one for is refused. Once its last part is in, it is
compared at once if the hub holds that store's entries up to its sequence, or kept `waiting` and
compared as soon as they arrive: after the push that brings them (`Hub.ingest` asks `snapshot_due` in its
transaction, one indexed look-up, and compares only when the store has one waiting), and in any case before
each report (`compare_waiting`). The comparison is final
(the hub's copy of a ledger never changes below a sequence it holds), so the rows go and only the
differences stay, each with the entries that explain it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection

from hub import rules
from hub.db import RowWriter, driver_sql, one_of, transact
from hub.report.model import Exception_, ExplainingEntry
from hub.report.snapshots import Derived, Difference, Entry, Figures, compare, explain
from sync import models as wire
from sync.kinds import stamp

log = logging.getLogger("backroom.hub.snapshots")
EXPLAINED = 200  # differing SKUs of one snapshot given their explaining entries (all are recorded)
ENTRIES_EACH = 5

_WRITE_ROWS = RowWriter("snapshot_rows", [("store_id", "varchar"), ("business_date", "varchar"), ("sku", "varchar"),
                                          ("floor", "bigint"), ("back", "bigint"), ("quota", "bigint"),
                                          ("held", "bigint")])
_WRITE_REFUSALS = RowWriter("snapshot_refusals", [("store_id", "varchar"), ("business_date", "varchar"),
                                                   ("sku", "varchar"), ("units", "bigint"), ("times", "bigint")])
_WRITE_DIFFERENCES = RowWriter("snapshot_differences", [
    ("store_id", "varchar"), ("business_date", "varchar"), ("sku", "varchar"), ("fields", "varchar"),
    ("floor", "bigint"), ("back", "bigint"), ("quota", "bigint"), ("held", "bigint"), ("ledger_on_hand", "bigint"),
    ("ledger_quota", "bigint"), ("ledger_held", "bigint"), ("last_seq", "bigint"), ("entries", "text")], unnest=False)
# Each SKU's last entry up to a sequence: its balances after are the store's figures then.
_DERIVE = """
SELECT e.sku, e.seq, e.body FROM store_entries e
JOIN (SELECT sku, MAX(seq) AS seq FROM store_entries WHERE store_id = ? AND seq <= ? GROUP BY sku) m ON m.seq = e.seq
WHERE e.store_id = ?"""
_LAST_ENTRIES = "SELECT sku, seq, body FROM store_entries WHERE store_id = ? AND sku = ? AND seq <= ? ORDER BY seq DESC LIMIT ?"
_SNAPSHOT = ("SELECT store_id, business_date, last_seq, taken_at, terminal, clerk, row_count, parts, header, parts_in, "
             "status, received_at, compared_at, differences FROM day_snapshots")


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, separators=(",", ":")).encode()).hexdigest()


def refused_of(row: tuple) -> tuple[int, int]:
    """(units, times) walk-ins were turned away for want of quota in a snapshot row; (0, 0) in a row of five
    (a node from before they were counted)."""
    return (int(row[5]), int(row[6])) if len(row) > 5 else (0, 0)


def _row_key(row: tuple) -> list:
    """A row as a part's hash takes it: a row turning nobody away hashes as the row of five it was before."""
    return list(row) if refused_of(row) != (0, 0) else list(row[:5])


def _receipt(s: Any) -> wire.SnapshotReceipt:
    return wire.SnapshotReceipt(store_id=s.store_id, business_date=s.business_date, parts_in=s.parts_in, parts=s.parts,
                                status=s.status, differences=s.differences)


def _entry(sku: str, seq: int, body: str) -> Entry:
    b = json.loads(body)
    return Entry(sku, seq, b["kind"], b["qty"], b["at"], b["on_hand_after"], b["quota_after"], b["held_after"],
                 b["terminal"], b["clerk"])


class SnapshotOps:
    """Stores' end-of-day snapshots (a part of Hub)."""

    def put_snapshot(self, store_id: str, day: str, part: wire.DaySnapshot, *,
                     token: str | None = None) -> wire.SnapshotReceipt:
        """Take one part of a store's snapshot (only the store itself sends its own); where it stands now."""
        header = _digest([part.last_seq, part.taken_at, part.signed_by.terminal, part.signed_by.clerk,
                          part.row_count, part.parts])
        rows_hash = _digest([_row_key(r) for r in part.rows])
        now = stamp(self.clock())
        key = (store_id, day)

        def tx(conn: Connection) -> wire.SnapshotReceipt:
            self._authorize(conn, token, ("store",), store_id)
            if part.store_id != store_id:
                raise rules.WrongStore(f"This snapshot is sent to store {store_id}; it names another store.")
            # Refusals the schema cannot state are conflicts (409), not malformed requests (422).
            if part.business_date != day:
                raise rules.Conflict(f"The address says business date {day}; the snapshot is for {part.business_date}.")
            problem = part.problem()
            if problem:
                raise rules.Conflict(f"This part of store {store_id}'s snapshot for {day} does not add up: {problem}.")
            loc = self._location(conn, store_id, "store")
            snap = driver_sql(conn, f"{_SNAPSHOT} WHERE store_id = ? AND business_date = ?", key).first()
            if snap is None:
                driver_sql(conn, "INSERT INTO day_snapshots (store_id, business_date, last_seq, taken_at, terminal, clerk, "
                                 "row_count, parts, header, parts_in, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, "
                                 "'incomplete')", (*key, part.last_seq, part.taken_at, part.signed_by.terminal,
                                                   part.signed_by.clerk, part.row_count, part.parts, header))
            elif snap.header != header:
                raise rules.Conflict(f"Store {store_id} already sent another end-of-day snapshot for {day} (up to seq "
                                     f"{snap.last_seq}, taken at {snap.taken_at}); a snapshot is signed off once.")
            held = driver_sql(conn, "SELECT hash FROM snapshot_parts WHERE store_id = ? AND business_date = ? AND part = ?",
                              (*key, part.part)).scalar()
            if held is not None:
                if held != rows_hash:
                    raise rules.Conflict(f"Part {part.part} of store {store_id}'s snapshot for {day} was received "
                                         "before with other rows; a snapshot is signed off once.")
                return _receipt(driver_sql(conn, f"{_SNAPSHOT} WHERE store_id = ? AND business_date = ?", key).one())
            if part.rows:
                any_sku, params = one_of(conn, [r[0] for r in part.rows])
                twice = driver_sql(conn, f"SELECT sku FROM snapshot_rows WHERE store_id = ? AND business_date = ? AND "
                                         f"sku {any_sku} LIMIT 1", (*key, *params)).scalar()
                if twice is not None:
                    raise rules.Conflict(f"SKU {twice} is in two parts of store {store_id}'s snapshot for {day}.")
                _WRITE_ROWS.write(conn, [(*key, *r[:5]) for r in part.rows])
                refused = [(*key, r[0], *refused_of(r)) for r in part.rows if refused_of(r)[0]]
                if refused:  # kept past the comparison: the nightly report counts them
                    _WRITE_REFUSALS.write(conn, refused)
            driver_sql(conn, "INSERT INTO snapshot_parts (store_id, business_date, part, hash, at) VALUES (?, ?, ?, ?, ?)",
                       (*key, part.part, rows_hash, now))
            driver_sql(conn, "UPDATE day_snapshots SET parts_in = parts_in + 1, status = CASE WHEN parts_in + 1 = parts "
                             "THEN 'waiting' ELSE status END, received_at = CASE WHEN parts_in + 1 = parts THEN ? ELSE "
                             "received_at END WHERE store_id = ? AND business_date = ?", (now, *key))
            snap = driver_sql(conn, f"{_SNAPSHOT} WHERE store_id = ? AND business_date = ?", key).one()
            if snap.status == "waiting" and snap.last_seq <= loc.next_seq - 1:
                self._compare_snapshot(conn, store_id, day, snap.last_seq, now)
                snap = driver_sql(conn, f"{_SNAPSHOT} WHERE store_id = ? AND business_date = ?", key).one()
            return _receipt(snap)

        return transact(self.engine, tx)

    def compare_waiting(self, store_id: str | None = None) -> int:
        """Compare every whole snapshot (of one store, if given) whose store's entries up to its sequence have
        arrived since; how many."""
        with self.reads.connect() as conn:
            due = driver_sql(conn, "SELECT s.store_id, s.business_date FROM day_snapshots s JOIN locations l ON "
                                   "l.id = s.store_id WHERE s.status = 'waiting' AND s.last_seq <= l.next_seq - 1"
                                   + (" AND s.store_id = ?" if store_id else "")
                                   + " ORDER BY s.business_date, s.store_id", (store_id,) if store_id else ()).all()
        now = stamp(self.clock())
        done = 0
        for store_id_, day in due:
            def tx(conn: Connection, store_id: str = store_id_, day: str = day) -> int:
                s = driver_sql(conn, f"{_SNAPSHOT} WHERE store_id = ? AND business_date = ?", (store_id, day)).one()
                if s.status != "waiting":
                    return 0  # another hub process compared it meanwhile
                self._compare_snapshot(conn, store_id, day, s.last_seq, now)
                return 1
            done += transact(self.engine, tx)
        return done

    @staticmethod
    def snapshot_due(conn: Connection, store_id: str, held_to: int) -> bool:
        """Whether a whole snapshot of this store waits for entries the hub now holds (up to `held_to`)."""
        return driver_sql(conn, "SELECT 1 FROM day_snapshots WHERE status = 'waiting' AND store_id = ? AND "
                                "last_seq <= ?", (store_id, held_to)).first() is not None

    def compare_after_push(self, store_id: str) -> None:
        """Compare a store's snapshots its push has completed, in a transaction of their own. The push is
        committed: a comparison that fails here leaves the snapshot waiting, compared before the next report."""
        try:
            self.compare_waiting(store_id)
        except Exception:  # noqa: BLE001 - never the push's failure; the report compares what still waits
            log.exception("store %s's waiting snapshot was not compared after its push; the report will", store_id)

    @staticmethod
    def _compare_snapshot(conn: Connection, store_id: str, day: str, last_seq: int, now: str) -> list[Difference]:
        """Compare a whole snapshot with the ledger up to its sequence; keep the differences, drop the rows."""
        key = (store_id, day)
        rows = driver_sql(conn, "SELECT sku, floor, back, quota, held FROM snapshot_rows WHERE store_id = ? AND "
                                "business_date = ?", key).all()
        derived = []
        for sku, seq, body in driver_sql(conn, _DERIVE, (store_id, last_seq, store_id)).all():
            b = json.loads(body)
            derived.append(Derived(sku, b["on_hand_after"], b["quota_after"], b["held_after"], seq))
        found = compare(rows, derived)
        entries = [_entry(*r) for d in found[:EXPLAINED] if d.last_seq
                   for r in driver_sql(conn, _LAST_ENTRIES, (store_id, d.sku, last_seq, ENTRIES_EACH)).all()]
        found = explain(found[:EXPLAINED], entries, ENTRIES_EACH) + found[EXPLAINED:]
        _WRITE_DIFFERENCES.write(conn, [
            (*key, d.sku, ",".join(d.fields), d.floor, d.back, d.snapshot.quota, d.snapshot.held, d.ledger.on_hand,
             d.ledger.quota, d.ledger.held, d.last_seq, json.dumps([asdict(e) for e in d.entries])) for d in found])
        driver_sql(conn, "DELETE FROM snapshot_rows WHERE store_id = ? AND business_date = ?", key)
        driver_sql(conn, "UPDATE day_snapshots SET status = 'compared', compared_at = ?, differences = ? "
                         "WHERE store_id = ? AND business_date = ?", (now, len(found), *key))
        return found


# -- what the nightly report reads (inside its own consistent read) ------------------------------------------


def mark(status: str | None, differences: int | None) -> str | None:
    """A snapshot's state as a report remembers it: a report is re-issued when this changes."""
    return None if status is None else f"{status}:{'-' if differences is None else differences}"


def states(conn: Connection, day: str, store_ids: list[str]) -> dict[str, Any]:
    """Each store's snapshot for `day` (its row of day_snapshots), for the stores that sent one."""
    if not store_ids:
        return {}
    any_store, params = one_of(conn, store_ids)
    return {r.store_id: r for r in driver_sql(conn, f"{_SNAPSHOT} WHERE business_date = ? AND store_id {any_store}",
                                              (day, *params)).all()}


def marks_since(conn: Connection, since: str) -> dict[tuple[str, str], str | None]:
    """(business date, store) -> mark, for every snapshot of `since` or later."""
    return {(r[0], r[1]): mark(r[2], r[3]) for r in driver_sql(
        conn, "SELECT business_date, store_id, status, differences FROM day_snapshots WHERE business_date >= ?",
        (since,)).all()}


def differences(conn: Connection, day: str, store_ids: list[str], limit: int) -> list[Any]:
    """The snapshot differences of `day` at these stores, by store and SKU (at most `limit`)."""
    if not store_ids:
        return []
    any_store, params = one_of(conn, store_ids)
    return driver_sql(conn, "SELECT d.store_id, d.sku, d.fields, d.floor, d.back, d.quota, d.held, d.ledger_on_hand, "
                            "d.ledger_quota, d.ledger_held, d.last_seq, d.entries, s.last_seq AS upto, s.compared_at "
                            "FROM snapshot_differences d JOIN day_snapshots s ON s.store_id = d.store_id AND "
                            f"s.business_date = d.business_date WHERE d.business_date = ? AND d.store_id {any_store} "
                            "ORDER BY d.store_id, d.sku LIMIT ?", (day, *params, limit)).all()


def refused(conn: Connection, day: str, store_ids: list[str]) -> dict[str, tuple[int, int]]:
    """Each store's walk-ins turned away for want of quota on `day` (units, times), as its snapshot carried them
    (a store whose snapshot holds none has no entry)."""
    if not store_ids:
        return {}
    any_store, params = one_of(conn, store_ids)
    return {r[0]: (int(r[1]), int(r[2])) for r in driver_sql(
        conn, "SELECT store_id, SUM(units), SUM(times) FROM snapshot_refusals WHERE business_date = ? AND "
              f"store_id {any_store} GROUP BY store_id", (day, *params)).all()}


def completeness(s: Any | None) -> dict:
    """A store's snapshot as the report's completeness row says it (hub.report.model.Completeness)."""
    if s is None:
        return {"snapshot": False, "snapshot_status": "missing", "snapshot_note": "missing"}
    whole = s.status in ("waiting", "compared")
    note = (f"received (at {s.taken_at}, seq {s.last_seq}), signed off by {s.terminal}/{s.clerk}" if whole
            else f"incomplete: {s.parts_in} of {s.parts} parts received")
    if s.status == "waiting":
        note += f"; waiting for the store's entries up to seq {s.last_seq} to compare it"
    elif s.status == "compared":
        note += "; agrees with the ledger" if not s.differences else \
            f"; {s.differences} SKU{'s' if s.differences != 1 else ''} differ from the ledger"
    return {"snapshot": whole, "snapshot_status": s.status, "snapshot_taken_at": s.taken_at,
            "snapshot_seq": s.last_seq, "snapshot_signed_by": f"{s.terminal}/{s.clerk}",
            "snapshot_differences": s.differences, "snapshot_note": note}


def exceptions(rows: list[Any]) -> list[Exception_]:
    """Snapshot differences (`differences` rows) as the report's exceptions, each with its explaining entries."""
    out = []
    for r in rows:
        d = Difference(r.sku, tuple(r.fields.split(",")), Figures(r.floor + r.back, r.quota, r.held),
                       Figures(r.ledger_on_hand, r.ledger_quota, r.ledger_held), r.floor, r.back, r.last_seq)
        entries = [ExplainingEntry(**{k: v for k, v in e.items() if k != "sku"}) for e in json.loads(r.entries)]
        out.append(Exception_(store_id=r.store_id, kind="snapshot_difference", seq=r.upto, at=r.compared_at,
                              sku=r.sku, message=d.message(r.upto), entries=entries))
    return out
