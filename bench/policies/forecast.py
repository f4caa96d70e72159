"""The hub's sales records and its forecast per spot: `hub.rules.demand`'s model, fast enough to run hourly.

`hub.rules.demand.forecast` costs about 1.5 ms a call here (it walks the
online spans hour by hour, 672 hours, then smooths 168 rates), and the bench
needs one per store, SKU and hour: 4,000 spots x 672 hours, for each of 15
runs. So this book keeps the same model with the work shared and cached:

- `seen` (hours observed per hour of the week) is the same for every SKU of a
  store: kept once per store, in ticks, as its span moves;
- a spot's units sold per hour of the week (promos divided out) are kept as
  sales are heard and as they leave the 28-day window;
- a spot's 168 rates (`hourly_profile`: the level, hour-of-day and
  day-of-week shape and the slot's own sales, with the hub's priors) are
  recomputed every `refresh_ticks` (2 days, staggered across spots), and at
  the next plan once the units heard since exceed `jump` (10%) of the window's;
- each plan sums the window ahead from those rates (the hub's pieces: an hour
  or a promo boundary at a time, times the promo factor).

Every simulated day at noon `policies.forecast_check.check` compares, on a few
sampled spots, the value the balancer used with `hub.rules.demand.forecast`
called on the full record (exact), and this module's profile made afresh with
`hourly_profile` (the twin's algebra). The bench prints both deviations.
"""

from __future__ import annotations

import random
from datetime import timedelta
from operator import add, mul, truediv

from hub.rules import demand as hub_demand

WEEK = 168
HP, DP, SP = hub_demand.HOUR_PRIOR_HOURS, hub_demand.DAY_PRIOR_UNITS, hub_demand.SLOT_PRIOR_HOURS


