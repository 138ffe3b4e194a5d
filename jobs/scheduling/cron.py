"""Cron expressions in an IANA timezone, with daylight-saving transitions handled.

Fire times are computed on the local wall clock and then placed on the UTC timeline:
- a time that falls in a spring-forward gap (02:30 when clocks jump from 02:00 to 03:00) fires
  as if the clock had not jumped yet, i.e. at 03:30 local (Python's fold=0 reading, PEP 495);
- a time that occurs twice in a fall-back overlap (01:30) fires once, at its first occurrence.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterNotAlphaError, croniter

# A cron that does not fire within this horizon is treated as one that never fires
# ("0 0 30 2 *" names February 30th).
NEVER_FIRES_HORIZON_YEARS = 5


class CronError(ValueError):
    """The expression or the timezone cannot be used; the message is for the user."""


def get_zone(name: str) -> ZoneInfo:
    if name not in _zone_names():
        raise CronError(f"Unknown timezone {name!r}: use an IANA name such as UTC or Europe/Paris.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"Unknown timezone {name!r}.") from None


_ZONES: frozenset[str] | None = None


def _zone_names() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones()) | {"UTC"}
    return _ZONES


def validate_cron(expression: str) -> None:
    """Raise CronError unless `expression` is a five-field cron that fires."""
    fields = expression.split()
    if len(fields) != 5:
        raise CronError(
            f"A cron has five fields (minute hour day-of-month month day-of-week); got {len(fields)}."
        )
    try:
        croniter(expression)
    except (CroniterBadCronError, CroniterNotAlphaError, ValueError, KeyError) as exc:
        raise CronError(f"Invalid cron {expression!r}: {exc}") from None
    start = datetime(2000, 1, 1)
    try:
        first = croniter(expression, start, max_years_between_matches=NEVER_FIRES_HORIZON_YEARS * 2)
        first.get_next(datetime)
    except CroniterBadDateError:
        raise CronError(f"The cron {expression!r} never fires.") from None


def fire_times(expression: str, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """Yield the UTC instants strictly after `after` (aware) at which the cron fires, in order."""
    # Start a little before `after` on the wall clock: in a fall-back overlap the wall clock
    # repeats, and a candidate before `after` is simply skipped below.
    local_start = after.astimezone(zone).replace(tzinfo=None) - timedelta(hours=2)
    iterator = croniter(
        expression, local_start, max_years_between_matches=NEVER_FIRES_HORIZON_YEARS * 2
    )
    last = after
    while True:
        try:
            wall = iterator.get_next(datetime)
        except CroniterBadDateError:
            return
        instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
        if instant > last:
            last = instant
            yield instant


def next_fire_time(expression: str, zone: ZoneInfo, after: datetime) -> datetime | None:
    return next(fire_times(expression, zone, after), None)


def previous_fire_time(expression: str, zone: ZoneInfo, at: datetime) -> datetime | None:
    """The latest UTC instant not after `at` (aware) at which the cron fires."""
    # Start a little after `at` on the wall clock (see fire_times) and walk back past it.
    local_start = at.astimezone(zone).replace(tzinfo=None) + timedelta(hours=2)
    iterator = croniter(
        expression, local_start, max_years_between_matches=NEVER_FIRES_HORIZON_YEARS * 2
    )
    while True:
        try:
            wall = iterator.get_prev(datetime)
        except CroniterBadDateError:
            return None
        instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
        if instant <= at:
            return instant
