"""The sales-rate forecast on synthetic history: the week's rhythm, promos, and offline hours that are not zeros.

The synthetic store opens 9:00-21:00 every day and sells 2 units an hour on
weekdays and 6 on Saturdays and Sundays, one sale every 30 minutes' worth.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from hub.rules.demand import Promo, forecast, hourly_profile

NOW = datetime(2025, 3, 10, 0, 0)  # a Monday, midnight
WEEKDAY_RATE, WEEKEND_RATE = 2, 6


def history(days: int = 28, *, skip: tuple[datetime, datetime] | None = None, boost: tuple = ()) -> list:
    """(time, qty) sales over the days before NOW; none inside `skip`; `boost` = (start, end, factor)."""
    sales = []
    for day in range(days, 0, -1):
        d = NOW - timedelta(days=day)
        rate = WEEKEND_RATE if d.weekday() >= 5 else WEEKDAY_RATE
        for h in range(9, 21):
            for k in range(rate):
                t = d + timedelta(hours=h, minutes=60 * k // rate + 1)
                if skip and skip[0] <= t < skip[1]:
                    continue
                qty = boost[2] if boost and boost[0] <= t < boost[1] else 1
                sales.append((t, qty))
    return sales


def at(day: int, hour: int) -> datetime:
    return NOW + timedelta(days=day, hours=hour)


def test_the_forecast_follows_the_week() -> None:
    sales = history()
    monday = forecast(sales, None, now=at(0, 9), horizon=timedelta(hours=8))
    saturday = forecast(sales, None, now=at(5, 9), horizon=timedelta(hours=8))
    night = forecast(sales, None, now=at(1, 22), horizon=timedelta(hours=10))
    assert monday == pytest.approx(8 * WEEKDAY_RATE, rel=0.05)
    assert saturday == pytest.approx(8 * WEEKEND_RATE, rel=0.05)
    assert night < 0.5  # closed while online: a real zero
    # A window that crosses from Friday evening into Saturday follows both.
    evening = forecast(sales, None, now=at(4, 17), horizon=timedelta(hours=18))
    assert evening == pytest.approx(4 * WEEKDAY_RATE + 2 * WEEKEND_RATE, rel=0.1)


def test_the_profile_is_an_hour_of_the_week() -> None:
    rates = hourly_profile(history(), None, now=NOW)
    assert rates is not None and len(rates) == 168
    assert rates[5 * 24 + 12] == pytest.approx(WEEKEND_RATE, rel=0.05)  # Saturday noon
    assert rates[2 * 24 + 12] == pytest.approx(WEEKDAY_RATE, rel=0.05)  # Wednesday noon
    assert hourly_profile(history(), [], now=NOW) is None  # never seen online: nothing known


def test_a_promo_day_multiplies_the_forecast() -> None:
    sales = history()
    wednesday = at(2, 0), at(3, 0)
    plain = forecast(sales, None, now=at(2, 9), horizon=timedelta(hours=12))
    promo = Promo("K", None, *wednesday, 4.0)
    assert forecast(sales, None, now=at(2, 9), horizon=timedelta(hours=12), promos=[promo], sku="K") == (
        pytest.approx(4 * plain))
    # Half the window under the promo: half of it multiplied.
    assert forecast(sales, None, now=at(1, 15), horizon=timedelta(hours=24), promos=[promo], sku="K") == (
        pytest.approx(forecast(sales, None, now=at(1, 15), horizon=timedelta(hours=24)) + 3 * 6 * WEEKDAY_RATE,
                      rel=0.05))
    # Another SKU's promo, or another store's, changes nothing.
    other = [Promo("OTHER", None, *wednesday, 4.0), Promo(None, "S9", *wednesday, 4.0)]
    assert forecast(sales, None, now=at(2, 9), horizon=timedelta(hours=12), promos=other, sku="K",
                    location="S1") == pytest.approx(plain)


def test_a_past_promo_does_not_lift_the_days_after_it() -> None:
    last_wednesday = at(-5, 0), at(-4, 0)
    sales = history(boost=(*last_wednesday, 4))
    plain = forecast(history(), None, now=at(2, 9), horizon=timedelta(hours=12))
    told = forecast(sales, None, now=at(2, 9), horizon=timedelta(hours=12),
                    promos=[Promo(None, None, *last_wednesday, 4.0)])
    untold = forecast(sales, None, now=at(2, 9), horizon=timedelta(hours=12))
    assert told == pytest.approx(plain, rel=0.01)
    assert untold > 1.3 * plain  # what the promo calendar saves us from


def test_an_offline_half_day_is_not_read_as_no_sales() -> None:
    offline = at(-6, 9), at(-6, 15)  # last Tuesday morning: no sales reached the hub
    sales = history(skip=offline)
    online = [(NOW - timedelta(days=28), offline[0]), (offline[1], NOW)]
    full = forecast(history(), None, now=at(1, 9), horizon=timedelta(hours=6))
    assert forecast(sales, online, now=at(1, 9), horizon=timedelta(hours=6)) == pytest.approx(full, rel=0.02)
    # Read as zeros, the same hours would have pulled Tuesday morning down.
    assert forecast(sales, None, now=at(1, 9), horizon=timedelta(hours=6)) < 0.85 * full
    # Sales the store pushed later for hours the hub saw it offline are left out with those hours.
    assert forecast(history(), online, now=at(1, 9), horizon=timedelta(hours=6)) == pytest.approx(full, rel=0.02)


def test_no_history_forecasts_nothing() -> None:
    assert forecast([], None, now=NOW, horizon=timedelta(hours=8)) == 0.0
    assert forecast([], [], now=NOW, horizon=timedelta(hours=8)) == 0.0
