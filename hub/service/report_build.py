"""Assemble one nightly report from the database: the SQL in report_sql sums, hub.report.figures does the rest."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection

from hub.db import driver_sql
from hub.report import figures
from hub.report.days import day_bounds, zone
from hub.report.model import (
    Completeness, Exception_, Holds, Kpis, Move, Quota, Report, Shrink, SkuRollForward, SoldOut, TrendPoint, Variance,
    VarianceTotals, Web, WriteOff,
)
from hub.service import report_sql as q
from hub.service import snapshots

NEGATIVE_ROWS_LISTED = 200  # negative book rows listed as exceptions (all are counted in the roll-forward)
MOVES_LISTED = 500
SNAPSHOT_DIFFERENCES_LISTED = 500  # snapshot differences listed as exceptions (completeness counts them all)
WALK_INS_NOTE = ("Walk-ins turned away for want of quota (refused strict sales, and scans the till refused for "
                 "it) write nothing to a store's ledger: each node keeps a record of them apart, and its end-of-day "
                 "snapshot carries the units and times per SKU. They are counted from the snapshots received.")


def walk_ins_note(missing: list[str]) -> str:
    """The note on walk-ins turned away, naming the stores whose snapshot has not arrived (their count is empty)."""
    if not missing:
        return WALK_INS_NOTE
    return (WALK_INS_NOTE + f" Not counted for {', '.join(missing)}: no whole end-of-day snapshot has arrived, so "
            "that figure is empty and the total is partial until it does.")


def refused_walk_ins(snaps: dict[str, Any], refused: dict[str, tuple[int, int]], store_ids: list[str]
                     ) -> dict[str, tuple[int, int] | None]:
    """Each store's (units, times) turned away for want of quota; None for a store with no whole snapshot."""
    return {sid: (refused.get(sid, (0, 0)) if sid in snaps and snaps[sid].status in ("waiting", "compared")
                  else None) for sid in store_ids}


def chain_refused(per: dict[str, tuple[int, int] | None]) -> int | None:
    """Units turned away over the stores whose snapshot arrived; None when none has."""
    known = [v[0] for v in per.values() if v is not None]
    return sum(known) if known else None


def stores_of(conn: Connection, store: str | None) -> list[Any]:
    sql = "SELECT id, name, tz, last_seen, next_seq FROM locations WHERE kind = 'store'"
    return driver_sql(conn, sql + (" AND id = ?" if store else "") + " ORDER BY id", (store,) if store else ()).all()


def spans(day: date, ids_zones: list[tuple[str, str | None]]) -> list[tuple[str, str, str, str]]:
    """(id, the day before's start, the day's start, its end) of each location in its zone."""
    return [(i, day_bounds(day - timedelta(days=1), tz)[0], *day_bounds(day, tz)) for i, tz in ids_zones]


