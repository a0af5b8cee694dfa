"""The `${...}` language, compiled: what each template stands for, and values holding templates,
rendered at each step a scenario runs (`parsing.py` reads them once, when it loads).

`${step.field[0].x}` an earlier named step's answer, `${tenant}`, a loop variable (`${i}`),
`${now - 30d}` an instant and `${today - 90d}` a date on the tenant's clock, `${fake.name}` a
seeded Faker draw. A string that is exactly one template keeps the value's JSON type; any other
is text, values written as JSON would write them. `$${` writes a literal `${`.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

import orjson

from billing_sandbox.errors import PathItem

# What a rendered value stands in place of in a path: the characters a segment may hold as
# they are (RFC 3986's pchar); anything else, a `/` included, is percent-escaped.
_PATH_SAFE = "-._~!$&'()*+,;=:@"


class RenderError(Exception):
    """A template that cannot be rendered now: an answer without the field named."""


class _Unknown:
    """What a value stands for that is known only when the scenario runs (an answer's field)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


class Context(Protocol):
    """What templates are rendered with: the run's values, or a check's stand-ins."""

    @property
    def tenant(self) -> str: ...

    def loop(self, name: str) -> int: ...

    def reference(self, ref: Reference) -> Any: ...

    def now(self) -> datetime: ...

    def fake(self, provider: str) -> Any: ...


def instant(moment: datetime) -> str:
    """An instant as templates write it: ISO 8601 in UTC, with `Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def instant_problem(text: str) -> str:
    """Why `text` is not an instant a clock can be frozen at ('' when it is one)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        return (
            f"{text!r} is not an instant: write one with its zone (2026-01-31T09:00:00Z) "
            "or a template (${now - 30d})"
        )
    return ""


# ---- expressions: what one `${...}` stands for ----


@dataclass(frozen=True, slots=True)
class Expr(abc.ABC):
    """What one `${...}` stands for; each kind says how it is worked out."""

    text: str  # as written between the braces, for messages

    @abc.abstractmethod
    def value(self, ctx: Context) -> Any:
        """The value, at the moment the step runs."""


@dataclass(frozen=True, slots=True)
class Tenant(Expr):
    def value(self, ctx: Context) -> Any:
        return ctx.tenant


@dataclass(frozen=True, slots=True)
class Now(Expr):
    offset: timedelta

    def value(self, ctx: Context) -> Any:
        try:
            return instant(ctx.now() + self.offset)
        except OverflowError:
            raise RenderError(f"${{{self.text}}} is past the calendar's end") from None


@dataclass(frozen=True, slots=True)
class Today(Expr):
    offset: timedelta

    def value(self, ctx: Context) -> Any:
        try:
            return (ctx.now().astimezone(UTC) + self.offset).date().isoformat()
        except OverflowError:
            raise RenderError(f"${{{self.text}}} is past the calendar's end") from None


@dataclass(frozen=True, slots=True)
class Fake(Expr):
    provider: str

    def value(self, ctx: Context) -> Any:
        return ctx.fake(self.provider)


@dataclass(frozen=True, slots=True)
class Loop(Expr):
    name: str

    def value(self, ctx: Context) -> Any:
        return ctx.loop(self.name)


@dataclass(frozen=True, slots=True)
class Reference(Expr):
    step: str
    path: tuple[PathItem, ...]

    def value(self, ctx: Context) -> Any:
        return ctx.reference(self)

    def within(self, answer: Any) -> Any:
        """The field this reference names in `answer` (its step's answer)."""
        value = answer
        for depth, part in enumerate(self.path):
            if _holds(value, part):
                value = value[part]
                continue
            walked = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.path[:depth])
            within = f" at {walked}" if walked else ""
            raise RenderError(
                f"${{{self.text}}}: the answer of step {self.step!r}{within}"
                f" has no {'item' if isinstance(part, int) else 'field'} {part!r}"
                f" (it is {_shape(value)})"
            )
        return value


