"""What a balancer pass reads: walk-in sales by the hour, when stores were heard from, forecasts, spots.

Everything here reads in bulk on one connection (the pass's snapshot) and
writes nothing; `Folded` and `Facts` carry what the pass writes afterwards.

- Sales: a store's entries since the pass before (`balance_stores.seq`), kind
  sale or hold_converted less return, summed per SKU and hour of the store's
  clock into `balance_sales`, which holds only the forecast's history. A pass
  reads only what arrived since the last one.
- Contacts: the intervals in which the hub heard from a store (its pulls, noted
  at most once a minute per process, and its pushes' `last_seen`), joined where
  the gap is under `OFFLINE_AFTER`. The forecast counts only those hours: a
  store silent for hours was offline, not selling nothing.
- Spots: `hub.rules.Spot` rows as plain tuples, for given SKUs (all their
  locations) or given (location, SKU) pairs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from hub.db import driver_sql, one_of
from hub.rules.demand import Promo
from hub.rules.forecasts import StoreForecaster
from hub.service.common import _POSITION_COLS
from sync.kinds import Kind, parse_stamp, stamp

OFFLINE_AFTER = timedelta(hours=1)  # a longer silence between two contacts is an outage
CHUNK = 500  # values in one IN (...)
_KINDS = (Kind.SALE.value, Kind.HOLD_CONVERTED.value, Kind.RETURN.value)


def fetch(conn: Connection, sql: str, params: tuple | list = ()) -> list[tuple]:
    """Rows as plain tuples from the driver's own cursor, in `conn`'s transaction: a bulk read of
    millions of rows skips SQLAlchemy's Row objects, which cost several times the reading itself."""
    if conn.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    cur = conn.connection.dbapi_connection.cursor()
    try:
        cur.execute(sql, params)
        return cur.fetchall()
    finally:
        cur.close()


def chunks(values: Iterable, n: int = CHUNK) -> Iterator[list]:
    batch: list = []
    for v in values:
        batch.append(v)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


def hour_of(at: str) -> str | None:
    """The hour (as a stamp) a store's `at` falls in; None if it does not read as a time."""
    try:
        t = parse_stamp(at)
    except (TypeError, ValueError):
        return None
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    return stamp(t.replace(minute=0, second=0, microsecond=0))


