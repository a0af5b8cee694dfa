"""A loaded scenario: its steps, each with its templates compiled and its place in the file."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from billing_sandbox.scenarios.templates import Expr, Node, Now, PathTemplate, Today

# The control API's own name for itself, as the app's specs are keyed (`control.API.name`).
CONTROL = "sandbox"
# Where a control step's path is, when it does not begin with /_sandbox.
CONTROL_PREFIX = "/_sandbox"
TENANT_PREFIX = "/_sandbox/tenants/${tenant}"


@dataclass(frozen=True)
class Request:
    """A request a step sends: method, path, query and body, templates compiled."""

    method: str
    path: PathTemplate
    query: Node | None = None
    body: Node | None = None

    def exprs(self) -> Iterator[Expr]:
        yield from self.path.exprs()
        for node in (self.query, self.body):
            if node is not None:
                yield from node.exprs()


def _needs_clock(exprs: Iterator[Expr]) -> bool:
    return any(isinstance(expr, Now | Today) for expr in exprs)


@dataclass(frozen=True)
class Call:
    """A vendor API call, made as the API's client would make it for the tenant."""

    location: str
    name: str | None
    api: str
    request: Request
    # Whether a template reads the tenant's clock (it is then read before the step runs).
    needs_clock: bool = False

    @classmethod
    def of(cls, location: str, name: str | None, api: str, request: Request) -> Call:
        return cls(location, name, api, request, _needs_clock(request.exprs()))


@dataclass(frozen=True)
class Control:
    """A control API call; its path is under /_sandbox (the tenant's, or as written)."""

    location: str
    name: str | None
    request: Request
    needs_clock: bool = False

    @classmethod
    def of(cls, location: str, name: str | None, request: Request) -> Control:
        return cls(location, name, request, _needs_clock(request.exprs()))


@dataclass(frozen=True)
class Clock:
    """The tenant's clock: freeze at an instant, advance by a duration, or resume."""

    location: str
    name: str | None
    action: str  # "freeze", "advance" or "resume"
    value: Node | None  # the instant or the duration (text, or whole seconds)
    needs_clock: bool = False

    @classmethod
    def of(cls, location: str, name: str | None, action: str, value: Node | None) -> Clock:
        exprs = iter(()) if value is None else value.exprs()
        return cls(location, name, action, value, _needs_clock(exprs))


@dataclass(frozen=True)
class Repeat:
    """Its steps, `count` times, with the round (from 0) in the loop variable `var`."""

    location: str
    count: int
    var: str
    steps: tuple[Step, ...]


Step = Call | Control | Clock | Repeat


def walk(steps: tuple[Step, ...]) -> Iterator[Call | Control | Clock]:
    """Every step that sends a request, in the order written (a repeat's once)."""
    for step in steps:
        if isinstance(step, Repeat):
            yield from walk(step.steps)
        else:
            yield step


def expanded(steps: tuple[Step, ...]) -> int:
    """How many requests the steps send, with repeats unrolled."""
    return sum(
        step.count * expanded(step.steps) if isinstance(step, Repeat) else 1 for step in steps
    )


@dataclass(frozen=True)
class Scenario:
    """A scenario, checked against its format: the steps with their templates compiled."""

    name: str
    description: str
    apis: tuple[str, ...]
    seed: int
    steps: tuple[Step, ...]
    # The document as read (for listing it, or writing it back).
    document: Mapping[str, Any] = field(repr=False, compare=False)
    # The requests it sends, repeats unrolled.
    size: int = 0
