"""RFC 3339 timestamps as sortable integers, for any year and offset the spec admits."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:[Zz]|([+-])(\d{2}):(\d{2}))$"
)


def sort_micros(text: str) -> int:
    """Microseconds since 1970-01-01T00:00:00Z.

    Computed by hand, not with `datetime`, because RFC 3339 admits year 0000, leap seconds
    (`23:59:60`) and offsets that push an instant outside `datetime`'s range.
    """
    match = _RFC3339.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not an RFC 3339 date-time")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = (match.group(7) or "").ljust(6, "0")[:6]
    offset = 0
    if match.group(8):
        sign = 1 if match.group(8) == "+" else -1
        offset = sign * (int(match.group(9)) * 60 + int(match.group(10)))
    seconds = _days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
    return (seconds - offset * 60) * 1_000_000 + int(fraction)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def render(moment: datetime) -> str:
    """A UTC instant as Candid's docs show them: `2024-01-15T09:30:00Z` (with µs when set)."""
    moment = moment.astimezone(UTC)
    pattern = "%Y-%m-%dT%H:%M:%S.%fZ" if moment.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return moment.strftime(pattern)
