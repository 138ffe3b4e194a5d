"""Durations on the command line: 90s, 30m, 1h, 7d (shared by synthetic_health, smoke, ...)."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d{1,9})\s*([smhd])\s*$", re.IGNORECASE)
# Ten years: anything longer is a typo, and would overflow date arithmetic.
MAX_DURATION = timedelta(days=3660)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str, option: str = "duration") -> timedelta:
    """Read `text` as a positive whole number and a unit; ValueError names `option` otherwise."""
    match = _DURATION.match(text or "")
    if not match or int(match.group(1)) == 0:
        raise ValueError(
            f"{option} {text!r} is not a duration: use a positive whole number and a unit, "
            "like 90s, 30m, 1h or 7d"
        )
    value = timedelta(**{_UNITS[match.group(2).lower()]: int(match.group(1))})
    if value > MAX_DURATION:
        raise ValueError(f"{option} {text!r} is too long: at most {MAX_DURATION.days}d")
    return value