@dataclass
class Folded:
    """Sales that arrived since the last pass: units per (store, SKU, hour), and each store's new position."""

    units: dict[tuple[str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    seq: dict[str, int] = field(default_factory=dict)

    def touched(self) -> set[tuple[str, str]]:
        return {(s, k) for s, k, _ in self.units}


def fold_sales(conn: Connection, now: datetime, history: timedelta) -> Folded:
    out = Folded()
    oldest, latest = stamp(now - history), stamp(now + timedelta(days=1))
    for store, done, next_seq in driver_sql(conn, (
            "SELECT l.id, coalesce(b.seq, 0), l.next_seq FROM locations l "
            "LEFT JOIN balance_stores b ON b.store_id = l.id WHERE l.kind = 'store'")).all():
        if next_seq - 1 <= done:
            continue
        out.seq[store] = next_seq - 1
        for kind, sku, qty, at in fetch(conn, (
                "SELECT kind, sku, qty, at FROM store_entries WHERE store_id = ? AND seq > ? AND seq < ? "
                f"AND kind IN ({', '.join('?' * len(_KINDS))})"), (store, done, next_seq, *_KINDS)):
            hour = hour_of(at)
            if hour is None or not oldest <= hour <= latest or qty <= 0:
                continue
            out.units[(store, sku, hour)] += -qty if kind == Kind.RETURN else qty
    return out


def online_intervals(conn: Connection, now: datetime, history: timedelta,
                     heard: dict[str, str]) -> dict[str, list[tuple[datetime, datetime]]]:
    """Each store's contact intervals over the history, with `heard` (store -> stamp) noted on top."""
    spans: dict[str, list[list[datetime]]] = defaultdict(list)
    for store, since, until in driver_sql(conn, "SELECT store_id, since, until FROM store_contacts WHERE until >= ? "
                                                "ORDER BY store_id, since", (stamp(now - history),)):
        spans[store].append([parse_stamp(since), parse_stamp(until)])
    for store, at in heard.items():
        t = parse_stamp(at)
        own = spans[store]
        if own and t <= own[-1][1]:
            continue
        if own and t - own[-1][1] <= OFFLINE_AFTER:
            own[-1][1] = t
        else:
            own.append([t, t])
    return {s: [(a, b) for a, b in v] for s, v in spans.items()}


def note_contact(conn: Connection, store: str, at: str) -> None:
    """The hub heard from `store` at `at`: extend its last interval, or start one after an outage."""
    last = driver_sql(conn, "SELECT since, until FROM store_contacts WHERE store_id = ? ORDER BY since DESC LIMIT 1",
                      (store,)).first()
    if last is not None and at <= last[1]:
        return
    if last is not None and parse_stamp(at) - parse_stamp(last[1]) <= OFFLINE_AFTER:
        driver_sql(conn, "UPDATE store_contacts SET until = ? WHERE store_id = ? AND since = ?", (at, store, last[0]))
    else:
        driver_sql(conn, "INSERT INTO store_contacts (store_id, since, until) VALUES (?, ?, ?)", (store, at, at))


def note_contacts(conn: Connection, heard: dict[str, str]) -> None:
    """`note_contact` for many stores at once (a pass notes every store's last push): one read of
    their last intervals and the writes in bulk, not two or three statements a store."""
    if not heard:
        return
    last: dict[str, tuple[str, str]] = {}
    for part in chunks(sorted(heard)):
        any_store, params = one_of(conn, part)
        last.update({store: (since, until) for store, since, until in driver_sql(
            conn, "SELECT c.store_id, c.since, c.until FROM store_contacts c JOIN (SELECT store_id, "
                  f"max(since) AS since FROM store_contacts WHERE store_id {any_store} GROUP BY store_id) m "
                  "ON m.store_id = c.store_id AND m.since = c.since", params)})
    extend, start = [], []
    for store, at in heard.items():
        got = last.get(store)
        if got is not None and at <= got[1]:
            continue
        if got is not None and parse_stamp(at) - parse_stamp(got[1]) <= OFFLINE_AFTER:
            extend.append((at, store, got[0]))
        else:
            start.append((store, at, at))
    if extend:
        driver_sql(conn, "UPDATE store_contacts SET until = ? WHERE store_id = ? AND since = ?", extend)
    if start:
        driver_sql(conn, "INSERT INTO store_contacts (store_id, since, until) VALUES (?, ?, ?)", start)


def promos_in(conn: Connection, now: datetime, history: timedelta, window: timedelta) -> list[Promo]:
    return [Promo(sku, store, parse_stamp(a), parse_stamp(b), factor) for sku, store, a, b, factor in driver_sql(
        conn, "SELECT sku, store_id, starts_at, ends_at, factor FROM promos WHERE ends_at > ? AND starts_at < ?",
        (stamp(now - history), stamp(now + window)))]


class Forecasts:
    """Forecasts for whole stores or for some of their SKUs, from `balance_sales` plus the sales just folded."""

    def __init__(self, conn: Connection, now: datetime, *, window: timedelta, history: timedelta,
                 online: dict[str, list], promos: list[Promo], folded: Folded) -> None:
        self.conn, self.now, self.window, self.history = conn, now, window, history
        self.online, self.promos, self.folded = online, promos, folded
        self.oldest = stamp(now - history)
        self._hours: dict[str, datetime] = {}
        self._made: dict[str, StoreForecaster] = {}
        self._new: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
        for (s, k, h), u in folded.units.items():
            self._new[(s, k)].append((h, u))

    def when(self, hour: str) -> datetime:
        t = self._hours.get(hour)
        if t is None:  # the middle of the hour stands for the sales in it
            t = self._hours[hour] = parse_stamp(hour) + timedelta(minutes=30)
        return t

    def _forecaster(self, store: str) -> StoreForecaster:
        # Only the hours the hub heard from the store count, also before the hub began noting them.
        fc = self._made.get(store)
        if fc is None:
            fc = self._made[store] = StoreForecaster(self.online.get(store, []), now=self.now, window=self.window,
                                                     history=self.history, promos=self.promos, location=store)
        return fc

    def store(self, store: str, skus: Iterable[str] | None = None) -> tuple[dict[str, float], int]:
        """Demand per SKU at `store`: every SKU with sales in the history (`skus` None), or those given;
        and how many hours of sales it read."""
        if skus is None:
            wanted = None
            rows = fetch(self.conn, "SELECT sku, hour, units FROM balance_sales WHERE store_id = ? AND hour >= ?",
                         (store, self.oldest))
        else:
            wanted = set(skus)
            rows = []
            for part in chunks(sorted(wanted)):
                any_sku, params = one_of(self.conn, part)
                rows += fetch(self.conn, "SELECT sku, hour, units FROM balance_sales WHERE store_id = ? "
                                         f"AND hour >= ? AND sku {any_sku}", (store, self.oldest, *params))
        rows += [(sku, hour, units) for (s, sku), new in self._new.items()
                 if s == store and (wanted is None or sku in wanted) for hour, units in new]
        return self._forecaster(store).store(rows, self.when), len(rows)


@dataclass
class Facts:
    """The small tables a spot is made from: kinds, pins, switches, open release requests, incoming transfers."""

    kinds: dict[str, str]
    blocked: set[str]
    pins: dict[tuple[str, str], int]
    off_stores: set[str]
    off_skus: set[str]
    asked: dict[tuple[str, str], int]
    incoming: dict[tuple[str, str], int]

    @classmethod
    def read(cls, conn: Connection) -> Facts:
        kinds, blocked = {}, set()
        for loc, kind, is_blocked in driver_sql(conn, "SELECT id, kind, blocked FROM locations"):
            kinds[loc] = kind
            if is_blocked:
                blocked.add(loc)
        off = driver_sql(conn, "SELECT scope, key FROM balance_off").all()
        return cls(kinds, blocked,
                   {(s, k): q for s, k, q in driver_sql(conn, "SELECT store_id, sku, quota FROM balance_pins")},
                   {k for s, k in off if s == "store"}, {k for s, k in off if s == "sku"},
                   {(s, k): q for s, k, q in driver_sql(conn, "SELECT store_id, sku, sum(qty) FROM release_requests "
                                                              "WHERE status = 'open' GROUP BY store_id, sku")},
                   {(s, k): q for s, k, q in driver_sql(conn, "SELECT to_location, sku, sum(qty) FROM transfers "
                                                              "WHERE status = 'in_transit' GROUP BY to_location, sku")})

    def spot(self, row: tuple, demand: float) -> tuple:
        """A position row (location, sku, figures...) as a `Spot` tuple."""
        loc, sku, on_hand, quota, held, in_flight, hub_share, reserved, _shortfall, buffer = row
        key = (loc, sku)
        return (loc, sku, self.kinds.get(loc, "store"), on_hand, quota, held, in_flight, hub_share, reserved, buffer,
                demand, self.pins.get(key), loc in self.off_stores or sku in self.off_skus or loc in self.blocked,
                asked_of(self.asked.get(key, 0), quota), self.incoming.get(key, 0))


def asked_of(asked: int, quota: int) -> int:
    """What open release requests will take: a store releases what it holds unused, maybe less than asked
    (it may have sold since), so never more than its quota."""
    return min(asked, quota) if quota > 0 else 0


def positions_of_skus(conn: Connection, skus: Iterable[str]) -> Iterator[tuple]:
    for part in chunks(skus):
        any_sku, params = one_of(conn, part)
        yield from fetch(conn, f"SELECT {_POSITION_COLS} FROM positions WHERE sku {any_sku}", params)


def positions_at(conn: Connection, spots: Iterable[tuple[str, str]]) -> Iterator[tuple]:
    by_loc: dict[str, list[str]] = defaultdict(list)
    for loc, sku in sorted(spots):  # in order: the moves, and the ids they draw, come out the same every time
        by_loc[loc].append(sku)
    for loc, skus in by_loc.items():
        for part in chunks(skus):
            any_sku, params = one_of(conn, part)
            yield from fetch(conn, f"SELECT {_POSITION_COLS} FROM positions WHERE location = ? AND sku {any_sku}",
                             (loc, *params))


def cached_demand(conn: Connection, *, skus: Iterable[str] = (),
                  store: str | None = None) -> dict[tuple[str, str], float]:
    """The forecasts the last passes kept, for every store of `skus`, or for every SKU at `store`."""
    out = {}
    if store is not None:
        out.update({(store, k): d for k, d in fetch(
            conn, "SELECT sku, demand FROM balance_demand WHERE store_id = ?", (store,))})
    for part in chunks(skus):
        any_sku, params = one_of(conn, part)
        out.update({(s, k): d for s, k, d in fetch(
            conn, f"SELECT store_id, sku, demand FROM balance_demand WHERE sku {any_sku}", params)})
    return out
