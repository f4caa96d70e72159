"""The nightly report's SQL: a day's ledger summed with GROUP BYs, never walked entry by entry in Python.

Each store's business day is its own span of UTC stamps, so the spans go into a temporary table
(`report_days`: the day before's start, the day's start and end) that the ledger joins on; one pass sums every
(store, SKU) into a second temporary table (`report_pairs`), and every figure after that reads the small one.

The pass reads only the entries from the day before's start on (a range of the store_entries_at index), never the
whole history: a store's hub position mirrors the sum of its ledger (on hand and quota; `hub.rules.positions`),
so the opening book is the position less every entry since the day's start, and the closing book the position
less every entry since its end. Its cost follows the days read (and a rerun for an old date reads on from that
date), not the years before. Each entry is read once: an inner query gives it a small-integer kind and phase (the
day before, the day, after the day, and a fourth for the position rows joined in), and the sums pick their rows
with FILTER on those integers (a fence, LIMIT -1 on SQLite and OFFSET 0 on PostgreSQL, keeps the inner query from
being merged into the outer, so neither is worked out per sum). The same statements run on SQLite and PostgreSQL
(`?` marks, through `driver_sql`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from hub.db import driver_sql
from hub.report.figures import MOVEMENTS, NAMED
from sync.kinds import Kind

_CODE = {k.value: n for n, k in enumerate(Kind, start=1)}  # any kind not listed is 0, and lands in "other"
_KIND = "CASE e.kind " + " ".join(f"WHEN '{k}' THEN {n}" for k, n in _CODE.items()) + " ELSE 0 END"
_SOLD = (Kind.SALE, Kind.HOLD_CONVERTED)
DAY_BEFORE, DAY, AFTER, POSITION = 1, 2, 3, 4  # a row's phase: an entry's, or the position's own


def _k(*kinds: str) -> str:
    return f"k IN ({', '.join(str(_CODE[k]) for k in kinds)})"


def _sum(expr: str, cond: str | None = None, phase: int = DAY) -> str:
    where = f"ph = {phase}" + (f" AND {cond}" if cond else "")
    if expr == "1":
        return f"COUNT(*) FILTER (WHERE {where})"
    return f"COALESCE(SUM({expr}) FILTER (WHERE {where}), 0)"


def _position(col: str) -> str:
    # PostgreSQL sums BIGINTs into NUMERIC: back to BIGINT, or every figure worked out from it (a running stock
    # level over the day's entries, say) would be NUMERIC arithmetic too
    return f"CAST({_sum(col, phase=POSITION)} AS BIGINT)"


_DAY = {
    **{col: _sum("dl", _k(*kinds)) for col, kinds in MOVEMENTS.items()},
    "other": _sum("dl", f"NOT {_k(*NAMED)}"),
    # the position (every entry the hub holds) less what came after the day's end
    "ledger_closing": f"{_position('pdl')} - {_sum('dl', phase=AFTER)}",
    "quota_close": f"{_position('pqd')} - {_sum('qd', phase=AFTER)}",
    "outflow": _sum("dl", "dl < 0"),
    "sold_units": _sum("qty", _k(*_SOLD)),
    "revenue": _sum("amt", _k(*_SOLD)),
    "over_quota_sold": _sum("oq", _k(*_SOLD)),
    "returned_units": _sum("qty", _k(Kind.RETURN)),
    "refunds": _sum("amt", _k(Kind.RETURN)),
    "counts_made": _sum("1", _k(Kind.COUNT)),
    **{k: _sum("dl", _k(k)) for k in (Kind.DAMAGED, Kind.EXPIRED, Kind.LOST)},
    "holds_placed": _sum("qty", _k(Kind.HOLD)),
    "holds_converted": _sum("qty", _k(Kind.HOLD_CONVERTED)),
    "holds_expired": _sum("qty", _k(Kind.HOLD_EXPIRED)),
    "holds_released": _sum("qty", _k(Kind.HOLD_RELEASED)),
    "granted": _sum("qd", _k(Kind.QUOTA_GRANTED)),
    "released": _sum("-qd", _k(Kind.QUOTA_RELEASED)),
    # only rows counted on the day are listed with it, so the day's last count is their last before its end
    "last_counted": f"MAX(at) FILTER (WHERE ph = {DAY} AND {_k(Kind.COUNT)})",
    # entries before the day's end read here: a row with none is one whose SKU came to the store only after
    "seen": f"COUNT(*) FILTER (WHERE ph IN ({DAY_BEFORE}, {DAY}))",
}
# The day before: what its KPIs need, when no report of it is kept.
_DAY_BEFORE = {
    "p_sold_units": _sum("qty", _k(*_SOLD), DAY_BEFORE),
    "p_revenue": _sum("amt", _k(*_SOLD), DAY_BEFORE),
    "p_over_quota_sold": _sum("oq", _k(*_SOLD), DAY_BEFORE),
    "p_returned_units": _sum("qty", _k(Kind.RETURN), DAY_BEFORE),
    "p_refunds": _sum("amt", _k(Kind.RETURN), DAY_BEFORE),
    "p_counts_made": _sum("1", _k(Kind.COUNT), DAY_BEFORE),
    "p_counts": _sum("dl", _k(*MOVEMENTS["counts"]), DAY_BEFORE),
    "p_written_off": _sum("dl", _k(*MOVEMENTS["written_off"]), DAY_BEFORE),
}


# The positions' 64-bit figures come in columns of their own (pdl, pqd): in `dl` and `qd` they would make
# PostgreSQL sum every entry's 32-bit delta as a 64-bit one, in a wider (slower) accumulator.
def _pairs_sql(pg: bool, before: bool) -> str:
    opening = f"{_position('pdl')} - COALESCE(SUM(dl) FILTER (WHERE ph IN ({DAY}, {AFTER})), 0)"
    cols = {"opening": opening, **_DAY, **(_DAY_BEFORE if before else {})}
    return f"""
