"""`demand.forecast` for many SKUs of one store at once: the same figures, at a fraction of the cost.

`demand.forecast` works out, for every call, the hours the store was seen
online in each hour of the week (a walk over the whole history, hour by hour)
and the whole week's 168 smoothed rates, although the window ahead touches
only nine or ten of them. At chain scale (millions of spots) that is hours of
work a pass. Here the store's part is done once (`StoreForecaster`), and each
SKU costs one look at its own sales plus the arithmetic for the hours in the
window: the hour-of-day factors need all 24 hours, the day-of-week factors only
the days the window touches, the rates only its hours.

It must agree with `demand.forecast` to rounding: tests/test_balance_forecasts.py
holds the two side by side over random histories, outages and promos, so a
change to the forecast's arithmetic there fails until it is made here too.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from datetime import datetime, timedelta

from hub.rules.demand import (
    DAY_PRIOR_UNITS, HOUR, HOUR_PRIOR_HOURS, SLOT_PRIOR_HOURS, WEEK_HOURS, Promo, _floor_hour, _merged,
    _promo_factor, _slot,
)


class StoreForecaster:
    """Forecasts of one store's SKUs over [now, now + window), as `demand.forecast` makes them."""

    def __init__(self, online: Iterable[tuple[datetime, datetime]] | None, *, now: datetime, window: timedelta,
                 history: timedelta, promos: Iterable[Promo] = (), location: str | None = None) -> None:
        self.now, self.end = now, now + window
        self.start = _floor_hour(now - history)
        self.spans = [(self.start, now)] if online is None else _merged(online, self.start, now)
        self.starts = [a for a, _ in self.spans]
        seen = [0.0] * WEEK_HOURS
        for a, b in self.spans:
            t = a
            while t < b:
                nxt = min(_floor_hour(t) + HOUR, b)
                seen[_slot(t)] += (nxt - t) / HOUR
                t = nxt
        self.seen = seen
        self.total_seen = sum(seen)
        self.hour_seen = [sum(seen[d * 24 + h] for d in range(7)) for h in range(24)]
        here = [p for p in promos if p.applies(None, location)]
        self.every_sku = [p for p in here if p.sku is None]
        self.by_sku: dict[str, list[Promo]] = {}
        for p in here:
            if p.sku is not None:
                self.by_sku.setdefault(p.sku, []).append(p)
        self.plain = self._pieces([])  # the window's pieces for a SKU no promo touches

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
        for k, weight in (self._pieces(promos) if promos else self.plain):
            d = k // 24
            if d not in by_day:
                expected = sum(seen[d * 24 + h] * level * by_hour[h] for h in range(24))
                by_day[d] = (by_day_sold[d] + DAY_PRIOR_UNITS) / (expected + DAY_PRIOR_UNITS)
            shape = level * by_hour[k % 24] * by_day[d]
            total += (sold.get(k, 0.0) + SLOT_PRIOR_HOURS * shape) / (seen[k] + SLOT_PRIOR_HOURS) * weight
        return total
