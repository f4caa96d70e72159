"""Backroom's balancer as a policy: the hub runs `hub.rules.balance.plan` on the hour over what it has heard.

Stock is a `QuotaBook` (policies/quota.py): a store's opening stock and every
delivery join its quota (DESIGN.md), the warehouse's stock is the hub's share.
Every `plan_every` ticks (an hour) the hub builds one spot per SKU and location
from its own records only: a store's quota as of its last push, its hub share,
in flight, reserved (web orders and ordered transfers not yet shipped), release
requests unanswered, transfers ordered to it not yet arrived; `demand` is the
forecast of the walk-ins the hub has heard at that spot (14 days of history
first), over `BalanceSettings.window`, with the promo calendar; `web_demand`
the same from the web shop's sales (policies/forecast.py: the model of
`hub.rules.demand`, checked against it). Every SKU is planned every time.

It applies every move `plan` returns: a grant leaves the hub share for flight
and the store applies it at its next pull; a release is a request the store
answers at its next pull with what it has; a transfer is taken from the
source's hub share, shipped by the source at its next pull (the warehouse at
once) and joins the receiving store's quota when it arrives. A move the stock
cannot honour is clamped and counted (`bad_moves`).

At a store's pull the hub tops up, as it does (hub/service/balance.py): each
plan leaves a threshold on the store spots that may run low before the next
(`hub.rules.balance_terms.pull_below`); a pull that finds a spot's quota + in
flight at or under it, with `min_move` in that spot's hub share, plans that
store's low spots alone (their own hub share, no web demand) and applies the
grants before the pull reads them.

The hub has a store's sales up to that store's last push: its online span for
the forecast ends there, so an outage the store has not come back from is not
read as hours without sales.
"""

from __future__ import annotations

import time
from datetime import timedelta
from itertools import repeat
from operator import add

from policies.forecast import DemandBook
from policies.forecast_check import check
from policies.quota import QuotaBook


