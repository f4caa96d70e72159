"""The store-wise forecaster (hub/rules/forecasts.py) makes `demand.forecast`'s figures, and makes them fast."""

from __future__ import annotations

import math
import random
import time
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.rules.demand import Promo, forecast
from hub.rules.forecasts import StoreForecaster

NOW = datetime(2025, 3, 12, 13, 25, tzinfo=UTC)
WINDOW = timedelta(hours=8, minutes=15)
HISTORY = timedelta(days=28)
SKUS = ("A", "B", "C")


def _at(hours_ago: float) -> datetime:
    return NOW - timedelta(hours=hours_ago)


sales = st.lists(st.tuples(st.floats(-3, 24 * 30), st.integers(-2, 6)), max_size=60)
outages = st.lists(st.tuples(st.floats(0, 24 * 30), st.floats(0.1, 72)), max_size=4)
promo = st.tuples(st.sampled_from((None, *SKUS)), st.sampled_from((None, "S1", "S2")),
                  st.floats(-24 * 30, 24), st.floats(0.5, 24 * 10), st.sampled_from((0.5, 1.5, 3.0)))


def _online(gaps: list[tuple[float, float]] | None) -> list[tuple[datetime, datetime]] | None:
    """Online over the history but for the outages (hours ago, length); None stays None."""
    if gaps is None:
        return None
    spans, t = [], _at(24 * 30)
    for ago, length in sorted(gaps, reverse=True):
        a, b = _at(ago), _at(ago) + timedelta(hours=length)
        if a > t:
            spans.append((t, a))
        t = max(t, b)
    if t < NOW:
        spans.append((t, NOW - timedelta(minutes=7)))
    return spans


@settings(max_examples=300, deadline=None)
@given(by_sku=st.lists(sales, min_size=3, max_size=3), gaps=st.one_of(st.none(), outages),
       promos=st.lists(promo, max_size=3), location=st.sampled_from(("S1", "S2")))
def test_it_agrees_with_demand_forecast(by_sku, gaps, promos, location) -> None:
    online = _online(gaps)
    cal = [Promo(sku, loc, NOW + timedelta(hours=a), NOW + timedelta(hours=a + n), f) for sku, loc, a, n, f in promos]
    fc = StoreForecaster(online, now=NOW, window=WINDOW, history=HISTORY, promos=cal, location=location)
    at_once = fc.store([(sku, _at(h), q) for sku, history in zip(SKUS, by_sku, strict=True) for h, q in history])
    for sku, history in zip(SKUS, by_sku, strict=True):
        events = [(_at(h), q) for h, q in history]
        want = forecast(events, online, now=NOW, horizon=WINDOW, promos=cal, history=HISTORY, sku=sku,
                        location=location)
        assert math.isclose(fc.demand(sku, events), want, rel_tol=1e-9, abs_tol=1e-9), (sku, want)
        assert math.isclose(at_once.get(sku, 0.0), want, rel_tol=1e-9, abs_tol=1e-9), (sku, want)


def test_a_store_never_seen_online_forecasts_nothing() -> None:
    fc = StoreForecaster([], now=NOW, window=WINDOW, history=HISTORY)
    assert fc.demand("A", [(_at(5), 3)]) == 0.0


def test_it_is_many_times_faster_than_one_forecast_per_sku() -> None:
    rng = random.Random(3)
    online = _online([(100, 5), (300, 20)])
    # Sales by the hour, as the hub keeps them (balance_sales): at the middle of each hour.
    hours = [_at(h + 0.5) for h in range(24 * 28)]
    series = {f"SKU{i}": [(rng.choice(hours), rng.randint(1, 3)) for _ in range(rng.randint(1, 10))]
              for i in range(2000)}
    some = list(series.items())[:40]
    t = time.perf_counter()
    for sku, events in some:
        forecast(events, online, now=NOW, horizon=WINDOW, history=HISTORY, sku=sku, location="S1")
    slow = (time.perf_counter() - t) * len(series) / len(some)
    t = time.perf_counter()
    fc = StoreForecaster(online, now=NOW, window=WINDOW, history=HISTORY, location="S1")
    for sku, events in series.items():
        fc.demand(sku, events)
    one_by_one = time.perf_counter() - t
    t = time.perf_counter()
    StoreForecaster(online, now=NOW, window=WINDOW, history=HISTORY, location="S1").store(
        (sku, at, qty) for sku, events in series.items() for at, qty in events)
    at_once = time.perf_counter() - t
    assert one_by_one * 10 < slow and at_once < one_by_one, (slow, one_by_one, at_once)