CREATE TEMPORARY TABLE report_pairs{' ON COMMIT DROP' if pg else ''} AS
SELECT store_id, sku,
  {(',' + chr(10) + '  ').join(f'{expr} AS {name}' for name, expr in cols.items())}
FROM (
  SELECT e.store_id AS store_id, e.sku AS sku, e.on_hand_delta AS dl, e.qty AS qty, e.amount AS amt,
    e.over_quota AS oq, e.quota_delta AS qd, 0 AS pdl, 0 AS pqd,
    CASE WHEN e.kind = '{Kind.COUNT}' THEN e.at END AS at, {_KIND} AS k,
    CASE WHEN e.at >= d.hi THEN {AFTER} WHEN e.at >= d.lo THEN {DAY} ELSE {DAY_BEFORE} END AS ph
  FROM report_days d {'JOIN' if pg else 'CROSS JOIN'} store_entries e ON e.store_id = d.store_id AND e.at >= d.plo
  WHERE e.at >= ?
  UNION ALL
  SELECT p.location, p.sku, 0, 0, 0, 0, 0, p.on_hand, p.quota, NULL, -1, {POSITION}
  FROM report_days d JOIN locations l ON l.id = d.store_id AND l.kind = 'store'
  JOIN positions p ON p.location = d.store_id
  {'OFFSET 0' if pg else 'LIMIT -1'}) x
