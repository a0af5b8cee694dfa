"""Pact's date, time and timestamp matchers: ISO 8601 when the pact names no format, else the
format in Java's SimpleDateFormat letters (as Pact's JVM tools write them), translated to an
RE2 regex, with the numbers it matches then checked for range and the day for its month."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache
from typing import Any, Final

import re2

from billing_sandbox.contracts.jsonpath import shown
from billing_sandbox.contracts.regexes import REGEX_MEMORY_BYTES

# A date format is a few letters; a longer one is no format.
MAX_DATE_FORMAT_LENGTH: Final = 100


_MONTHS: Final = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_DAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NOUNS: Final = {"date": "date", "time": "time", "timestamp": "date-time", "datetime": "date-time"}


@dataclass(frozen=True)
class _DateFormat:
    """A Java SimpleDateFormat pattern as a regex, and the field each named group holds."""

    compiled: Any
    fields: tuple[tuple[str, str], ...]  # (group, field)


def date_problem(kind: str, form: Any, actual: Any) -> str | None:
    noun = _NOUNS[kind]
    if not isinstance(actual, str):
        return f"expected a {noun} as a string, got {shown(actual)}"
    if not form:
        return None if _is_iso(kind, actual) else f"{shown(actual)} is not an ISO 8601 {noun}"
    translated = _date_format(str(form))
    if isinstance(translated, str):
        return translated
    found = translated.compiled.fullmatch(actual)
    if found is None or not _fields_valid(translated, found):
        return f"{shown(actual)} is not a {noun} in the format {form}"
    return None


def _is_iso(kind: str, text: str) -> bool:
    try:
        if kind == "date":
            date.fromisoformat(text)
        elif kind == "time":
            time.fromisoformat(text)
        else:
            datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _names(names: Sequence[str], length: int | None) -> str:
    """Month or day names, full or cut to `length` letters, any case."""
    spelled = {name[:length] if length else name for name in names}
    return "(?i:" + "|".join(sorted(spelled, key=len, reverse=True)) + ")"


def _two(count: int) -> str:
    return "[0-9]{2}" if count >= 2 else "[0-9]{1,2}"


# Each pattern letter, by how many times it repeats, to (regex, field checked after).
def _letter(letter: str, count: int) -> tuple[str, str] | None:
    if letter == "y":
        return ("[0-9]{2}", "year2") if count == 2 else ("[0-9]{4}", "year")
    if letter == "M":
        if count >= 3:
            return _names(_MONTHS, None if count >= 4 else 3), "month_name"
        return _two(count), "month"
    fixed = {
        "d": (_two(count), "day"),
        "H": (_two(count), "hour_0_23"),
        "k": (_two(count), "hour_1_24"),
        "h": (_two(count), "hour_1_12"),
        "K": (_two(count), "hour_0_11"),
        "m": (_two(count), "minute"),
        "s": (_two(count), "second"),
        "S": (f"[0-9]{{{count}}}", ""),  # as many digits as letters, as the reference reads
        "D": ("[0-9]{1,3}", "day_of_year"),
        "u": ("[1-7]", ""),
        "E": (_names(_DAYS, None if count >= 4 else 3), ""),
        "a": ("(?i:am|pm)", ""),
        "G": ("(?i:ad|bc)", ""),
        "Z": ("[+-][0-9]{4}", ""),
        "z": ("[A-Za-z]{1,6}([+-][0-9]{1,2}(:?[0-9]{2})?)?", ""),
        "X": (
            {1: "Z|[+-][0-9]{2}([0-9]{2})?", 2: "Z|[+-][0-9]{4}"}.get(
                count, "Z|[+-][0-9]{2}:[0-9]{2}"
            ),
            "",
        ),
    }
    return fixed.get(letter)


_RANGES: Final = {
    "month": (1, 12),
    "day": (1, 31),
    "hour_0_23": (0, 23),
    "hour_1_24": (1, 24),
    "hour_1_12": (1, 12),
    "hour_0_11": (0, 11),
    "minute": (0, 59),
    "second": (0, 59),
    "day_of_year": (1, 366),
}


@lru_cache(maxsize=256)
def _date_format(form: str) -> _DateFormat | str:
    """`form` (Java's SimpleDateFormat letters; text in single quotes, '' a quote) as a
    regex; or a sentence naming what it cannot check."""
    if len(form) > MAX_DATE_FORMAT_LENGTH:
        return f"the pact's date format is longer than {MAX_DATE_FORMAT_LENGTH} characters"
    parts: list[str] = []
    fields: list[tuple[str, str]] = []
    position = 0
    while position < len(form):
        char = form[position]
        if char == "'":
            literal, position = _quoted_literal(form, position)
            parts.append(_literal(literal))
            continue
        if not ("A" <= char <= "Z" or "a" <= char <= "z"):
            parts.append(_literal(char))
            position += 1
            continue
        end = position
        while end < len(form) and form[end] == char:
            end += 1
        translated = _letter(char, end - position)
        if translated is None:
            return (
                f"the pact's date format {shown(form)} uses {char!r}, which the verifier "
                "does not check"
            )
        pattern, field = translated
        group = f"f{len(fields)}"
        parts.append(f"(?P<{group}>{pattern})")
        fields.append((group, field))
        position = end
    options = re2.Options()
    options.max_mem = REGEX_MEMORY_BYTES
    options.log_errors = False
    try:
        return _DateFormat(re2.compile("".join(parts), options), tuple(fields))
    except re2.error:
        return f"the pact's date format {shown(form)} is too large to check"


def _quoted_literal(form: str, start: int) -> tuple[str, int]:
    """The text quoted from `start` (`''` is a quote, inside quotes or out), and its end."""
    if form.startswith("''", start):
        return "'", start + 2
    characters: list[str] = []
    position = start + 1
    while position < len(form):
        if form.startswith("''", position):
            characters.append("'")
            position += 2
        elif form[position] == "'":
            return "".join(characters), position + 1
        else:
            characters.append(form[position])
            position += 1
    return "".join(characters), position


def _literal(text: str) -> str:
    return "".join(char if char.isalnum() else f"\\x{{{ord(char):x}}}" for char in text)


def _fields_valid(translated: _DateFormat, found: Any) -> bool:
    """The matched numbers are in range, and the day is in its month."""
    values: dict[str, int] = {}
    for group, field in translated.fields:
        text = found.group(group)
        if field == "month_name":
            values["month"] = next(
                number for number, name in enumerate(_MONTHS, 1) if name.startswith(text.lower())
            )
        elif field:
            values[field] = int(text)
    for field, (low, high) in _RANGES.items():
        if field in values and not low <= values[field] <= high:
            return False
    if "day" in values and "month" in values:
        year = values.get("year", 2000 + values.get("year2", 0) if "year2" in values else 2000)
        return values["day"] <= calendar.monthrange(year, values["month"])[1]
    return True