class Balancer(QuotaBook):
    name = "balancer"
    opening_quota = 1.0

    def __init__(self, scn, online, *, plan, settings, promo, pull_below=None, plan_every: int = 12,
                 checking: bool = True) -> None:
        super().__init__(scn, online)
        self.plan, self.settings, self.plan_every, self.checking = plan, settings, plan_every, checking
        self.pull_below = pull_below  # None: no top-ups at pull
        self.watch: list[dict[int, int]] = [{} for _ in range(self.S)]  # store -> spot -> top-up threshold
        self.rows: list[tuple] = []  # the last plan's spots, by spot index
        self.pull_plans = 0
        promos = [promo(sku=None if k is None else scn.skus[k], location=None if l is None else scn.location_name(l),
                        start=scn.at(a), end=scn.at(b), factor=f) for k, l, a, b, f in scn.promos]
        self.book = DemandBook(scn, promos, window=settings.window, seed=len(scn.demand))
        first = min([t for t, *_ in scn.history] + [0])
        self.since = first - first % scn.ticks_per_day  # the hub's records start here
        self.heard_until = [0] * self.S  # the hub has every sale of store s before this tick
        SK = self.S * self.K
        for t, loc, k, q in scn.history:
            if loc < self.S:
                self.book.add(SK + k if loc < 0 else loc * self.K + k, t, q)
        self.fc = [0.0] * self.book.n
        self.names = [scn.location_name(i) for i in range(self.S + 1)]
        self.loc_of = [self.names[i // self.K] for i in range(self.S * self.K)]
        self.sku_of = [scn.skus[i % self.K] for i in range(self.S * self.K)]
        self._lx = {name: i for i, name in enumerate(self.names)}
        self._kx = {sku: k for k, sku in enumerate(scn.skus)}
        self.plans = 0
        self.plan_seconds = self.forecast_seconds = 0.0

    # -- what the hub hears --------------------------------------------------------

    def heard(self, s: int, sales: list[tuple[int, int, int]]) -> None:
        add = self.book.add
        for i, t, q in sales:
            add(i, t, q)

    def sync(self, s: int, t: int) -> None:
        super().sync(s, t)
        self.heard_until[s] = t  # the push carried every sale before this tick (this tick's come after it)

    def web_sold(self, k: int, t: int) -> None:
        self.book.add(self.S * self.K + k, t, 1)

    # -- the hub's plan, every plan_every ticks ---------------------------------------------------------

    def hub_work(self, t: int) -> None:
        if t % self.plan_every:
            return
        t0 = time.process_time()  # CPU: the machine is shared
        self.fc = fc = self.book.forecasts(t, self.heard_until, self.since)
        if self.checking and t % self.scn.ticks_per_day == 12 * self.scn.ticks_per_hour:  # noon
            check(self.book, t, self.heard_until, self.since, fc)
        t1 = time.process_time()
        SK = n = self.S * self.K
        r = list(map(add, self.resv[:SK], self.tout[:SK]))
        q, h, f = self.known[:SK], self.hub[:SK], self.flight[:SK]
        on_hand = map(add, map(add, q, h), map(add, f, r))
        rows = list(zip(self.loc_of, self.sku_of, repeat("store", n), on_hand, q, repeat(0, n), f, h, r,
                        repeat(0, n), fc, repeat(None, n), repeat(False, n), self.asked, self.incoming))
        W = slice(SK, SK + self.K)
        rows += zip(repeat(self.names[self.W]), self.scn.skus, repeat("warehouse"), self.phys[W], repeat(0),
                    repeat(0), repeat(0), self.hub[W], repeat(0), repeat(0), repeat(0.0), repeat(None),
                    repeat(False), repeat(0), self.incoming[W])
        web = dict(zip(self.scn.skus, fc[SK:]))
        tight: set[str] = set()
        moves = self.plan(rows, self.settings, web_demand=web, tight=tight)
        self.plans += 1
        for m in moves:
            self._apply(m, t)
        if self.pull_below is not None:
            self._watch(rows[:SK], moves, tight)
        self.forecast_seconds += t1 - t0
        self.plan_seconds += time.process_time() - t1

    def _watch(self, rows: list[tuple], moves, tight: set[str]) -> None:
        granted: dict[int, int] = {}
        for m in moves:
            if m.kind == "grant":
                i = self._lx[m.location] * self.K + self._kx[m.sku]
                granted[i] = granted.get(i, 0) + m.qty
        every = self.plan_every * timedelta(minutes=self.scn.tick_minutes) / self.settings.window
        below, K = self.pull_below, self.K
        self.watch = [{} for _ in range(self.S)]
        for i, row in enumerate(rows):
            b = below(row, granted.get(i, 0), self.settings, every, row[1] in tight)
            if b is not None:
                self.watch[i // K][i] = b
        self.rows = rows

    def before_pull(self, s: int, t: int) -> None:
        watch = self.watch[s]
        if not watch:
            return
        known, flight, hub, least = self.known, self.flight, self.hub, self.settings.min_move
        low = [i for i, b in watch.items() if known[i] + flight[i] <= b and hub[i] >= least]
        if not low:
            return
        self.pull_plans += 1
        rows = []
        for i in low:
            r = self.rows[i]
            q, h, f = known[i], hub[i], flight[i]
            rows.append((r[0], r[1], "store", q + h + f + self.resv[i] + self.tout[i], q, 0, f, h,
                         self.resv[i] + self.tout[i], 0, r[10], None, False, self.asked[i], self.incoming[i]))
        for m in self.plan(rows, self.settings):
            if m.kind == "grant":
                self._apply(m, t)

    def _apply(self, m, t: int) -> None:
        k = self._kx[m.sku]
        i = self._lx[m.location] * self.K + k
        if m.kind == "grant":
            self.grant(i, m.qty)
        elif m.kind == "release":
            self.ask_release(i, m.qty)
        elif m.kind == "transfer":
            self.transfer(self._lx[m.source] * self.K + k, i, m.qty, t)
        else:
            self.bad_moves += 1
