"""The end of a store's business day, with no I/O: its zone, its closing time, which date a snapshot is for.

A store's business date is its local calendar date in its zone (node meta `tz`, an IANA name; UTC
until set). Its closing time (meta `close_at`, "HH:MM" local; off until set) is when the runner takes
the day's end-of-day snapshot by itself; `backroom node close-day` takes it by hand at any time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from node.errors import BadInput, BadText

OFF = ("", "off", "none")  # `close_at` values that mean "no scheduled snapshot"


def zone(tz: str | None) -> ZoneInfo:
    """A store's zone by its IANA name (empty: UTC); an unknown name is refused with a sentence."""
    name = (tz or "UTC").strip()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        shown = name if len(name) <= 40 else name[:40] + "..."
        raise BadText(f"{shown!r} is not an IANA time zone (such as Europe/Paris or America/New_York).") from err


def close_time(text: str | None) -> time | None:
    """A closing time typed as HH:MM (24-hour); None for off."""
    t = (text or "").strip()
    if t.lower() in OFF:
        return None
    hh, colon, mm = t.partition(":")
    if not (colon and len(hh) == 2 and len(mm) == 2 and hh.isdigit() and mm.isdigit()
            and int(hh) < 24 and int(mm) < 60):
        shown = t if len(t) <= 20 else t[:20] + "..."
        raise BadText(f"A closing time is HH:MM on the 24-hour clock (such as 22:00), or off; not {shown!r}.")
    return time(int(hh), int(mm))


def business_date(now: datetime, tz: str | None) -> date:
    """The store's business date at `now`: its local calendar date."""
    return now.astimezone(zone(tz)).date()


def day_end(day: date, tz: str | None) -> datetime:
    """When `day` ends in the store's zone (midnight after it; a clock change makes a day 23 or 25 hours), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(), zone(tz)).astimezone(UTC)


def close_due(now: datetime, tz: str | None, close_at: time | None, taken: bool) -> date | None:
    """The business date whose snapshot the runner should take now: today's, once its closing time has
    come and none was taken for it yet; None otherwise (or when no closing time is set)."""
    if close_at is None or taken:
        return None
    local = now.astimezone(zone(tz))
    return local.date() if local.time() >= close_at else None


def check_snapshot_date(day: date, now: datetime, tz: str | None, last_entry_at: datetime | None) -> date:
    """The business date a snapshot taken now may be for: today's, or an earlier day that nothing was
    written after (a snapshot is the book as it stands now, so it is that day's close only if the
    ledger has not moved since). Refused with the reason otherwise."""
    today = business_date(now, tz)
    if day > today:
        raise BadInput(f"{day} has not begun in the store's zone ({zone(tz).key}, where it is {today}); "
                       "a snapshot is taken at or after the day's close.")
    if day < today and last_entry_at is not None and last_entry_at >= day_end(day, tz):
        raise BadInput(f"Entries were written after {day} ended (the last at {last_entry_at.isoformat()}); "
                       f"a snapshot taken now would not be {day}'s close. Take today's ({today}) instead.")
    return day
