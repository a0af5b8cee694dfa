"""What goes wrong with a scenario: a problem in its file (and where), or a step that failed."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from billing_sandbox.errors import PathItem

_PLAIN_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")


def at(location: str, *path: PathItem) -> str:
    """`location` followed by `path`: `at("steps[3]", "body", "items", 0)` is
    `steps[3].body.items[0]`. A key that is not a plain word is quoted (`["a b"]`)."""
    text = location
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += "[" + orjson.dumps(part).decode() + "]"
    return text


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario file, and where: `steps[2].steps[0].call`."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message

    def as_json(self) -> dict[str, str]:
        return {"location": self.location, "message": self.message}


class ScenarioInvalid(Exception):
    """A scenario refused before anything ran, with every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        listed = "; ".join(str(problem) for problem in self.problems[:10])
        more = len(self.problems) - 10
        super().__init__(listed + (f" (and {more} more)" if more > 0 else ""))

    def as_json(self) -> dict[str, Any]:
        return {
            "error": "ScenarioInvalid",
            "message": str(self),
            "problems": [problem.as_json() for problem in self.problems],
        }


class StepFailed(Exception):
    """A step the vendor (or the control API) refused, or one that could not be made: the tenant
    was put back as it was before the scenario (`rolled_back`).

    `index` counts the steps run, from 0 (a repeat's steps count once per round); `location`
    is where the step is written (`steps[2].steps[0]`) and `loop` the round of each repeat
    around it (`{"i": 3}`). `request` is what was sent (method, path, query, body; never the
    credentials) and `answer` the status and body that came back, or None when the step
    failed before it was sent (`reason` says why)."""

    def __init__(
        self,
        index: int,
        name: str | None,
        request: Mapping[str, Any],
        answer: Mapping[str, Any] | None,
        reason: str = "",
        *,
        location: str = "",
        loop: Mapping[str, int] | None = None,
    ) -> None:
        self.index = index
        self.name = name
        self.request = dict(request)
        self.answer = None if answer is None else dict(answer)
        self.reason = reason
        self.location = location
        self.loop = dict(loop or {})
        self.rolled_back = False
        super().__init__(self._message())

    def _message(self) -> str:
        where = ", ".join(
            part
            for part in (
                self.location,
                *(f"{var}={value}" for var, value in self.loop.items()),
                f"named {self.name!r}" if self.name else "",
            )
            if part
        )
        said = f"step {self.index}" + (f" ({where})" if where else "")
        sent = f"{self.request.get('method', '')} {self.request.get('path', '')}".strip()
        if self.answer is None:
            return f"{said} failed before it was sent: {self.reason}"
        body = orjson.dumps(self.answer.get("body")).decode()
        if len(body) > 500:
            body = body[:497] + "..."
        return f"{said} failed: {sent} answered {self.answer.get('status')}: {body}"

    def as_json(self) -> dict[str, Any]:
        return {
            "error": "StepFailed",
            "message": str(self),
            "index": self.index,
            "name": self.name,
            "location": self.location,
            "loop": self.loop,
            "request": self.request,
            "answer": self.answer,
            "reason": self.reason,
            "rolledBack": self.rolled_back,
        }


def refused(problems: Iterable[Problem]) -> None:
    """Raise `ScenarioInvalid` when there is any problem."""
    found = list(problems)
    if found:
        raise ScenarioInvalid(found)
