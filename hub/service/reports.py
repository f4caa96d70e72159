"""The nightly report's operations (a part of Hub): make one, keep its revisions, serve them, on a schedule.

A report is made from one consistent read of the database. It is kept when new: a rerun that finds the same
entries and end-of-day snapshots held for every store returns the kept one; one that finds more (a late store,
a snapshot arrived or compared) issues the next revision, saying what changed. The scheduled job runs in one
hub process at a time under a lease (hub.db.leasing).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from hub import rules
from hub.db import driver_sql, leasing, reports, transact
from hub.report import figures, render
from hub.report.days import zone
from hub.report.model import TABLES, Report
from hub.service import snapshots
from hub.service.report_build import build, seen_of
from sync.kinds import stamp


class ReportOps:
    """Central ops' nightly report (a part of Hub). Settings are attributes, set by the app from its Settings."""

    report_keep_days: int = 400
    report_dir: str | None = None
    report_tolerance: int = 0  # units: a counted SKU within this of its book counts as accurate
    chain_tz: str = "UTC"
    report_recheck_days: int = 7  # a late store's entries re-issue the reports of this many days back

    def _report_reads(self) -> Any:
        if self.engine.dialect.name == "postgresql":
            # One snapshot for every statement, and no serializable read that could fail a store's push.
            return self.engine.execution_options(isolation_level="REPEATABLE READ")
        return self.consistent_reads

    def _kept(self, conn: Connection, scope: str, day: date, back: int = 14) -> dict[str, dict]:
        lo = (day - timedelta(days=back)).isoformat()
        rows = driver_sql(conn, "SELECT business_date, revision, figures FROM reports WHERE scope = ? AND "
                                "business_date >= ? AND business_date < ? ORDER BY business_date, revision",
                          (scope, lo, day.isoformat())).all()
        return {r[0]: json.loads(r[2]) for r in rows}  # the last revision of each date wins

    def make_report(self, day: date | str, store: str | None = None, *, out_dir: str | None = None) -> dict:
        """The report of a business date (a new revision if entries arrived since the last); its summary."""
        day = date.fromisoformat(day) if isinstance(day, str) else day
        scope = store or "chain"
        self.compare_waiting()  # snapshots whose entries have arrived since: compared before the report reads them
        now = stamp(self.clock())
        with self._report_reads().connect() as conn, conn.begin():
            if store:
                self._location(conn, store, "store")
            last = driver_sql(conn, "SELECT revision, seen, figures FROM reports WHERE business_date = ? AND scope = ? "
                                    "ORDER BY revision DESC LIMIT 1", (day.isoformat(), scope)).first()
            report = build(conn, day, store, now=now, tolerance=self.report_tolerance, chain_tz=self.chain_tz,
                           kept=self._kept(conn, scope, day), revision=(last[0] + 1) if last else 1)
        seen = seen_of(report)
        if last is not None and last[1] == seen:
            result = {"business_date": day.isoformat(), "scope": scope, "revision": last[0], "new": False,
                      "partial": json.loads(last[2])["partial"]}
        else:
            if last is not None:
                report.changes = figures.changes(json.loads(last[2]), report.model_dump())
            html = render.to_html(report)
            body = report.model_dump_json()

            def tx(conn: Connection) -> None:
                conn.execute(insert(reports).values(business_date=report.business_date, scope=scope,
                                                    revision=report.revision, made_at=now, partial=report.partial,
                                                    seen=seen, figures=body, html=html))
                keep_from = (day - timedelta(days=self.report_keep_days)).isoformat()
                conn.execute(delete(reports).where(reports.c.business_date < keep_from))
            transact(self.engine, tx)
            result = {"business_date": day.isoformat(), "scope": scope, "revision": report.revision, "new": True,
                      "partial": report.partial}
        target = out_dir or self.report_dir
        if target:
            r, html = self.report(day.isoformat(), scope)
            result["written_to"] = str(render.write_dir(r, html, target))
        return result

    def report(self, day: str, scope: str = "chain", revision: int | None = None) -> tuple[Report, str]:
        """A kept report (its latest revision unless told) and its page; Unknown if none is kept."""
        q = select(reports.c.figures, reports.c.html).where(reports.c.business_date == day, reports.c.scope == scope)
        if revision is not None:
            q = q.where(reports.c.revision == revision)
        with self.reads.connect() as conn:
            row = conn.execute(q.order_by(reports.c.revision.desc()).limit(1)).first()
        if row is None:
            raise rules.Unknown(f"No report is kept for {day} ({scope}); make one with "
                                f"`backroom report nightly --date {day}`.")
        return Report.model_validate_json(row[0]), row[1]

    def report_csv(self, day: str, table: str, scope: str = "chain") -> str:
        if table not in TABLES:
            raise rules.Unknown(f"A report has no table {table!r}; its tables are {', '.join(TABLES)}.")
        return render.to_csv(self.report(day, scope)[0], table)

    def list_reports(self) -> list[dict]:
        with self.reads.connect() as conn:
            rows = conn.execute(select(reports.c.business_date, reports.c.scope, reports.c.revision,
                                       reports.c.made_at, reports.c.partial)
                                .order_by(reports.c.business_date.desc(), reports.c.scope, reports.c.revision)).all()
        return [{"business_date": r[0], "scope": r[1], "revision": r[2], "made_at": r[3], "partial": bool(r[4])}
                for r in rows]

    def set_store_zone(self, store_id: str, tz: str) -> dict:
        """A store's time zone: its business day in the report (UTC until set)."""
        tz = _check_zone(tz)

        def tx(conn: Connection) -> dict:
            self._location(conn, store_id, "store")
            driver_sql(conn, "UPDATE locations SET tz = ? WHERE id = ?", (tz, store_id))
            return {"store_id": store_id, "tz": tz}
        return transact(self.engine, tx)

    # -- the schedule --------------------------------------------------------------------

    def report_holder(self) -> str:
        if not hasattr(self, "_report_holder"):
            self._report_holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        return self._report_holder

    def business_yesterday(self) -> date:
        return (self.clock().astimezone(zone(self.chain_tz)).date() - timedelta(days=1))

    def scheduled_report(self, day: date | None = None) -> dict | None:
        """The cron job: yesterday's chain report, made once per date however many hub processes run it (the
        first to claim the date's lease makes it; the lease is kept two days so the others find it taken).
        Then late stores re-issue the days before. None if another process has the date."""
        day = day or self.business_yesterday()
        done = self._under_lease(f"report:{day.isoformat()}", timedelta(days=2), lambda: self.make_report(day))
        self.recheck_reports()
        return done

    def recheck_reports(self) -> list[dict]:
        """Re-issue each kept report of the last days whose stores have sent more entries since, or an
        end-of-day snapshot (or whose snapshot has since been compared)."""
        since = (self.business_yesterday() - timedelta(days=self.report_recheck_days)).isoformat()
        with self.reads.connect() as conn:
            partial = conn.execute(select(reports.c.business_date, reports.c.scope, reports.c.seen, reports.c.revision)
                                   .where(reports.c.business_date >= since)
                                   .order_by(reports.c.business_date, reports.c.scope, reports.c.revision)).all()
            held = dict(driver_sql(conn, "SELECT id, next_seq - 1 FROM locations WHERE kind = 'store'").all())
            marks = snapshots.marks_since(conn, since)
        latest = {(r[0], r[1]): r for r in partial}  # the last revision of each
        out = []
        for (day, scope), r in latest.items():
            # each store's last entry held then, and its snapshot's state if it had one (report_build.seen_of)
            seen = {s: (n, None) if isinstance(n, int) else tuple(n) for s, n in json.loads(r[2]).items()}
            if any(held.get(s, 0) > n or marks.get((day, s)) != m for s, (n, m) in seen.items()):
                got = self._under_lease(f"report:{day}:{scope}:r{r[3] + 1}", timedelta(hours=1),
                                        lambda d=day, s=scope: self.make_report(d, None if s == "chain" else s))
                if got:
                    out.append(got)
        return out

    def _under_lease(self, name: str, hold: timedelta, work: Any) -> Any:
        now = self.clock()
        until = stamp(now + hold)
        me = self.report_holder()
        if transact(self.engine, lambda c: leasing.claim(c, name[:64], me, stamp(now), until, scheduled=True)) is not None:
            return None
        try:
            return work()
        finally:
            transact(self.engine, lambda c: leasing.let_go(c, name[:64], me, until))



def _check_zone(tz: str) -> str:
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    try:
        return ZoneInfo(tz).key
    except Exception as err:  # noqa: BLE001 - zoneinfo raises several kinds for a bad name
        raise rules.BadRequest(f"{tz!r} is not an IANA time zone (such as Europe/Paris).") from err
