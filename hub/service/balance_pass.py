"""One balancer pass's reading and planning, on one snapshot; `balance_moves` writes what it decides.

A chain has millions of spots (500 stores x 20,000 SKUs is 7 million) and
most do not change between two passes a few minutes apart. Reading them all
costs more than a pass may take, so a pass plans what changed:

- the spots whose position changed (the changefeed since the last pass);
- the spots whose forecast crossed a half unit (`plan` reads it rounded):
  those with new sales, and every spot of the stores whose turn it is (each
  store's forecasts are all made again every `refresh_every`, a share of the
  stores each pass, as the window ahead moves through the day; a small
  chain's all at once, up to `refresh_rows` hours of sales read a pass);
- every spot of a SKU or store ops changed (a pin, a switch, a promo).

A store with no forecast yet (the balancer is new, or the store is) is left
alone until its turn comes, as is one the hub has heard from for less than
`min_seen`: no forecast is not a forecast of nothing. What the hub holds
back from a plan's moves (a store it knows under a week is not asked for
quota back; transfers ops decided lately) is in `balance_restraints.py`.

`plan` decides every move. It plans each SKU on its own, and with no web
demand given it decides a store's grant or release from that store's spot
alone (tests/test_balance_pass.py holds it to that); so a SKU whose spots are
unchanged would get back the moves it got last time, which were made. The
plan of the changed spots alone is therefore given no web demand: the web's
(balance_web.py) goes only to plans that see every location of a SKU (the
full pass, the slices, and the SKUs planned wide), where it stays central and
shares a scarce SKU with the stores by rate. The SKUs that need every
location: where a changed store would run short even with all of its own hub
share (`plan` proposes a transfer from a stand-in with unlimited stock), where
a warehouse's stock changed, and where a changed store would be granted units
of a SKU the web sells (its share may be the web's).
A plan with no web demand cannot tell a SKU is tight (scarce, or the web short)
either, so it keeps what the last wide plan found (`balance_tight`): a store's
pull tops up only the spots a plan watches, and must not fill a tight SKU's
quota past the share the wide plan left it.

Each pass also plans a slice of the catalog with every spot, the slices
taking turns so that every SKU is planned whole once every `full_every` (a
day): whatever the changed-spot rules miss is caught within a day, without a
pass that reads every position. A full pass plans every SKU with every spot,
with the forecasts kept: the first one, and one after ops changed something
for the whole chain or asked for it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from math import ceil

from sqlalchemy import Connection

from hub.db import driver_sql
from hub.rules import BalanceSettings, Move, plan
from hub.rules.balance_terms import pull_below
from hub.rules.forecasts import WEB
from hub.service.balance_inputs import (
    Facts, Folded, Forecasts, cached_demand, chunks, fetch, fold_sales, online_intervals, positions_at,
    positions_of_skus, promos_in,
)
from hub.service.balance_restraints import Restraints
from hub.service.balance_web import fold_web, kept_web_demand, web_demand
from sync.kinds import parse_stamp, stamp

STAND_IN = "~elsewhere"  # the stand-in source with unlimited stock
_UNLIMITED = 10**12


def halves(demand: float) -> int:
    """The forecast in half units: `plan` reads a forecast only through a rounding of it, so a move can
    change only where this does."""
    return int(2 * demand + 1e-9) if demand > 0 else -1


@dataclass
class Cadence:
    history: timedelta = timedelta(days=28)  # the sales a forecast reads
    every: timedelta = timedelta(minutes=5)  # the scheduled interval between passes
    refresh_every: timedelta = timedelta(hours=1)  # each store's forecasts are all made again this often
    refresh_rows: int = 200_000  # beyond the stores whose turn it is, more while fewer sales rows were read
    full_every: timedelta = timedelta(days=1)  # every SKU planned whole once in this, a slice a pass
    min_seen: timedelta = timedelta(hours=1)  # a store heard from for less in the history is left alone
    min_history: timedelta = timedelta(days=7)  # a store heard from for less is granted quota, never asked for it


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
    watch_all: bool = False  # `watch` covers every spot: drop the rest
    tight: dict[str, bool] = field(default_factory=dict)  # each SKU planned wide: found tight or not
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
        dirty = {k for (k,) in driver_sql(conn, "SELECT key FROM balance_dirty")}
        if full is None:
            full = last is None or "*" in dirty
        out = Planned(full, driver_sql(conn, "SELECT coalesce(max(position), 0) FROM changefeed").scalar(),
                      dirty=dirty)
        self.facts = facts = Facts.read(conn)
        self.stores = sorted(s for s, k in facts.kinds.items() if k == "store")
        out.folded = fold_sales(conn, now, cad.history)
        web_known, web_new = fold_web(conn, now, cad.history, out.folded)
        out.heard = dict(driver_sql(conn, "SELECT id, last_seen FROM locations WHERE kind = 'store' "
                                          "AND last_seen IS NOT NULL").all())
        online = online_intervals(conn, now, cad.history, out.heard)
        start = now - cad.history
        seen = {s: sum((b - max(a, start) for a, b in online.get(s, ()) if b > start), timedelta())
                for s in self.stores}
        facts.off_stores |= {s for s in self.stores if seen[s] < cad.min_seen}
        self.restraints = Restraints.read(conn, now, seen, cad.min_history)
        promos = promos_in(conn, now, cad.history, self.st.window)
        self.fc = Forecasts(conn, now, window=self.st.window, history=cad.history, online=online, promos=promos,
                            folded=out.folded)
        self.web: dict[str, float] | None = None  # the web's demand made this pass; None: read what was kept
        if web_new:
            self._web(out, web_demand(conn, now, window=self.st.window, history=cad.history, known_until=web_known,
                                      promos=promos, folded=out.folded, when=self.fc.when))
        elapsed = (now - parse_stamp(last[1])) if last else cad.every
        changed = self._forecasts(out, elapsed)
        self.kept_tight = set() if full else {k for (k,) in driver_sql(conn, "SELECT sku FROM balance_tight")}
        if full:
            self._full(out)
        else:
            self._changed(out, changed, last[0])
        return out

    # -- forecasts --------------------------------------------------------------------------

    def _forecasts(self, out: Planned, elapsed: timedelta) -> set[tuple[str, str]]:
        """Make the forecasts due this pass (`self.fresh`); the spots whose forecast crossed a half unit."""
        conn, now, cad = self.conn, self.now, self.cad
        made = dict(driver_sql(conn, "SELECT store_id, refreshed_at FROM balance_stores").all())
        dirty_stores = {k[6:] for k in out.dirty if k.startswith("store:")} & set(self.stores)
        stale = stamp(now - cad.refresh_every)
        due = sorted((made.get(s) or "", s) for s in self.stores if (made.get(s) or "") <= stale)
        turn = ceil(len(self.stores) * min(1.0, elapsed / cad.refresh_every))
        fresh: dict[tuple[str, str], float] = {}
        read = 0
        for i, (_, s) in enumerate(due):
            if i >= turn and read >= cad.refresh_rows:
                break
            read += self._whole_store(out, s, fresh)
        for s in dirty_stores - set(out.refreshed):
            self._whole_store(out, s, fresh)
        # A store with no forecast yet is left alone: not knowing is not selling nothing.
        self.facts.off_stores |= {s for s in self.stores if not made.get(s) and s not in out.refreshed}
        by_store: dict[str, set[str]] = defaultdict(set)
        for s, k in out.folded.touched():
            by_store[s].add(k)
        for k in (k[4:] for k in out.dirty if k.startswith("sku:")):
            for s in driver_sql(conn, "SELECT DISTINCT store_id FROM balance_sales WHERE sku = ?", (k,)).scalars():
                by_store[s].add(k)
        by_store.pop(WEB, None)  # the web's forecast is made whole when its sales move (`_web`)
        for s, skus in by_store.items():
            if s in out.refreshed:
                continue
            got = self.fc.store(s, skus)[0]
            fresh.update({(s, k): got.get(k, 0.0) for k in skus})
        self.fresh = fresh
        cached = self._cached_at(fresh.keys())
        changed = set()
        for key, d in fresh.items():
            old = cached.get(key, 0.0)
            moved = halves(d) != halves(old)
            if moved:
                changed.add(key)
            if moved or abs(d - old) > 0.1 * max(old, 1.0):
                out.demand[key] = d
        return changed

    def _web(self, out: Planned, made: dict[str, float]) -> None:
        """The web's forecasts made this pass: used by its plans, and kept where they moved as a store's are."""
        self.web = made
        kept = kept_web_demand(self.conn)
        for k in made.keys() | kept.keys():
            d, old = made.get(k, 0.0), kept.get(k, 0.0)
            if halves(d) != halves(old) or abs(d - old) > 0.1 * max(old, 1.0):
                out.demand[(WEB, k)] = d

    def _web_of(self, skus, cached: dict[tuple[str, str], float]) -> dict[str, float]:
        """The web's demand for `skus`: made this pass, or as kept (in `cached`, the SKUs' kept forecasts)."""
        if self.web is not None:
            return {k: self.web[k] for k in skus if self.web.get(k, 0.0) > 0}
        return {k: d for (s, k), d in cached.items() if s == WEB and d > 0}

    def _whole_store(self, out: Planned, store: str, fresh: dict) -> int:
        got, read = self.fc.store(store)
        fresh.update({(store, k): d for k, d in got.items()})
        for (s, k) in cached_demand(self.conn, store=store):
            fresh.setdefault((s, k), 0.0)
        out.refreshed.append(store)
        return read

    def _slice(self) -> set[str]:
        """This pass's turn of the catalog: the slices of `full_every / every` take turns by the clock."""
        n = max(1, ceil(self.cad.full_every / self.cad.every))
        skus = [k for (k,) in fetch(self.conn, "SELECT sku FROM items ORDER BY sku")]
        size = ceil(len(skus) / n)
        turn = int(self.now.timestamp() // self.cad.every.total_seconds()) % n
        return set(skus[turn * size:(turn + 1) * size])

    def _cached_at(self, spots) -> dict[tuple[str, str], float]:
        by_store: dict[str, list[str]] = defaultdict(list)
        for s, k in spots:
            by_store[s].append(k)
        out = {}
        for s, skus in by_store.items():
            for part in chunks(skus):
                marks = ", ".join("?" * len(part))
                out.update({(s, k): d for k, d in fetch(
                    self.conn, f"SELECT sku, demand FROM balance_demand WHERE store_id = ? AND sku IN ({marks})",
                    (s, *part))})
        return out

    # -- the two kinds of pass -----------------------------------------------------------------

    def _full(self, out: Planned) -> None:
        conn, fresh = self.conn, self.fresh
        out.watch_all = True
        skus = [k for (k,) in driver_sql(conn, "SELECT sku FROM items ORDER BY sku")]
        for part in chunks(skus, 2000):
            cached = cached_demand(conn, skus=part)
            rows = [self.facts.spot(r, fresh.get((r[0], r[1]), cached.get((r[0], r[1]), 0.0)))
                    for r in positions_of_skus(conn, part)]
            self._plan(out, rows, wide=True, web=self._web_of(part, cached))

    def _changed(self, out: Planned, changed: set[tuple[str, str]], cursor: int) -> None:
        conn, facts = self.conn, self.facts
        spots = set(changed)
        wide = {k[4:] for k in out.dirty if k.startswith("sku:")}
        for loc, sku, kind in fetch(conn, "SELECT DISTINCT location, sku, kind FROM changefeed "
                                          "WHERE position > ? AND position <= ?", (cursor, out.feed_to)):
            if kind == "catalog" or facts.kinds.get(loc) != "store":
                wide.add(sku)  # the SKU itself, or a warehouse's stock: sources for transfers may have changed
            else:
                spots.add((loc, sku))
        for s in (k[6:] for k in out.dirty if k.startswith("store:")):
            spots |= {(r[0], r[1]) for r in driver_sql(conn, "SELECT location, sku FROM positions WHERE location = ?",
                                                       (s,))}
        wide |= self._slice()
        spots = {sp for sp in spots if sp[1] not in wide}
        demand = {**self._cached_at(spots), **self.fresh}
        local = [facts.spot(r, demand.get((r[0], r[1]), 0.0)) for r in positions_at(conn, spots)]
        stand_ins = [(STAND_IN, k, "warehouse", 0, 0, 0, 0, _UNLIMITED, 0, 0, 0.0, None, False, 0, 0)
                     for k in sorted({r[1] for r in local})]
        found = plan(local + stand_ins, self.st)
        short = {m.sku for m in found if m.kind == "transfer"}
        # A grant made from the store's spot alone would take the web's share too where the SKU is scarce,
        # which only all of the SKU's spots tell: where the web sells, a SKU with a grant is planned wide.
        granting = {m.sku for m in found if m.kind == "grant"} - short
        wide |= short | self._web_of(granting, self._cached_at({(WEB, k) for k in granting})).keys()
        self._plan(out, [r for r in local if r[1] not in wide], wide=False)
        if wide:
            cached = cached_demand(conn, skus=wide)
            rows = [facts.spot(r, self.fresh.get((r[0], r[1]), cached.get((r[0], r[1]), 0.0)))
                    for r in positions_of_skus(conn, sorted(wide))]
            self._plan(out, rows, wide=True, web=self._web_of(wide, cached))

    # -- planning ------------------------------------------------------------------------------

    def _plan(self, out: Planned, rows: list[tuple], *, wide: bool, web: dict[str, float] | None = None) -> None:
        tight: set[str] = set()
        moves = [m for m in plan(rows, self.st, web_demand=web, tight=tight) if self.restraints.allow(m)]
        out.moves += moves
        out.spots += len(rows)
        if wide:
            out.widened |= {r[1] for r in rows}
            out.tight.update((r[1], r[1] in tight) for r in rows)
        else:  # no web demand here: what the last wide plan found tight still is, until the next one says
            tight |= self.kept_tight
        granted: dict[tuple[str, str], int] = defaultdict(int)
        for m in moves:
            if m.kind == "grant":
                granted[(m.location, m.sku)] += m.qty
        every = self.cad.every / self.st.window
        for row in rows:
            loc, sku, kind = row[0], row[1], row[2]
            if kind != "store":
                continue
            below = pull_below(row, granted.get((loc, sku), 0), self.st, every, sku in tight)
            if below is not None:
                out.watch[(loc, sku)] = below
            elif not out.watch_all:
                out.watch[(loc, sku)] = None