GROUP BY store_id, sku
"""


# A row with no entry read before the day's end and nothing on the book may be a SKU whose first entry at the
# store came after the day: kept only if an entry before the day's start says otherwise (the store_entries_sku
# index finds a SKU's first entry at once), so a rerun for an old date lists the rows that date had.
_UNSEEN = """
DELETE FROM report_pairs WHERE seen = 0 AND opening = 0 AND quota_close = 0 AND NOT EXISTS (
  SELECT 1 FROM store_entries e JOIN report_days d ON d.store_id = e.store_id
  WHERE e.store_id = report_pairs.store_id AND e.sku = report_pairs.sku AND e.at < d.plo)"""


_COLS = (*MOVEMENTS, "other")
_STORES = f"""
SELECT p.store_id, COUNT(*), SUM(p.opening), {', '.join(f'SUM(p.{c})' for c in _COLS)}, SUM(p.ledger_closing),
  SUM(CASE WHEN p.ledger_closing = 0 THEN 1 ELSE 0 END), SUM(CASE WHEN p.ledger_closing < 0 THEN 1 ELSE 0 END),
  SUM(p.sold_units), SUM(p.revenue), SUM(p.over_quota_sold), SUM(p.returned_units), SUM(p.refunds),
  SUM(CASE WHEN p.counts_made > 0 THEN 1 ELSE 0 END),
  SUM(CASE WHEN p.counts_made > 0 AND p.counts <= ? AND p.counts >= -? THEN 1 ELSE 0 END),
  SUM((p.counts + p.written_off) * i.price),
  SUM(CASE WHEN p.counts < 0 THEN p.counts ELSE 0 END), SUM(CASE WHEN p.counts < 0 THEN p.counts * i.price ELSE 0 END),
  SUM(CASE WHEN p.counts > 0 THEN p.counts ELSE 0 END), SUM(CASE WHEN p.counts > 0 THEN p.counts * i.price ELSE 0 END),
  SUM(p.damaged), SUM(p.damaged * i.price), SUM(p.expired), SUM(p.expired * i.price),
  SUM(p.lost), SUM(p.lost * i.price),
  SUM(p.holds_placed), SUM(p.holds_converted), SUM(p.holds_expired), SUM(p.holds_released),
  SUM(p.granted), SUM(p.released),
  SUM(CASE WHEN p.sold_units = 0 AND p.quota_close > 0 THEN p.quota_close ELSE 0 END)"""
_STORES_BEFORE = """,
  SUM(p.p_sold_units), SUM(p.p_revenue), SUM(p.p_over_quota_sold), SUM(p.p_returned_units), SUM(p.p_refunds),
  SUM(CASE WHEN p.p_counts_made > 0 THEN 1 ELSE 0 END),
  SUM(CASE WHEN p.p_counts_made > 0 AND p.p_counts <= ? AND p.p_counts >= -? THEN 1 ELSE 0 END),
  SUM((p.p_counts + p.p_written_off) * i.price), SUM(p.p_counts), SUM(p.p_written_off)"""
_STORES_FROM = "\nFROM report_pairs p LEFT JOIN items i ON i.sku = p.sku\nGROUP BY p.store_id"
STORE_KEYS = ("skus", "opening", *_COLS, "ledger_closing", "zero_rows", "negative_rows", "sold_units", "revenue",
              "over_quota_sold", "returned_units", "refunds", "counted_skus", "accurate_skus", "shrink_value",
              "loss_units", "loss_value", "gain_units", "gain_value", "damaged", "damaged_value", "expired",
              "expired_value", "lost", "lost_value", "holds_placed", "holds_converted", "holds_expired",
              "holds_released", "granted", "released", "stranded")
BEFORE_KEYS = ("sold_units", "revenue", "over_quota_sold", "returned_units", "refunds", "counted_skus",
               "accurate_skus", "shrink_value", "counts", "written_off")


def begin_day(conn: Connection, days: Sequence[tuple[str, str, str, str]], *, before: bool = False) -> None:
    """Sum the day of every location in `days` (id, the day before's start, the day's start, its end) into
    report_pairs, and with `before` the day before's KPI figures too (columns p_*)."""
    pg = conn.dialect.name == "postgresql"
    end = " ON COMMIT DROP" if pg else ""
    end_day(conn)
    if pg:  # the sums of every (store, SKU) hashed in memory, not sorted on disk (this transaction only)
        driver_sql(conn, "SET LOCAL work_mem = '128MB'")
    driver_sql(conn, f"CREATE TEMPORARY TABLE report_days (store_id VARCHAR(32) PRIMARY KEY, plo VARCHAR(40), "
                     f"lo VARCHAR(40), hi VARCHAR(40)){end}")
    if days:
        driver_sql(conn, "INSERT INTO report_days (store_id, plo, lo, hi) VALUES (?, ?, ?, ?)", list(days))
    if pg:  # its size, for the join's plan (a temporary table has no statistics until analysed)
        driver_sql(conn, "ANALYZE report_days")
    # The earliest start as a value the planner sees: from the column's statistics PostgreSQL then knows how few
    # entries a recent day is, and reads them by store_entries_at instead of scanning the whole table
    driver_sql(conn, _pairs_sql(pg, before), (min((d[1] for d in days), default=""),))
    driver_sql(conn, _UNSEEN)
    if pg:  # what the later queries filter and join on; every column would take longer than the queries
        driver_sql(conn, "ANALYZE report_pairs (store_id, sku, opening, outflow, counts_made, ledger_closing)")


def end_day(conn: Connection) -> None:
    for t in ("report_oos", "report_pairs", "report_days"):
        driver_sql(conn, f"DROP TABLE IF EXISTS {t}")


def store_sums(conn: Connection, tolerance: int, *, before: bool = False
               ) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """Each location's sums of the day (keys STORE_KEYS), and of the day before (BEFORE_KEYS) when begin_day
    summed it (else empty)."""
    sql = _STORES + (_STORES_BEFORE if before else "") + _STORES_FROM
    day, day_before = {}, {}
    for r in driver_sql(conn, sql, (tolerance,) * (4 if before else 2)).all():
        day[r[0]] = {k: int(v or 0) for k, v in zip(STORE_KEYS, r[1:len(STORE_KEYS) + 1], strict=True)}
        if before:
            day_before[r[0]] = {k: int(v or 0) for k, v in zip(BEFORE_KEYS, r[len(STORE_KEYS) + 1:], strict=True)}
    return day, day_before