def build(conn: Connection, day: date, store: str | None, *, now: str, tolerance: int, chain_tz: str,
          kept: dict[str, dict], revision: int) -> Report:
    """The report of `day` for the chain (store None) or one store. `kept`: earlier reports' figures by date
    (the trend and the day before come from them when they exist)."""
    stores = stores_of(conn, store)
    both = spans(day, [(s.id, s.tz) for s in stores])
    bounds = {d[0]: d[2:] for d in both}
    warehouses = [] if store else spans(day, [(r[0], chain_tz) for r in driver_sql(
        conn, "SELECT id FROM locations WHERE kind = 'warehouse' ORDER BY id").all()])
    before_day = (day - timedelta(days=1)).isoformat()
    need_before = before_day not in kept  # else the day before's KPIs are the kept report's
    q.begin_day(conn, both + warehouses, before=need_before)  # one pass over the entries for both days
    try:
        sums, sums_before = q.store_sums(conn, tolerance, before=need_before)
        sku_rows = q.sku_rows(conn, store) if store else []
        top = q.top_variance(conn)
        negative = q.negative_rows(conn, NEGATIVE_ROWS_LISTED)
        walks = q.out_of_stock_crossings(conn)
        web = driver_sql(conn, """
            SELECT r.location, COUNT(*),
              SUM(CASE WHEN r.status IN ('ordered', 'to_hand_over', 'done') THEN 1 ELSE 0 END),
              SUM(CASE WHEN r.status = 'done' THEN 1 ELSE 0 END)
            FROM reservations r JOIN report_days d ON d.store_id = r.location
            WHERE r.created_at >= d.lo AND r.created_at < d.hi GROUP BY r.location ORDER BY r.location""").all()
        resourced = dict(driver_sql(conn, """
            SELECT o.from_location, COUNT(*) FROM order_resourcings o
            JOIN report_days d ON d.store_id = o.from_location
            WHERE o.at >= d.lo AND o.at < d.hi GROUP BY o.from_location""").all())
        moves = driver_sql(conn, """
            SELECT m.store_id, m.sku, m.kind, m.qty, m.outcome, m.reason, m.at FROM balance_moves m
            JOIN report_days d ON d.store_id = m.store_id WHERE m.at >= d.lo AND m.at < d.hi
            ORDER BY m.at, m.move_id LIMIT ?""", (MOVES_LISTED,)).all()
    finally:
        q.end_day(conn)
    last = q.last_entries(conn)
    at_risk = dict(driver_sql(conn, "SELECT location, COUNT(*) FROM reservations WHERE at_risk = ? AND status IN "
                                    "('held', 'ordered', 'to_hand_over') GROUP BY location", (True,)).all())
    incidents = q.incidents(conn, [(sid, plo, hi) for sid, plo, _, hi in both])  # both days, one read
    incidents_before = [i for i in incidents if i.at < bounds[i.store_id][0]]
    incidents = [i for i in incidents if i.at >= bounds[i.store_id][0]]
    ids = [s.id for s in stores]
    snaps = snapshots.states(conn, day.isoformat(), ids)
    refused = refused_walk_ins(snaps, snapshots.refused(conn, day.isoformat(), ids), ids)
    refused_before = refused_walk_ins(snapshots.states(conn, before_day, ids),
                                      snapshots.refused(conn, before_day, ids), ids) if need_before else {}
    snap_differences = snapshots.differences(conn, day.isoformat(), ids, SNAPSHOT_DIFFERENCES_LISTED)

    completeness, partial_stores = [], set()
    for s in stores:
        lo, hi = bounds[s.id]
        partial = s.last_seen is None or s.last_seen < hi
        if partial:
            partial_stores.add(s.id)
        seq, at = last.get(s.id, (0, None))
        why = (f"no sync since {s.last_seen or 'ever'}; the day closed at {hi}: entries may be missing" if partial
               else "synced after its day closed")
        completeness.append(Completeness(store_id=s.id, name=s.name, tz=zone(s.tz).key, day_start=lo, day_end=hi,
                                         last_seq=seq, last_entry_at=at, last_sync=s.last_seen, partial=partial,
                                         why=why, **snapshots.completeness(snaps.get(s.id))))
    empty = {k: 0 for k in q.STORE_KEYS}
    per = {s.id: sums.get(s.id, empty) for s in stores}
    roll = [figures.roll_forward(sid, v["opening"], v, v["ledger_closing"], skus=v["skus"], zero_rows=v["zero_rows"],
                                 negative_rows=v["negative_rows"], partial=sid in partial_stores)
            for sid, v in per.items()]
    roll.append(figures.chain_roll_forward(roll))
    n_div = sum(1 for i in incidents if i.kind == "divergence")
    kp = figures.kpis(per.values(), at_risk_orders=sum(at_risk.get(s.id, 0) for s in stores)
                      + (0 if store else sum(v for k, v in at_risk.items() if k not in per)), divergences=n_div)
    kp.refused_walk_ins = chain_refused(refused)
    if not need_before:
        previous = Kpis.model_validate(kept[before_day]["kpis"])
    else:
        # At-risk orders are known as of now only: a past day's count is not kept, so it shows as 0.
        previous = figures.kpis([sums_before.get(s.id, {}) for s in stores], at_risk_orders=0, divergences=sum(
            1 for i in incidents_before if i.kind == "divergence"))
        previous.refused_walk_ins = chain_refused(refused_before)

    sold_out = []
    for (sid, sku), rows in _group(walks).items():
        lo, hi = rows[0][3], rows[0][4]
        at, hours = figures.out_of_stock_crossings(rows[0][2], [(r[5], r[6]) for r in rows], lo, hi)
        if at is not None:
            sold_out.append(SoldOut(store_id=sid, sku=sku, sold_out_at=at, hours_out=hours))

    exceptions = [Exception_(store_id=i.store_id, kind=i.kind, seq=i.seq, message=i.message, at=i.at)
                  for i in incidents]
    exceptions += [Exception_(store_id=r[0], kind="negative_stock", seq=None, at=None,
                              message=f"{r[1]}: closing book {r[2]}") for r in negative]
    exceptions += [Exception_(store_id=c.store_id, kind="sync_stall", seq=c.last_seq, at=c.last_sync,
                              message=c.why) for c in completeness if c.partial]
    exceptions += snapshots.exceptions(snap_differences)
    exceptions += [Exception_(store_id=r.store_id, kind="roll_forward", seq=None, at=None,
                              message=f"closing {r.closing} does not tie to the ledger's {r.ledger_closing}")
                   for r in roll if not r.ties]

    trend = []
    for back in range(13, 0, -1):
        d = (day - timedelta(days=back)).isoformat()
        k = previous.model_dump() if d == before_day else kept.get(d, {}).get("kpis")
        trend.append(TrendPoint(business_date=d, sales_units=k and k["sales_units"],
                                shrink_units=k and k["shrink_units"], over_quota_units=k and k["over_quota_units"]))
    trend.append(TrendPoint(business_date=day.isoformat(), sales_units=kp.sales_units, shrink_units=kp.shrink_units,
                            over_quota_units=kp.over_quota_units))

    notes = [walk_ins_note([sid for sid, v in refused.items() if v is None]),
             "Sequence gaps: the hub refuses a push with a gap, so its copy of each ledger has none; a store whose "
             "entries have not all arrived shows as partial and as a sync stall.",
             "End-of-day snapshots: each store's node takes one at its close (or by `backroom node close-day`); "
             "the hub compares its on hand, quota and held units per SKU with its copy of the store's ledger up to "
             "the snapshot's sequence, and lists each difference (snapshot less ledger) as an exception with the "
             "SKU's last entries up to there.",
             "Re-sourced web orders: those ops moved away from a location in its business day, counted at the "
             "location they left.",
             f"Record accuracy: a counted SKU is accurate when its net count change is within {tolerance} units.",
             "Web figures: reservations made in each location's business day (a warehouse's in the chain's zone)."]
    if not moves:
        notes.append("No balancer moves were recorded in the day.")
    return Report(
        business_date=day.isoformat(), scope=store or "chain", revision=revision, made_at=now,
        partial=bool(partial_stores), completeness=completeness, kpis=kp, previous_kpis=previous,
        tiles=figures.tiles(kp, previous), roll_forward=roll,
        roll_forward_skus=[SkuRollForward(store_id=r[0], sku=r[1], opening=r[2],
                                          **dict(zip(figures.COLUMNS, r[3:-1], strict=True)), closing=r[-1])
                           for r in sku_rows],
        shrink=[Shrink(store_id=sid, sales_revenue=v["revenue"], shrink_units=v["counts"] + v["written_off"],
                       shrink_value=v["shrink_value"], shrink_pct=figures.pct(v["shrink_value"], v["revenue"]))
                for sid, v in per.items()],
        variance_top=[Variance(store_id=r[0], sku=r[1], name=r[2], units=r[3], value=r[4], last_counted=r[5])
                      for r in top],
        variance_totals=[VarianceTotals(store_id=sid, loss_units=v["loss_units"], loss_value=v["loss_value"],
                                        gain_units=v["gain_units"], gain_value=v["gain_value"]) for sid, v in per.items()],
        write_offs=_write_offs(per),
        holds=[Holds(store_id=sid, placed=v["holds_placed"], converted=v["holds_converted"],
                     expired=v["holds_expired"], released=v["holds_released"]) for sid, v in per.items()],
        quota=[Quota(store_id=sid, granted=v["granted"], released=v["released"],
                     used=v["sold_units"] - v["over_quota_sold"], stranded=v["stranded"],
                     over_quota_sales=v["over_quota_sold"], refused_walk_ins=refused[sid] and refused[sid][0],
                     refused_walk_in_times=refused[sid] and refused[sid][1]) for sid, v in per.items()],
        moves=[Move(store_id=m[0], sku=m[1], kind=m[2], qty=m[3], outcome=m[4], reason=m[5], at=m[6]) for m in moves],
        moves_note=(f"{len(moves)} balancer moves in the day" + (" (the first shown)" if len(moves) >= MOVES_LISTED
                                                               else "")) if moves else "No balancer moves in the day.",
        web=_web(web, at_risk, resourced),
        sold_out=sold_out, exceptions=exceptions, trend=trend, notes=notes)


