"""A moment written in a Java date pattern (`yyyy-MM-dd'T'HH:mm:ss.SSSXXX`), as Pact's Date,
Time and DateTime generators ask for one: Pact's JVM tools write their formats in Java's
letters, so a pact carries them whatever wrote it."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable

# The pattern letters of Java's date formats (which Pact's generators take), a run of one
# letter at a time: `yyyy`, `MM`, `'T'` (quoted text), `SSS`, `XXX`.
_PATTERN_RUN = re.compile(r"'([^']*)'|([A-Za-z])\2*|[^A-Za-z']+")
_FIELDS: dict[str, Callable[[datetime.datetime], str]] = {
    "yyyy": lambda m: f"{m.year:04d}",
    "uuuu": lambda m: f"{m.year:04d}",
    "yy": lambda m: f"{m.year % 100:02d}",
    "MMMM": lambda m: m.strftime("%B"),
    "MMM": lambda m: m.strftime("%b"),
    "MM": lambda m: f"{m.month:02d}",
    "M": lambda m: str(m.month),
    "dd": lambda m: f"{m.day:02d}",
    "d": lambda m: str(m.day),
    "DDD": lambda m: m.strftime("%j"),
    "EEEE": lambda m: m.strftime("%A"),
    "EEE": lambda m: m.strftime("%a"),
    "HH": lambda m: f"{m.hour:02d}",
    "H": lambda m: str(m.hour),
    "hh": lambda m: f"{(m.hour - 1) % 12 + 1:02d}",
    "h": lambda m: str((m.hour - 1) % 12 + 1),
    "a": lambda m: "AM" if m.hour < 12 else "PM",
    "mm": lambda m: f"{m.minute:02d}",
    "m": lambda m: str(m.minute),
    "ss": lambda m: f"{m.second:02d}",
    "s": lambda m: str(m.second),
}


def format_moment(moment: datetime.datetime, pattern: str) -> str:
    """`moment` (aware) in a Java date pattern such as `yyyy-MM-dd'T'HH:mm:ss.SSSXXX`; a letter
    not known here raises ValueError (the generator then keeps its example)."""
    out: list[str] = []
    for match in _PATTERN_RUN.finditer(pattern):
        quoted, letter, run = match.group(1), match.group(2), match.group(0)
        if quoted is not None:
            out.append(quoted or "'")  # `''` is a quote
        elif letter is None:
            out.append(run)
        elif letter == "S":
            out.append(f"{moment.microsecond:06d}"[: len(run)].ljust(len(run), "0"))
        elif letter in "XZx":
            out.append(_offset(moment, letter, len(run)))
        elif run in _FIELDS:
            out.append(_FIELDS[run](moment))
        else:
            raise ValueError(f"date pattern {pattern!r}: {run!r} is not a pattern known here")
    return "".join(out)


def _offset(moment: datetime.datetime, letter: str, width: int) -> str:
    """The UTC offset as Java prints it: `X` gives `Z` for UTC, `Z` and short runs `+0000`,
    runs of three `+00:00`."""
    offset = moment.strftime("%z") or "+0000"
    if letter == "X" and offset == "+0000":
        return "Z"
    if letter == "Z" or width < 3:
        return offset
    return f"{offset[:3]}:{offset[3:]}"
