"""How many units a store will sell of a SKU: its rhythm over the week, the promo calendar, no false zeros.

A store's sales follow the hour of the day and the day of the week (a
Saturday afternoon is not a Monday morning), so the rate is kept per hour of
the week, 168 of them. Four weeks give each of those hours only four looks,
so each one leans on a smoother shape: the store's overall rate times an
hour-of-day factor times a day-of-week factor, which every hour of the
history informs. An hour of the week with little history reads mostly from
that shape, one with a full month mostly from its own sales.

Hours the store was offline count as unknown, not as zero: their sales are
left out and so is their time, so a day half spent offline reads at the rate
of the half the hub saw. Closed hours while online are real zeros.

Sales under a promo are divided by its factor before they shape the rate (a
past Black Friday must not lift every Friday after it), and the forecast
multiplies the rate by the factor of any promo in the window ahead.

Times are the store's local wall-clock times (naive, or aware in the store's
zone): the rhythm is the store's.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

HOUR = timedelta(hours=1)
WEEK_HOURS = 168
# Pseudo-counts that pull sparse history toward the smoother shape: an hour of the week's own rate
# counts as much as this many hours of the shape; a day of the week as this many units of the shape.
SLOT_PRIOR_HOURS = 1.0
DAY_PRIOR_UNITS = 2.0
HOUR_PRIOR_HOURS = 2.0


@dataclass(frozen=True)
class Promo:
    """A stretch of time when a SKU sells `factor` times its usual rate ("Black Friday x4 on day D")."""

    sku: str | None  # None: every SKU
    location: str | None  # None: every store
    start: datetime
    end: datetime
    factor: float

    def applies(self, sku: str | None, location: str | None) -> bool:
        return (self.sku is None or sku is None or self.sku == sku) and (
            self.location is None or location is None or self.location == location)


def _slot(t: datetime) -> int:
    return t.weekday() * 24 + t.hour


def _floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def _promo_factor(promos: list[Promo], t: datetime) -> float:
    f = 1.0
    for p in promos:
        if p.start <= t < p.end:
            f *= p.factor
    return f


def _merged(online: Iterable[tuple[datetime, datetime]], start: datetime, end: datetime) -> list[tuple]:
    """The online intervals clipped to [start, end), sorted and joined where they touch."""
    out: list[list] = []
    for a, b in sorted((max(a, start), min(b, end)) for a, b in online):
        if a >= b:
            continue
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def hourly_profile(sales: Iterable[tuple[datetime, int]], online: Iterable[tuple[datetime, datetime]] | None,
                   *, now: datetime, promos: Iterable[Promo] = (), history: timedelta = timedelta(days=28),
                   sku: str | None = None, location: str | None = None) -> list[float] | None:
    """Units an hour for each hour of the week (index weekday * 24 + hour), free of promos.

    From the sales in [now - history, now) while the store was online (`online`
    intervals; None: always). None if the store was never seen online in that time.
    `sku` and `location` pick the promos that apply (None: all of them).
    """
    start = _floor_hour(now - history)
    active = [p for p in promos if p.applies(sku, location)]
    seen = [0.0] * WEEK_HOURS  # hours observed, per hour of the week
    sold = [0.0] * WEEK_HOURS  # units sold then, promos divided out
    spans = [(start, now)] if online is None else _merged(online, start, now)
    for a, b in spans:
        t = a
        while t < b:
            nxt = min(_floor_hour(t) + HOUR, b)
            seen[_slot(t)] += (nxt - t) / HOUR
            t = nxt
    if sum(seen) <= 0:
        return None
    starts = [a for a, _ in spans]
    for t, qty in sales:
        if not start <= t < now:
            continue
        i = bisect_right(starts, t) - 1
        if i < 0 or t >= spans[i][1]:
            continue  # sold while the hub could not see the store: unknown, like its time
        sold[_slot(t)] += qty / _promo_factor(active, t) if active else qty
    return _smoothed(sold, seen)


def _smoothed(sold: list[float], seen: list[float]) -> list[float]:
    level = sum(sold) / sum(seen)
    if level <= 0:
        return [0.0] * WEEK_HOURS
    by_hour = []
    for h in range(24):
        s = sum(sold[d * 24 + h] for d in range(7))
        e = sum(seen[d * 24 + h] for d in range(7))
        by_hour.append((s + HOUR_PRIOR_HOURS * level) / (e + HOUR_PRIOR_HOURS) / level)
    by_day = []
    for d in range(7):
        s = sum(sold[d * 24:(d + 1) * 24])
        expected = sum(seen[d * 24 + h] * level * by_hour[h] for h in range(24))
        by_day.append((s + DAY_PRIOR_UNITS) / (expected + DAY_PRIOR_UNITS))
    rates = []
    for i in range(WEEK_HOURS):
        shape = level * by_hour[i % 24] * by_day[i // 24]
        rates.append((sold[i] + SLOT_PRIOR_HOURS * shape) / (seen[i] + SLOT_PRIOR_HOURS))
    return rates


def forecast(sales: Iterable[tuple[datetime, int]], online: Iterable[tuple[datetime, datetime]] | None, *,
             now: datetime, horizon: timedelta, promos: Iterable[Promo] = (),
             history: timedelta = timedelta(days=28), sku: str | None = None, location: str | None = None) -> float:
    """Expected units sold over [now, now + horizon) for one store and SKU.

    From its sales (time, qty), following the day's and the week's rhythm and the
    promo calendar; hours the store was offline (not in `online` intervals; None:
    always online) count as unknown, not zero. A store never seen online forecasts 0.
    `sku` and `location` pick the promos that apply (None: all of them).
    """
    promos = [p for p in promos if p.applies(sku, location)]
    rates = hourly_profile(sales, online, now=now, promos=promos, history=history)
    if rates is None:
        return 0.0
    end = now + horizon
    # Pieces of the window within one hour and one promo state each.
    cuts = {now, end}
    cuts.update(t for p in promos for t in (p.start, p.end) if now < t < end)
    t = _floor_hour(now) + HOUR
    while t < end:
        cuts.add(t)
        t += HOUR
    points = sorted(cuts)
    total = 0.0
    for a, b in zip(points, points[1:]):
        total += rates[_slot(a)] * _promo_factor(promos, a) * ((b - a) / HOUR)
    return total