class DemandBook:
    def __init__(self, scn, promos: list, *, window: timedelta, history: timedelta = timedelta(days=28),
                 refresh_ticks: int = 576, jump: float = 0.1, seed: int = 0) -> None:
        self.scn, self.window, self.jump = scn, window, jump
        S, K = scn.n_stores, len(scn.skus)
        self.S, self.K, self.n = S, K, S * K + K  # store spots, then one per web SKU
        self.tph = scn.ticks_per_hour
        if scn.start.minute or 60 % scn.tick_minutes:
            raise ValueError("the forecast book needs a scenario that starts on the hour")
        self.off = scn.start.weekday() * 24 + scn.start.hour
        self.hist_ticks = int(history.total_seconds() // 60) // scn.tick_minutes
        self.promos = promos
        self.ticks: list[list[int]] = [[] for _ in range(self.n)]
        self.qtys: list[list[int]] = [[] for _ in range(self.n)]
        self.base = [0.0] * self.n  # window units at the last refresh
        self.new = [0] * self.n  # units heard since
        self.due: set[int] = set(range(self.n))  # spots whose profile is recomputed at the next plan
        self.schedule: dict[int, list[int]] = {}  # tick -> spots whose daily refresh falls then
        self.next_at = [-1] * self.n  # the tick of each spot's next daily refresh
        self.refresh_ticks = refresh_ticks
        self.refreshes = 0
        self.rng = random.Random(seed)
        self.dev_used: list[tuple[float, float]] = []  # (used, exact)
        self.dev_profile = 0.0  # max |twin - hourly_profile| over the sampled refreshes
        self._active: dict = {}
        self._ticks_of: dict = {}
        canon: dict = {}
        self.acts = [canon.setdefault(a, a) for a in map(self.active, range(self.n))]  # one object per promo set
        self.groups: dict[tuple, list[int]] = {}  # spots by the promos that apply to them
        for i, act in enumerate(self.acts):
            self.groups.setdefault(act, []).append(i)
        self.rows: list[list[float] | None] = [None] * self.n  # rates per hour of the week, and a day more
        self.live: set[int] = set()  # spots whose rates are not all zero
        self.seen_ticks = [[0] * WEEK for _ in range(S + 1)]
        self.seen_span = [(0, 0)] * (S + 1)
        self.sold: list[list[float] | None] = [None] * self.n  # units per hour of the week in the window
        self.units = [0] * self.n  # units in the window
        self.head = [0] * self.n  # the first sale still in the window

    def spot_names(self, i: int) -> tuple[str, str | None]:
        if i >= self.S * self.K:
            return self.scn.skus[i - self.S * self.K], None
        return self.scn.skus[i % self.K], self.scn.stores[i // self.K]

    def active(self, i: int) -> tuple:
        sku, loc = self.spot_names(i)
        key = (sku, loc)
        if key not in self._active:
            self._active[key] = tuple(p for p in self.promos if p.applies(sku, loc))
        return self._active[key]

    def add(self, i: int, t: int, q: int) -> None:
        """A sale the hub has heard; a spot's sales arrive in time order (history first, then pushes)."""
        ticks = self.ticks[i]
        if ticks and t < ticks[-1]:
            raise ValueError(f"spot {i}: a sale at tick {t} heard after one at {ticks[-1]}")
        ticks.append(t)
        self.qtys[i].append(q)
        sold = self.sold[i]
        if sold is None:
            sold = self.sold[i] = [0.0] * WEEK
        cuts = self._cuts(i)
        sold[(t // self.tph + self.off) % WEEK] += q / factor(cuts, t) if cuts else q
        self.units[i] += q
        self.new[i] += q
        if self.new[i] > self.jump * self.base[i]:
            self.due.add(i)

    def _cuts(self, i: int) -> tuple:
        """The promos that apply to spot i, as (first tick, end tick, factor)."""
        act = self.acts[i]
        if act not in self._ticks_of:
            step = timedelta(minutes=self.scn.tick_minutes)
            self._ticks_of[act] = tuple((-((self.scn.start - p.start) // step), -((self.scn.start - p.end) // step),
                                         p.factor) for p in act)
        return self._ticks_of[act]

    def _age(self, i: int, lo: int) -> None:
        """Sales before tick `lo` leave spot i's window."""
        ticks, qtys, sold = self.ticks[i], self.qtys[i], self.sold[i]
        h = self.head[i]
        if h >= len(ticks) or ticks[h] >= lo:
            return
        cuts = self._cuts(i)
        tph, off = self.tph, self.off
        while h < len(ticks) and ticks[h] < lo:
            t, q = ticks[h], qtys[h]
            sold[(t // tph + off) % WEEK] -= q / factor(cuts, t) if cuts else q
            self.units[i] -= q
            h += 1
        self.head[i] = h
        if not self.units[i]:
            self.sold[i] = [0.0] * WEEK

    # -- what the balancer asks, once a plan ----------------------------------------

    def forecasts(self, now: int, heard_until: list[int], since: int) -> list[float]:
        """The forecast of every spot (stores, then web SKUs) over the window from tick `now`."""
        lo = max(since, now - now % self.tph - self.hist_ticks)
        S, K = self.S, self.K
        his = [min(h, now) for h in heard_until] + [now]
        seens = [self._seen(w, lo, hi) for w, hi in enumerate(his)]
        due = self.due
        for t in [t for t in self.schedule if t <= now]:
            due.update(i for i in self.schedule.pop(t) if self.next_at[i] == t)
        stores = [store_sums(x) for x in seens]
        rows, live = self.rows, self.live
        for i in due:
            store = min(i // K, S)
            if self.sold[i] is not None:
                self._age(i, lo)
            if stores[store][3] > 0 and self.units[i]:
                r = smoothed(self.sold[i], seens[store], stores[store])
                rows[i] = r + r[:24]  # a day more: a window that wraps past Sunday is one slice
                live.add(i)
            else:
                rows[i] = None
                live.discard(i)
            self.base[i] = self.units[i]
            self.new[i] = 0
            self.refreshes += 1
            nxt = now + self.refresh_ticks
            if self.next_at[i] < 0:  # the first: spread the refreshes over the refresh period
                nxt -= (i * 7919) % self.refresh_ticks
            nxt -= nxt % self.tph
            self.next_at[i] = nxt
            self.schedule.setdefault(nxt, []).append(i)
        self.due = set()
        out = [0.0] * self.n
        for act, members in self.groups.items():
            slots, weights = self._pieces(now, act)
            first, n = slots[0], len(slots)
            if all(x == first + j for j, x in enumerate(slots)):  # one slice of the extended rates
                for i in members:
                    if i in live:
                        out[i] = sum(map(mul, rows[i][first:first + n], weights))
            else:
                for i in members:
                    if i in live:
                        out[i] = sum(map(mul, map(rows[i].__getitem__, slots), weights))
        return out

    def _seen(self, w: int, lo: int, hi: int) -> list[float]:
        """Hours observed per hour of the week in ticks [lo, hi) by watcher w (a store; the web last)."""
        ticks, (a, b) = self.seen_ticks[w], self.seen_span[w]
        tph, off = self.tph, self.off
        if lo >= b or hi <= a or hi < b:  # disjoint or shrinking: count afresh
            ticks[:] = [0] * WEEK
            a = b = lo
        for t in range(b, hi):
            ticks[(t // tph + off) % WEEK] += 1
        for t in range(a, lo):
            ticks[(t // tph + off) % WEEK] -= 1
        self.seen_span[w] = (lo, hi) if hi > lo else (lo, lo)
        return [x / tph for x in ticks]

    def _pieces(self, now: int, active: tuple) -> tuple[list[int], list[float]]:
        """The hub's forecast window as (hour of the week, weight): a piece per hour and promo boundary."""
        start = self.scn.at(now)
        end = start + self.window
        hour = timedelta(hours=1)
        cuts = {start, end}
        cuts.update(t for p in active for t in (p.start, p.end) if start < t < end)
        t = start.replace(minute=0, second=0, microsecond=0) + hour
        while t < end:
            cuts.add(t)
            t += hour
        points = sorted(cuts)
        first = start.replace(minute=0, second=0, microsecond=0)
        slot0 = first.weekday() * 24 + first.hour
        slots, weights = [], []
        for a, b in zip(points, points[1:]):
            f = 1.0
            for p in active:
                if p.start <= a < p.end:
                    f *= p.factor
            slots.append(slot0 + (a.replace(minute=0, second=0, microsecond=0) - first) // hour)
            weights.append(f * ((b - a) / hour))
        if slots[-1] >= WEEK + 24:  # longer than the day the rates are extended by
            slots = [x % WEEK for x in slots]
        elif slots[0] >= WEEK:
            slots = [x - WEEK for x in slots]
        return slots, weights

def factor(cuts: tuple, t: int) -> float:
    """The promo factor at tick t, from `DemandBook._cuts`."""
    f = 1.0
    for a, b, x in cuts:
        if a <= t < b:
            f *= x
    return f


def smoothed(sold: list[float], seen: list[float], store: tuple | None = None) -> list[float]:
    """hub.rules.demand._smoothed (the same formulas, in fewer Python steps); `store` = `store_sums(seen)`."""
    seen_by_hour, seen_days, seen_sp, seen_total = store or store_sums(seen)
    level = sum(sold) / seen_total
    if level <= 0:
        return [0.0] * WEEK
    by_hour = [(sum(sold[h::24]) + HP * level) / (e + HP) / level for h, e in zip(range(24), seen_by_hour)]
    by_day = [(sum(sold[d * 24:(d + 1) * 24]) + DP) / (level * sum(map(mul, seen_days[d], by_hour)) + DP)
              for d in range(7)]
    level_hour = [level * x for x in by_hour]
    shape = [SP * (lh * bd) for bd in by_day for lh in level_hour]
    return list(map(truediv, map(add, sold, shape), seen_sp))


def store_sums(seen: list[float]) -> tuple:
    """What `smoothed` reads of a store's hours seen, the same for all of its SKUs."""
    return ([sum(seen[h::24]) for h in range(24)], [seen[d * 24:(d + 1) * 24] for d in range(7)],
            [x + SP for x in seen], sum(seen))
