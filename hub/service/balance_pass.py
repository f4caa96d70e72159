"""One balancer pass's reading and planning, on one snapshot; `balance_moves` writes what it decides.

A chain has millions of spots (500 stores x 20,000 SKUs is 7 million) and
most do not change between two passes a few minutes apart. Reading them all
costs more than a pass may take, so a pass plans what changed:

- the spots whose position changed (the changefeed since the last pass);
- the spots whose forecast moved to another whole unit: those with new sales,
  and every spot of the stores whose turn it is (each store's forecasts are all
  made again every `refresh_every`, a share of the stores each pass, as the
  window ahead moves through the day);
- every spot of a SKU or store ops changed (a pin, a switch, a promo).

`plan` decides every move. It plans each SKU on its own, and with no web
demand given it decides a store's grant or release from that store's spot
alone (tests/test_balance_pass.py holds it to that); so a SKU whose spots are
unchanged would get back the moves it got last time, which were made. Only a
transfer needs every location of the SKU: where a changed store would run
short even with all of its own hub share (`plan` proposes a transfer from a
stand-in with unlimited stock), and where a warehouse's stock changed, the
SKU is planned again with all of its spots.

A full pass plans every SKU with every spot: the first one, one a day
(`full_every`, for anything the changed-spot rules miss), and one after ops
changed something for the whole chain.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from math import ceil

from sqlalchemy import Connection

from hub.db import driver_sql
from hub.rules import BalanceSettings, Move, plan
from hub.service.balance_inputs import (
    Facts, Folded, Forecasts, cached_demand, chunks, fold_sales, online_intervals, positions_at, positions_of_skus,
    promos_in,
)
from sync.kinds import parse_stamp, stamp

STAND_IN = "~elsewhere"  # the stand-in source with unlimited stock
_UNLIMITED = 10**12


def whole(demand: float) -> int:
    """The units a forecast asks for, as `plan` counts them."""
    return ceil(demand - 1e-9) if demand > 0 else 0


@dataclass
class Cadence:
    history: timedelta = timedelta(days=28)  # the sales a forecast reads
    every: timedelta = timedelta(minutes=5)  # the scheduled interval between passes
    refresh_every: timedelta = timedelta(hours=1)  # each store's forecasts are all made again this often
    full_every: timedelta = timedelta(days=1)
    # A store the hub has heard from for less than this in the history (the balancer is new, or the
    # store is) has no forecast yet: the balancer leaves it alone rather than read it as selling nothing.
    min_seen: timedelta = timedelta(hours=1)


@dataclass
class Planned:
    """What a pass decided, and what it keeps for the next one."""

    full: bool
    feed_to: int
    moves: list[Move] = field(default_factory=list)
    widened: set[str] = field(default_factory=set)  # SKUs planned with every spot (their proposals are renewed)
    spots: int = 0
    demand: dict[tuple[str, str], float] = field(default_factory=dict)  # forecasts to keep (0: drop)
    watch: dict[tuple[str, str], int | None] = field(default_factory=dict)  # top-up threshold, None: unwatch
    refreshed: list[str] = field(default_factory=list)  # stores all of whose forecasts were made
    folded: Folded = field(default_factory=Folded)
    heard: dict[str, str] = field(default_factory=dict)  # each store's last push, noted as a contact
    dirty: set[str] = field(default_factory=set)  # ops' changes this pass took in


class Pass:
    def __init__(self, conn: Connection, now: datetime, settings: BalanceSettings, cadence: Cadence) -> None:
        self.conn, self.now, self.st, self.cad = conn, now, settings, cadence

    def run(self, full: bool | None = None) -> Planned:
        conn, now, cad = self.conn, self.now, self.cad
        last = driver_sql(conn, "SELECT feed_cursor, started_at FROM balance_runs WHERE status = 'done' "
                                "ORDER BY started_at DESC LIMIT 1").first()
        last_full = driver_sql(conn, "SELECT max(started_at) FROM balance_runs WHERE status = 'done' AND full_pass = ?",
                               (True,)).scalar()
        dirty = {k for (k,) in driver_sql(conn, "SELECT key FROM balance_dirty")}
        if full is None:
            full = (last is None or "*" in dirty or last_full is None
                    or parse_stamp(last_full) <= now - cad.full_every)
        out = Planned(full, driver_sql(conn, "SELECT coalesce(max(position), 0) FROM changefeed").scalar(),
                      dirty=dirty)
        self.facts = Facts.read(conn)
        out.folded = fold_sales(conn, now, cad.history)
        out.heard = dict(driver_sql(conn, "SELECT id, last_seen FROM locations WHERE kind = 'store' "
                                          "AND last_seen IS NOT NULL").all())
        online = online_intervals(conn, now, cad.history, out.heard)
        start = now - cad.history
        self.facts.off_stores |= {s for s, k in self.facts.kinds.items() if k == "store" and sum(
            (b - max(a, start) for a, b in online.get(s, ()) if b > start), timedelta()) < cad.min_seen}
        self.fc = Forecasts(conn, now, window=self.st.window, history=cad.history, online=online,
                            promos=promos_in(conn, now, cad.history, self.st.window), folded=out.folded)
        if full:
            self._full(out)
        else:
            self._changed(out, last[0], last[1])
        return out

    # -- forecasts --------------------------------------------------------------------------

    def _refresh_store(self, out: Planned, store: str) -> dict[tuple[str, str], float]:
        fresh = {(store, k): d for k, d in self.fc.store(store).items()}
        for key, old in cached_demand(self.conn, store=store).items():
            fresh.setdefault(key, 0.0)
        out.refreshed.append(store)
        return fresh

    def _keep(self, out: Planned, fresh: dict, cached: dict) -> set[tuple[str, str]]:
        """Note the forecasts worth writing; return the spots whose whole units changed."""
        changed = set()
        for key, d in fresh.items():
            old = cached.get(key, 0.0)
            if whole(d) != whole(old):
                changed.add(key)
            if whole(d) != whole(old) or abs(d - old) > 0.1 * max(old, 1.0):
                out.demand[key] = d
        return changed

    # -- the two kinds of pass -----------------------------------------------------------------

    def _full(self, out: Planned) -> None:
        conn = self.conn
        stores = [s for s, k in self.facts.kinds.items() if k == "store"]
        fresh: dict[tuple[str, str], float] = {}
        cached: dict[tuple[str, str], float] = {}
        for s in stores:
            cached.update(cached_demand(conn, store=s))
            fresh.update(self._refresh_store(out, s))
        self._keep(out, fresh, cached)
        skus = [k for (k,) in driver_sql(conn, "SELECT sku FROM items ORDER BY sku")]
        for part in chunks(skus, 2000):
            rows = [self.facts.spot(r, fresh.get((r[0], r[1]), 0.0)) for r in positions_of_skus(conn, part)]
            self._plan(out, rows, wide=True)

    def _changed(self, out: Planned, cursor: int, last_started: str) -> None:
        conn, now, facts = self.conn, self.now, self.facts
        spots: set[tuple[str, str]] = set()
        wide: set[str] = set()
        for loc, sku, kind in driver_sql(conn, "SELECT DISTINCT location, sku, kind FROM changefeed "
                                               "WHERE position > ? AND position <= ?", (cursor, out.feed_to)):
            if kind == "catalog" or facts.kinds.get(loc) != "store":
                wide.add(sku)  # the SKU itself, or a warehouse's stock: sources for transfers may have changed
            else:
                spots.add((loc, sku))
        dirty_skus = {k[4:] for k in out.dirty if k.startswith("sku:")}
        dirty_stores = {k[6:] for k in out.dirty if k.startswith("store:")}
        # Forecasts made again: spots with new sales, stores whose turn it is, what ops changed.
        fresh: dict[tuple[str, str], float] = {}
        stores = [s for s, k in facts.kinds.items() if k == "store"]
        elapsed = max((now - parse_stamp(last_started)).total_seconds(), 1.0)
        turn = ceil(len(stores) * min(1.0, elapsed / self.cad.refresh_every.total_seconds()))
        due = sorted(driver_sql(conn, "SELECT refreshed_at, store_id FROM balance_stores WHERE refreshed_at <= ?",
                                (stamp(now - self.cad.refresh_every),)).all())
        known = {s for (s,) in driver_sql(conn, "SELECT store_id FROM balance_stores")}
        whole_stores = ({s for _, s in due[:turn]} | {s for s in stores if s not in known} | dirty_stores) & set(stores)
        for s in whole_stores:
            fresh.update(self._refresh_store(out, s))
        by_store: dict[str, set[str]] = defaultdict(set)
        for s, k in out.folded.touched():
            if s not in whole_stores:
                by_store[s].add(k)
        for s in dirty_skus:
            for store in driver_sql(conn, "SELECT DISTINCT store_id FROM balance_sales WHERE sku = ?", (s,)).scalars():
                if store not in whole_stores:
                    by_store[store].add(s)
        for s, skus in by_store.items():
            fresh.update({(s, k): d for k, d in self.fc.store(s, skus).items()})
            fresh.update({key: 0.0 for key in ((s, k) for k in skus) if key not in fresh})
        cached = self._cached_at(fresh.keys())
        spots |= self._keep(out, fresh, cached)
        spots |= {(r[0], r[1]) for s in dirty_stores for r in driver_sql(
            conn, "SELECT location, sku FROM positions WHERE location = ?", (s,))}
        wide |= dirty_skus
        spots = {sp for sp in spots if sp[1] not in wide}
        demand = {**self._cached_at(spots), **fresh}
        local = [facts.spot(r, demand.get((r[0], r[1]), 0.0)) for r in positions_at(conn, spots)]
        stand_ins = [(STAND_IN, k, "warehouse", 0, 0, 0, 0, _UNLIMITED, 0, 0) for k in {r[1] for r in local}]
        short = {m.sku for m in plan(local + stand_ins, self.st) if m.kind == "transfer"}
        wide |= short
        self._plan(out, [r for r in local if r[1] not in short], wide=False)
        if wide:
            cached_wide = cached_demand(conn, skus=wide)
            rows = [facts.spot(r, fresh.get((r[0], r[1]), cached_wide.get((r[0], r[1]), 0.0)))
                    for r in positions_of_skus(conn, sorted(wide))]
            self._plan(out, rows, wide=True)

    def _cached_at(self, spots) -> dict[tuple[str, str], float]:
        by_store: dict[str, list[str]] = defaultdict(list)
        for s, k in spots:
            by_store[s].append(k)
        out = {}
        for s, skus in by_store.items():
            for part in chunks(skus):
                marks = ", ".join("?" * len(part))
                out.update({(s, k): d for k, d in driver_sql(
                    self.conn, f"SELECT sku, demand FROM balance_demand WHERE store_id = ? AND sku IN ({marks})",
                    (s, *part))})
        return out

    # -- planning ------------------------------------------------------------------------------

    def _plan(self, out: Planned, rows: list[tuple], *, wide: bool) -> None:
        moves = plan(rows, self.st)
        out.moves += moves
        out.spots += len(rows)
        if wide:
            out.widened |= {r[1] for r in rows}
        granted: dict[tuple[str, str], int] = defaultdict(int)
        for m in moves:
            if m.kind == "grant":
                granted[(m.location, m.sku)] += m.qty
        every = self.cad.every / self.st.window
        for (loc, sku, kind, _, quota, _, in_flight, _, _, _, demand, pinned, off, asked, incoming) in rows:
            if kind != "store":
                continue
            target = whole(demand)
            if target <= 0 or pinned is not None or off:
                out.watch[(loc, sku)] = None
                continue
            # A pull plans the spot once quota + in flight is at or under `below` (`plan` has no move
            # for it above); watched only if that can come before the next pass.
            below = target - 1 - incoming + asked
            margin = ceil(demand * 2 * every) + self.st.min_move
            has = quota + in_flight + granted.get((loc, sku), 0)
            out.watch[(loc, sku)] = below if has <= below + margin else None