def _holds(value: Any, part: PathItem) -> bool:
    if isinstance(part, int):
        return isinstance(value, list) and -len(value) <= part < len(value)
    return isinstance(value, dict) and part in value


def _shape(value: Any) -> str:
    if isinstance(value, dict):
        keys = ", ".join(list(value)[:8])
        return f"an object with {keys}" if keys else "an empty object"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return "null" if value is None else f"the {type(value).__name__} {value!r}"[:80]


# ---- values: a string, list or object with templates inside, compiled ----


class Node(abc.ABC):
    """A value as written, ready to render; `exprs()` lists the templates inside."""

    __slots__ = ()

    @abc.abstractmethod
    def render(self, ctx: Context) -> Any:
        """The value with every template in it worked out."""

    def exprs(self) -> Iterator[Expr]:
        return iter(())


@dataclass(frozen=True, slots=True)
class Static(Node):
    """A value with no template in it: rendered as itself (shared, never changed)."""

    value: Any

    def render(self, ctx: Context) -> Any:
        return self.value


@dataclass(frozen=True, slots=True)
class Whole(Node):
    """A string that is exactly one template: the value, of its own JSON type."""

    expr: Expr

    def render(self, ctx: Context) -> Any:
        return self.expr.value(ctx)

    def exprs(self) -> Iterator[Expr]:
        yield self.expr


@dataclass(frozen=True, slots=True)
class Text(Node):
    """A string of text and templates: the values written in as text."""

    parts: tuple[str | Expr, ...]

    def render(self, ctx: Context) -> Any:
        return self.text(ctx, _as_text)

    def text(self, ctx: Context, written: Any) -> Any:
        pieces = []
        for part in self.parts:
            if isinstance(part, str):
                pieces.append(part)
                continue
            value = part.value(ctx)
            if value is UNKNOWN:
                return UNKNOWN
            pieces.append(written(value))
        return "".join(pieces)

    def exprs(self) -> Iterator[Expr]:
        return (part for part in self.parts if isinstance(part, Expr))


@dataclass(frozen=True, slots=True)
class Items(Node):
    """An object with templates inside (keys are never templates)."""

    items: tuple[tuple[str, Node], ...]

    def render(self, ctx: Context) -> Any:
        return {key: node.render(ctx) for key, node in self.items}

    def exprs(self) -> Iterator[Expr]:
        return (expr for _, node in self.items for expr in node.exprs())


@dataclass(frozen=True, slots=True)
class Listed(Node):
    """A list with templates inside."""

    items: tuple[Node, ...]

    def render(self, ctx: Context) -> Any:
        return [node.render(ctx) for node in self.items]

    def exprs(self) -> Iterator[Expr]:
        return (expr for node in self.items for expr in node.exprs())


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _in_path(value: Any) -> str:
    return quote(_as_text(value), safe=_PATH_SAFE)


@dataclass(frozen=True, slots=True)
class PathTemplate:
    """A request path (`/billing/charge/get/${charge.id}`), split into segments; a rendered
    value is percent-escaped, so that it stays within its segment."""

    written: str
    segments: tuple[Node, ...]

    def render(self, ctx: Context) -> str:
        return "/" + "/".join(self.segment(index, ctx) for index in range(len(self.segments)))

    def segment(self, index: int, ctx: Context) -> Any:
        """The segment's text, or UNKNOWN when it holds a value known only at run time."""
        node = self.segments[index]
        if isinstance(node, Static):
            return str(node.value)
        if isinstance(node, Whole):
            value = node.expr.value(ctx)
            return UNKNOWN if value is UNKNOWN else _in_path(value)
        if isinstance(node, Text):
            return node.text(ctx, _in_path)
        raise TypeError(f"a path segment is text: {node!r}")

    def exprs(self) -> Iterator[Expr]:
        return (expr for node in self.segments for expr in node.exprs())
