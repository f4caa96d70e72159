"""End-of-day snapshots: the store's figures per SKU at its close, signed off, kept until the hub has them.

`Node.close_day` takes one (`backroom node close-day`, or the runner at the store's closing time, node
meta `close_at`): on-hand by bin, quota and held units of every SKU (with the units and times walk-ins
were turned away for want of quota that date, node.refusals), the last ledger sequence they
are the balances after, the business date, and who signed it off (terminal and clerk). Figures and
sequence are read in one write transaction, so no entry comes between them. One snapshot per date:
asking again returns the first. `send_snapshots` gives the hub the ones it has not acknowledged, in
parts of the wire's size; the hub takes a part it holds again as a repeat, so a resend after a lost
reply changes nothing.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import TYPE_CHECKING

from node.bounds import MAX_TERMINAL, check_text
from node.errors import BadInput, StoreError
from node.rules import closing
from node.store import immediate
from node.store import snapshots as sql
from sync.kinds import parse_stamp, stamp

if TYPE_CHECKING:
    from node.service import Node
    from sync.client import HubClient

log = logging.getLogger("backroom.node.snapshots")


def _day(day: date | str | None, node: Node, tz: str) -> date:
    if day is None:
        return closing.business_date(node.clock(), tz)
    if isinstance(day, date):
        return day
    try:
        return date.fromisoformat(day.strip())
    except ValueError:
        shown = day if len(day) <= 20 else day[:20] + "..."
        raise BadInput(f"A business date is written YYYY-MM-DD (such as 2025-03-10), not {shown!r}.") from None


class Snapshots:
    """`Node`'s end-of-day snapshots."""

    def store_zone(self: Node) -> str:
        """The store's IANA zone (node meta `tz`; UTC until set): its business day."""
        return closing.zone(self.meta().get("tz")).key

    def close_day(self: Node, day: date | str | None = None) -> dict:
        """Take the end-of-day snapshot of `day` (today's business date in the store's zone unless told),
        signed off by this terminal and clerk; a date already taken returns that snapshot (`new` False)."""
        store_id = self.store_id
        tz = self.store_zone()
        when = _day(day, self, tz)
        check_text(self.terminal, "A terminal id", most=MAX_TERMINAL)
        check_text(self.clerk, "A clerk's name")
        with immediate(self.conn) as c:
            got = sql.get(c, when.isoformat())
            if got is None:
                now = self.clock()
                seq, at = sql.last_entry(c)
                closing.check_snapshot_date(when, now, tz, parse_stamp(at) if at else None)
                sql.take(c, when.isoformat(), seq, stamp(now), self.terminal, self.clerk)
                got = sql.get(c, when.isoformat())
                new = True
            else:
                new = False
        assert got is not None
        return {"store_id": store_id, "tz": tz, **_view(got), "new": new}

    def close_due(self: Node) -> date | None:
        """The business date the runner should snapshot now (its closing time has come, none taken yet)."""
        m = self.meta()
        at = closing.close_time(m.get("close_at"))
        if at is None:
            return None
        due = closing.close_due(self.clock(), m.get("tz"), at, taken=False)
        return due if due is not None and sql.get(self.conn, due.isoformat()) is None else None

    def snapshots(self: Node, limit: int = 30) -> list[dict]:
        """The latest snapshots, newest first: date, sequence, who, rows, sent or waiting."""
        return [_view(s) for s in sql.recent(self.conn, limit)]

    def snapshots_to_send(self: Node) -> list[dict]:
        return sql.to_send(self.conn)

    def snapshot_rows(self: Node, day: str) -> list[tuple[str, int, int, int, int, int, int]]:
        return list(sql.rows(self.conn, day))

    def snapshot_settled(self: Node, day: str, status: str, answer: dict) -> None:
        with immediate(self.conn) as c:
            sql.settle(c, day, status, stamp(self.clock()), json.dumps(answer, sort_keys=True))


def _view(s: dict) -> dict:
    answer = json.loads(s["answer"]) if s.get("answer") else None
    return {"business_date": s["business_date"], "last_seq": s["last_seq"], "taken_at": s["taken_at"],
            "signed_by": {"terminal": s["terminal"], "clerk": s["clerk"]}, "rows": s["row_count"],
            "status": s["status"], "sent_at": s["sent_at"], "answer": answer}


def close_if_due(node: Node) -> dict | None:
    """The runner's scheduled job: today's snapshot, once the store's closing time has come; None if not
    due. A bad setting is logged, not raised: the runner keeps syncing."""
    try:
        day = node.close_due()
        taken = node.close_day(day) if day is not None else None
    except StoreError as err:
        log.error("end-of-day snapshot not taken: %s", err)
        return None
    if taken is not None:
        log.info("end-of-day snapshot of %s taken at seq %s", taken["business_date"], taken["last_seq"])
    return taken


def send_snapshots(node: Node, client: HubClient) -> int:
    """Send every snapshot the hub has not acknowledged; how many it acknowledged now.

    A snapshot the hub refuses (a different one already held for that date, say) is marked refused and
    kept, and the refusal is recorded as a problem for ops: it never stops the ledger's sync. Offline
    propagates: the snapshot waits for the next sync.
    """
    pending = node.snapshots_to_send()
    if not pending:
        return 0
    from pydantic import ValidationError  # noqa: PLC0415 - the wire costs a CLI call to import

    from sync.client import Refused  # noqa: PLC0415
    from sync.models import SNAPSHOT_PART_ROWS, DaySnapshot, Signature  # noqa: PLC0415

    sent = 0
    for s in pending:
        day = s["business_date"]
        rows = node.snapshot_rows(day)
        n = max(1, -(-len(rows) // SNAPSHOT_PART_ROWS))
        try:
            parts = [DaySnapshot(store_id=node.store_id, business_date=day, last_seq=s["last_seq"],
                                 taken_at=s["taken_at"], signed_by=Signature(terminal=s["terminal"], clerk=s["clerk"]),
                                 row_count=len(rows), part=i + 1, parts=n,
                                 rows=rows[i * SNAPSHOT_PART_ROWS:(i + 1) * SNAPSHOT_PART_ROWS]) for i in range(n)]
            problem = next((p.problem() for p in parts if p.problem()), None)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(x) for x in first.get("loc", ()))
            problem = f"{where}: {first.get('msg')} ({err.error_count()} problems)"
        if problem:
            why = f"The end-of-day snapshot of {day} cannot be sent: {problem}."
        else:
            try:
                receipts = [client.put_snapshot(p) for p in parts]
            except Refused as r:
                why = f"The hub refused the end-of-day snapshot of {day}: {r.code}: {r.message}"
            else:
                node.snapshot_settled(day, "sent", receipts[-1].model_dump())
                sent += 1
                continue
        log.error("%s", why)
        node.snapshot_settled(day, "refused", {"error": why})
        node.record_problem("snapshot_refused", day, why)
    return sent