def _web(rows: list[Any], at_risk: dict[str, int], resourced: dict[str, int]) -> list[Web]:
    """A row per location with reservations made or orders re-sourced away in its day."""
    out = {w[0]: Web(location=w[0], reservations=w[1], orders=w[2] or 0, fulfilled=w[3] or 0,
                     at_risk=at_risk.get(w[0], 0), resourced=resourced.get(w[0], 0)) for w in rows}
    for loc, n in resourced.items():
        if loc not in out:
            out[loc] = Web(location=loc, reservations=0, orders=0, fulfilled=0, at_risk=at_risk.get(loc, 0),
                           resourced=n)
    return [out[k] for k in sorted(out)]


def _write_offs(per: dict[str, dict[str, int]]) -> list[WriteOff]:
    out = []
    for sid, v in per.items():
        for reason in ("damaged", "expired", "lost"):
            out.append(WriteOff(store_id=sid, reason=reason, units=v[reason], value=v[f"{reason}_value"]))
        out.append(WriteOff(store_id=sid, reason="count", units=v["loss_units"], value=v["loss_value"]))
    return out


def _group(rows: list[Any]) -> dict[tuple[str, str], list[Any]]:
    out: dict[tuple[str, str], list[Any]] = {}
    for r in rows:
        out.setdefault((r[0], r[1]), []).append(r)
    return out


def seen_of(report: Report) -> str:
    """What a report was made from: each store's last entry held, and with it its snapshot's state if it sent one."""
    seen: dict[str, Any] = {}
    for c in report.completeness:
        m = snapshots.mark(None if c.snapshot_status == "missing" else c.snapshot_status, c.snapshot_differences)
        seen[c.store_id] = c.last_seq if m is None else [c.last_seq, m]
    return json.dumps(seen, sort_keys=True)
