"""Durations as a scenario writes them: whole days, hours, minutes and seconds (`1d12h`)."""

from __future__ import annotations

import re

UNITS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
# A century: what the control API lets a clock advance by at once, and far inside the
# calendar's range from any instant a clock can show.
MAX_SECONDS = 3_153_600_000
_DURATION = re.compile(r"(?:[0-9]{1,10}[dhms])+")
_TERM = re.compile(r"([0-9]{1,10})([dhms])")
HOW = "a duration is whole numbers each followed by d, h, m or s (30d, 2h, 1d12h, 90s)"


def parse_duration(text: str) -> int:
    """The seconds `text` stands for; ValueError saying why when it is not a duration."""
    if not _DURATION.fullmatch(text):
        raise ValueError(f"{text!r} is not a duration: {HOW}")
    seconds = sum(int(count) * UNITS[unit] for count, unit in _TERM.findall(text))
    if seconds > MAX_SECONDS:
        raise ValueError(f"{text!r} is longer than a century ({MAX_SECONDS} seconds)")
    return seconds


def format_duration(seconds: int) -> str:
    """The shortest text `parse_duration` reads as `seconds` (0 is `0s`)."""
    if seconds < 0:
        raise ValueError("a duration is not negative")
    parts = []
    for unit, size in UNITS.items():
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
