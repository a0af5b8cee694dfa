"""What is wrong with a pact, gathered as the reader goes rather than raised at the first: a
file is refused whole, every problem named with where it is (`interactions[2].response.status`)
and what was found there, so one round of fixes is enough."""

from __future__ import annotations

from typing import Any, Final

from billing_sandbox.contracts.jsonpath import shown

# Past this many, the rest of a file's problems are counted rather than listed.
MAX_PROBLEMS: Final = 50


class Problems:
    """What is wrong with a pact so far, each line `where: what`."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.lines.append(f"{where}: {message}")

    def bounded(self) -> list[str]:
        if len(self.lines) <= MAX_PROBLEMS:
            return list(self.lines)
        more = len(self.lines) - MAX_PROBLEMS
        return [*self.lines[:MAX_PROBLEMS], f"and {more} more problems"]


def place_in(where: str, key: str | int) -> str:
    """The location of `key` inside `where`: `interactions[2]`, `.response`, `["$.a b"]`."""
    if isinstance(key, int):
        return f"{where}[{key}]"
    if key.isidentifier():
        return f"{where}.{key}" if where else key
    return f"{where}[{shown(key)}]"


def kind_of(value: Any) -> str:
    """A value as a problem names what was found instead: its type, and the value if short."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return shown(value)


def must_be(what: str, found: Any) -> str:
    """A problem's message: what the place should hold, and what it holds instead."""
    return "missing" if found is None else f"must be {what}, got {kind_of(found)}"