def sku_rows(conn: Connection, store_id: str) -> list[tuple]:
    """Every SKU's roll-forward at one store, zero and negative rows included, by SKU."""
    return driver_sql(conn, f"SELECT store_id, sku, opening, {', '.join(_COLS)}, ledger_closing FROM report_pairs "
                            "WHERE store_id = ? ORDER BY sku", (store_id,)).all()


def top_variance(conn: Connection, limit: int = 20) -> list[Any]:
    return driver_sql(conn, "SELECT p.store_id, p.sku, COALESCE(i.name, p.sku), p.counts, p.counts * COALESCE(i.price, 0), "
                            "p.last_counted FROM report_pairs p LEFT JOIN items i ON i.sku = p.sku "
                            "WHERE p.counts_made > 0 ORDER BY ABS(p.counts * COALESCE(i.price, 0)) DESC, ABS(p.counts) "
                            "DESC, p.store_id, p.sku LIMIT ?", (limit,)).all()


def negative_rows(conn: Connection, limit: int) -> list[Any]:
    return driver_sql(conn, "SELECT store_id, sku, ledger_closing FROM report_pairs WHERE ledger_closing < 0 "
                            "ORDER BY store_id, sku LIMIT ?", (limit,)).all()


def out_of_stock_crossings(conn: Connection) -> list[Any]:
    """For every (store, SKU) that may have reached zero in the day (its opening plus every outflow of the day
    is zero or less, and it had an outflow), the day's entries at which its stock crossed zero, either way,
    in ledger order: (store, SKU, opening, day start, day end, at, level after). The candidates are numbered
    in (store, SKU) order into report_oos; the running level is summed in SQL over each one's entries of the
    day (SQLite finds them by the store_entries_sku index) by that number, and only the crossings come back."""
    pg = conn.dialect.name == "postgresql"
    driver_sql(conn, f"""
        CREATE TEMPORARY TABLE report_oos{' ON COMMIT DROP' if pg else ''} AS
        SELECT ROW_NUMBER() OVER (ORDER BY c.store_id, c.sku) AS n, c.store_id AS store_id, c.sku AS sku,
          c.opening AS opening, d.lo AS lo, d.hi AS hi
        FROM report_pairs c JOIN report_days d ON d.store_id = c.store_id
        WHERE c.opening + c.outflow <= 0 AND c.outflow < 0""")
    if pg:
        driver_sql(conn, "ANALYZE report_oos")
    # SQLite: from the few candidates into a SKU's entries in order (not into a store's whole day by time)
    join = "JOIN" if pg else "CROSS JOIN"
    return driver_sql(conn, f"""
        SELECT o.store_id, o.sku, o.opening, o.lo, o.hi, w.at, w.level FROM (
          SELECT c.n AS n, e.seq AS seq, e.at AS at, e.on_hand_delta AS dl,
            c.opening + SUM(e.on_hand_delta) OVER (PARTITION BY c.n ORDER BY e.seq
                                                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS level
          FROM report_oos c
          {join} store_entries e {'' if pg else 'INDEXED BY store_entries_sku'} ON e.store_id = c.store_id AND e.sku = c.sku AND e.at >= c.lo AND e.at < c.hi) w
        JOIN report_oos o ON o.n = w.n
        WHERE (w.level <= 0 AND w.level - w.dl > 0) OR (w.level > 0 AND w.level - w.dl <= 0)
        ORDER BY w.n, w.seq""").all()


def incidents(conn: Connection, days: Sequence[tuple[str, str, str]]) -> list[Any]:
    """Every incident at a location of `days` (id, start, end) in its span, with one read: by location in
    the order of `days`, then by id."""
    if not days:
        return []
    order = {d[0]: n for n, d in enumerate(days)}
    lo, hi = min(d[1] for d in days), max(d[2] for d in days)
    spans = {d[0]: d[1:] for d in days}
    rows = driver_sql(conn, "SELECT store_id, kind, seq, message, at, id FROM incidents WHERE at >= ? AND at < ? "
                            "ORDER BY id", (lo, hi)).all()
    rows = [r for r in rows if r[0] in spans and spans[r[0]][0] <= r[4] < spans[r[0]][1]]
    return sorted(rows, key=lambda r: order[r[0]])  # stable: by id within a location


def last_entries(conn: Connection) -> dict[str, tuple[int, str | None]]:
    """Each store's last entry the hub holds (by sequence) and when the store wrote it."""
    rows = driver_sql(conn, """
        SELECT l.id, l.next_seq - 1, e.at FROM locations l
        LEFT JOIN store_entries e ON e.store_id = l.id AND e.seq = l.next_seq - 1
        WHERE l.kind = 'store'""").all()
    return {r[0]: (int(r[1]), r[2]) for r in rows}
