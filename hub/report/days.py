"""Business dates: each store's local day, as a half-open span of UTC stamps."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sync.kinds import stamp


def zone(tz: str | None) -> ZoneInfo:
    """A store's zone; an unknown or empty name is UTC (the report says which zone each store used)."""
    try:
        return ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def day_bounds(day: date, tz: str | None) -> tuple[str, str]:
    """[start, end) of `day` in zone `tz`, as stored stamps (ISO-8601 UTC: they compare as strings).
    A day with a clock change is 23 or 25 hours long."""
    z = zone(tz)
    lo = datetime.combine(day, time(), z)
    hi = datetime.combine(day + timedelta(days=1), time(), z)
    return stamp(lo), stamp(hi)


def parse_date(text: str) -> date:
    return date.fromisoformat(text)


def hours_between(a: str, b: str) -> float:
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds() / 3600
