"""The nightly report's SQL: a day's ledger summed with GROUP BYs, never walked entry by entry in Python.

Each store's business day is its own span of UTC stamps, so the spans go into a temporary table
(`report_days`) that the ledger joins on; one pass over `store_entries` sums every (store, SKU) of the
day into a second temporary table (`report_pairs`), and every figure after that reads the small one.
The same statements run on SQLite and PostgreSQL (`?` marks, through `driver_sql`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from hub.db import driver_sql
from hub.report.figures import MOVEMENTS, NAMED

_SOLD = "('sale', 'hold_converted')"


def _kinds(kinds: Sequence[str]) -> str:
    return "(" + ", ".join(f"'{k}'" for k in kinds) + ")"


def _day(expr: str, cond: str = "1 = 1") -> str:
    return f"SUM(CASE WHEN e.at >= d.lo AND {cond} THEN {expr} ELSE 0 END)"


_MOVES = ",\n  ".join(f"{_day('e.on_hand_delta', f'e.kind IN {_kinds(kinds)}')} AS {col}"
                      for col, kinds in MOVEMENTS.items())
_PAIRS = f"""
CREATE TEMPORARY TABLE report_pairs AS
SELECT e.store_id AS store_id, e.sku AS sku,
  SUM(CASE WHEN e.at < d.lo THEN e.on_hand_delta ELSE 0 END) AS opening,
  {_MOVES},
  {_day('e.on_hand_delta', f'e.kind NOT IN {_kinds(NAMED)}')} AS other,
  SUM(e.on_hand_delta) AS ledger_closing,
  SUM(e.quota_delta) AS quota_close,
  {_day('CASE WHEN e.on_hand_delta < 0 THEN e.on_hand_delta ELSE 0 END')} AS outflow,
  {_day('e.qty', f'e.kind IN {_SOLD}')} AS sold_units,
  {_day('e.amount', f'e.kind IN {_SOLD}')} AS revenue,
  {_day('e.over_quota', f'e.kind IN {_SOLD}')} AS over_quota_sold,
  {_day('e.qty', "e.kind = 'return'")} AS returned_units,
  {_day('e.amount', "e.kind = 'return'")} AS refunds,
  {_day('1', "e.kind = 'count'")} AS counts_made,
  {_day('e.on_hand_delta', "e.kind = 'damaged'")} AS damaged,
  {_day('e.on_hand_delta', "e.kind = 'expired'")} AS expired,
  {_day('e.on_hand_delta', "e.kind = 'lost'")} AS lost,
  {_day('e.qty', "e.kind = 'hold'")} AS holds_placed,
  {_day('e.qty', "e.kind = 'hold_converted'")} AS holds_converted,
  {_day('e.qty', "e.kind = 'hold_expired'")} AS holds_expired,
  {_day('e.qty', "e.kind = 'hold_released'")} AS holds_released,
  {_day('e.quota_delta', "e.kind = 'quota_granted'")} AS granted,
  {_day('-e.quota_delta', "e.kind = 'quota_released'")} AS released,
  MAX(CASE WHEN e.kind = 'count' THEN e.at END) AS last_counted
FROM store_entries e JOIN report_days d ON d.store_id = e.store_id
WHERE e.at < d.hi
GROUP BY e.store_id, e.sku
"""

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
  SUM(CASE WHEN p.sold_units = 0 AND p.quota_close > 0 THEN p.quota_close ELSE 0 END)
FROM report_pairs p LEFT JOIN items i ON i.sku = p.sku
GROUP BY p.store_id
"""
STORE_KEYS = ("skus", "opening", *_COLS, "ledger_closing", "zero_rows", "negative_rows", "sold_units", "revenue",
              "over_quota_sold", "returned_units", "refunds", "counted_skus", "accurate_skus", "shrink_value",
              "loss_units", "loss_value", "gain_units", "gain_value", "damaged", "damaged_value", "expired",
              "expired_value", "lost", "lost_value", "holds_placed", "holds_converted", "holds_expired",
              "holds_released", "granted", "released", "stranded")


def begin_day(conn: Connection, days: Sequence[tuple[str, str, str]]) -> None:
    """Sum the day of every store in `days` (store, start, end) into report_pairs."""
    pg = conn.dialect.name == "postgresql"
    end = " ON COMMIT DROP" if pg else ""
    for t in ("report_pairs", "report_days"):
        driver_sql(conn, f"DROP TABLE IF EXISTS {t}")
    driver_sql(conn, f"CREATE TEMPORARY TABLE report_days (store_id VARCHAR(32) PRIMARY KEY, lo VARCHAR(40), "
                     f"hi VARCHAR(40)){end}")
    if days:
        driver_sql(conn, "INSERT INTO report_days (store_id, lo, hi) VALUES (?, ?, ?)", list(days))
    sql = _PAIRS.replace("CREATE TEMPORARY TABLE report_pairs AS",
                         "CREATE TEMPORARY TABLE report_pairs ON COMMIT DROP AS") if pg else _PAIRS
    driver_sql(conn, sql)
    if pg:
        driver_sql(conn, "ANALYZE report_pairs")


def end_day(conn: Connection) -> None:
    for t in ("report_pairs", "report_days"):
        driver_sql(conn, f"DROP TABLE IF EXISTS {t}")


def store_sums(conn: Connection, tolerance: int) -> dict[str, dict[str, int]]:
    out = {}
    for r in driver_sql(conn, _STORES, (tolerance, tolerance)).all():
        out[r[0]] = {k: int(v or 0) for k, v in zip(STORE_KEYS, r[1:], strict=True)}
    return out


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


def out_of_stock_entries(conn: Connection) -> list[Any]:
    """The day's entries of every (store, SKU) that may have reached zero in the day (its opening plus every
    outflow of the day is zero or less) and had stock at some point: few, and walked in Python."""
    return driver_sql(conn, """
        SELECT e.store_id, e.sku, p.opening, d.lo, d.hi, e.at, e.on_hand_delta
        FROM report_pairs p
        JOIN report_days d ON d.store_id = p.store_id
        JOIN store_entries e ON e.store_id = p.store_id AND e.sku = p.sku AND e.at >= d.lo AND e.at < d.hi
        WHERE p.opening + p.outflow <= 0 AND p.outflow < 0
        ORDER BY e.store_id, e.sku, e.seq""").all()


def last_entries(conn: Connection) -> dict[str, tuple[int, str | None]]:
    """Each store's last entry the hub holds (by sequence) and when the store wrote it."""
    rows = driver_sql(conn, """
        SELECT l.id, l.next_seq - 1, e.at FROM locations l
        LEFT JOIN store_entries e ON e.store_id = l.id AND e.seq = l.next_seq - 1
        WHERE l.kind = 'store'""").all()
    return {r[0]: (int(r[1]), r[2]) for r in rows}
