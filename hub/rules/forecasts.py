"""`demand.forecast` for many SKUs of one store at once: the same figures, at a fraction of the cost.

`demand.forecast` works out, for every call, the hours the store was seen
online in each hour of the week (a walk over the whole history, hour by hour)
and the whole week's 168 smoothed rates, although the window ahead touches
only nine or ten of them. At chain scale (millions of spots) that is hours of
work a pass. Here the store's part is done once (`StoreForecaster`), and each
SKU costs one look at its own sales plus the arithmetic for the hours in the
window: the hour-of-day factors need all 24 hours, the day-of-week factors only
the days the window touches, the rates only its hours. `store` does that
arithmetic for all of a store's SKUs at once, as arrays (numpy): a store's
thousands of SKUs in milliseconds. A SKU with a promo of its own goes one by one.

It must agree with `demand.forecast` to rounding: tests/test_balance_forecasts.py
holds the two side by side over random histories, outages and promos, so a
change to the forecast's arithmetic there fails until it is made here too.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from hub.rules.demand import (
    DAY_PRIOR_UNITS, HOUR, HOUR_PRIOR_HOURS, SLOT_PRIOR_HOURS, WEEK_HOURS, Promo, _floor_hour, _merged,
    _promo_factor, _slot,
)


_MISSING = object()


def _add_seen(seen: list[float], a: datetime, b: datetime) -> None:
    """Add the hours of [a, b) to each hour of the week they fall in, as `demand.hourly_profile` does hour
    by hour; the whole hours in between counted by arithmetic (a month is 720 of them)."""
    first = _floor_hour(a) + HOUR
    if b <= first:
        seen[_slot(a)] += (b - a) / HOUR
        return
    seen[_slot(a)] += (first - a) / HOUR
    last = _floor_hour(b)
    n = int((last - first) / HOUR)
    laps, rest = divmod(n, WEEK_HOURS)
    k0 = _slot(first)
    for i in range(WEEK_HOURS):
        seen[(k0 + i) % WEEK_HOURS] += laps + (1 if i < rest else 0)
    if b > last:
        seen[_slot(last)] += (b - last) / HOUR


class StoreForecaster:
    """Forecasts of one store's SKUs over [now, now + window), as `demand.forecast` makes them."""

    def __init__(self, online: Iterable[tuple[datetime, datetime]] | None, *, now: datetime, window: timedelta,
                 history: timedelta, promos: Iterable[Promo] = (), location: str | None = None) -> None:
        self.now, self.end = now, now + window
        self.start = _floor_hour(now - history)
        self.spans = [(self.start, now)] if online is None else _merged(online, self.start, now)
        self.starts = [a for a, _ in self.spans]
        self.seen = seen = [0.0] * WEEK_HOURS
        for a, b in self.spans:
            _add_seen(seen, a, b)
        self.total_seen = sum(seen)
        self.hour_seen = [sum(seen[h::24]) for h in range(24)]  # each hour of the day over the 7 days
        here = [p for p in promos if p.applies(None, location)]
        self.every_sku = [p for p in here if p.sku is None]
        self.by_sku: dict[str, list[Promo]] = {}
        for p in here:
            if p.sku is not None:
                self.by_sku.setdefault(p.sku, []).append(p)
        self.plain = self._pieces(self.every_sku)  # the window's pieces for a SKU with no promo of its own

    def _pieces(self, promos: list[Promo]) -> list[tuple[int, float]]:
        """The window cut where an hour or a promo starts or ends: (hour of the week, hours x promo factor)."""
        now, end = self.now, self.end
        cuts = {now, end}
        cuts.update(t for p in promos for t in (p.start, p.end) if now < t < end)
        t = _floor_hour(now) + HOUR
        while t < end:
            cuts.add(t)
            t += HOUR
        points = sorted(cuts)
        return [(_slot(a), _promo_factor(promos, a) * ((b - a) / HOUR)) for a, b in zip(points, points[1:])]

    def _at(self, t: datetime) -> tuple[int, float] | None:
        """Where a sale at `t` counts (its hour of the week, the every-SKU promos' factor), None if it does not."""
        if self.start <= t < self.now:
            i = bisect_right(self.starts, t) - 1
            if i >= 0 and t < self.spans[i][1]:
                return (_slot(t), _promo_factor(self.every_sku, t) if self.every_sku else 1.0)
        return None

    def store(self, sales: Iterable[tuple[str, Any, int]], when: Callable[[Any], datetime] | None = None
              ) -> dict[str, float]:
        """Every SKU's forecast from the store's sales (SKU, time, units), a SKU with sales in the history
        at a time; what `demand` makes one SKU at a time, for all of them at once. A sale's time may be
        a key that `when` turns into one (the hub's hour stamps): each key is looked at once."""
        if self.total_seen <= 0:
            return {}
        index: dict[str, int] = {}
        rows, cols, units = [], [], []
        own: dict[str, list[tuple[datetime, int]]] = {}
        seen: dict[Any, tuple[int, float] | None] = {}
        by_sku, at, missing = self.by_sku, self._at, seen.get
        for sku, key, qty in sales:
            where = missing(key, _MISSING)
            if where is _MISSING:
                where = seen[key] = at(when(key) if when else key)
            i = index.get(sku)
            if i is None:
                if sku in by_sku:
                    own.setdefault(sku, []).append((when(key) if when else key, qty))
                    continue
                i = index[sku] = len(index)
            if where is not None:
                rows.append(i)
                cols.append(where[0])
                units.append(qty / where[1])
        out = dict(zip(index, self._all(len(index), rows, cols, units), strict=True)) if index else {}
        out.update({sku: self.demand(sku, events) for sku, events in own.items()})
        return out

    def _all(self, n: int, rows: list[int], cols: list[int], units: list[float]) -> list[float]:
        """`demand`'s arithmetic for n SKUs at once: row i of `sold` is SKU i's units per hour of the week."""
        sold = np.zeros((n, WEEK_HOURS))
        np.add.at(sold, (np.asarray(rows, dtype=np.intp), np.asarray(cols, dtype=np.intp)),
                  np.asarray(units, dtype=float))
        seen = np.asarray(self.seen)
        level = sold.sum(axis=1) / self.total_seen
        sells = level > 0
        lv = np.where(sells, level, 1.0)[:, None]  # no division by zero where a SKU sells nothing
        week = sold.reshape(n, 7, 24)
        by_hour = (week.sum(axis=1) + HOUR_PRIOR_HOURS * lv) / (np.asarray(self.hour_seen) + HOUR_PRIOR_HOURS) / lv
        day_sold = week.sum(axis=2)
        by_day: dict[int, np.ndarray] = {}
        total = np.zeros(n)
        for k, weight in self.plain:
            d = k // 24
            if d not in by_day:
                expected = (by_hour * seen[d * 24:(d + 1) * 24]).sum(axis=1) * lv[:, 0]
                by_day[d] = (day_sold[:, d] + DAY_PRIOR_UNITS) / (expected + DAY_PRIOR_UNITS)
            shape = lv[:, 0] * by_hour[:, k % 24] * by_day[d]
            total += (sold[:, k] + SLOT_PRIOR_HOURS * shape) / (seen[k] + SLOT_PRIOR_HOURS) * weight
        return np.where(sells, total, 0.0).tolist()

    def demand(self, sku: str, sales: Iterable[tuple[datetime, int]]) -> float:
        """Expected units of `sku` sold over the window, from its sales (time, units) at this store."""
        if self.total_seen <= 0:
            return 0.0
        promos = self.every_sku + self.by_sku.get(sku, [])
        start, now, spans, starts = self.start, self.now, self.spans, self.starts
        sold: dict[int, float] = {}
        for t, qty in sales:
            if not start <= t < now:
                continue
            i = bisect_right(starts, t) - 1
            if i < 0 or t >= spans[i][1]:
                continue  # sold while the hub could not see the store: unknown, like its time
            k = _slot(t)
            sold[k] = sold.get(k, 0.0) + (qty / _promo_factor(promos, t) if promos else qty)
        level = sum(sold.values()) / self.total_seen
        if level <= 0:
            return 0.0
        seen = self.seen
        by_hour_sold = [0.0] * 24
        by_day_sold = [0.0] * 7
        for k, units in sold.items():
            by_hour_sold[k % 24] += units
            by_day_sold[k // 24] += units
        by_hour = [(by_hour_sold[h] + HOUR_PRIOR_HOURS * level) / (self.hour_seen[h] + HOUR_PRIOR_HOURS) / level
                   for h in range(24)]
        by_day: dict[int, float] = {}
        total = 0.0
        for k, weight in (self._pieces(promos) if sku in self.by_sku else self.plain):
            d = k // 24
            if d not in by_day:
                expected = sum(seen[d * 24 + h] * level * by_hour[h] for h in range(24))
                by_day[d] = (by_day_sold[d] + DAY_PRIOR_UNITS) / (expected + DAY_PRIOR_UNITS)
            shape = level * by_hour[k % 24] * by_day[d]
            total += (sold.get(k, 0.0) + SLOT_PRIOR_HOURS * shape) / (seen[k] + SLOT_PRIOR_HOURS) * weight
        return total


WEB = "~web"  # the web shop, where a forecast names a location (a promo's, the hub's kept sales and forecasts)


def web_forecasts(sales: Iterable[tuple[str, Any, int]], when: Callable[[Any], datetime] | None = None, *,
                  now: datetime, window: timedelta, history: timedelta, known: tuple[datetime, datetime],
                  promos: Iterable[Promo] = ()) -> dict[str, float]:
    """The web shop's demand per SKU over [now, now + window), by the stores' model (`StoreForecaster.store`).

    The web shop is always online, so no hour in `known` is masked as an outage; outside it its
    sales are unknown, not nothing: before the first the hub holds (the shop was not yet selling
    through it) and after the last it has folded in (a cart's fate is known once its hold is
    over). Only promos for every store apply to it.
    """
    return StoreForecaster([known], now=now, window=window, history=history, promos=promos,
                           location=WEB).store(sales, when)
