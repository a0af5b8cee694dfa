"""Reading the `${...}` language: a scenario's strings parsed once, when it loads, into the values
`templates.py` renders; each name a template uses checked against what is there to name."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from billing_sandbox.errors import PathItem
from billing_sandbox.scenarios import fakes
from billing_sandbox.scenarios.durations import MAX_SECONDS, parse_duration
from billing_sandbox.scenarios.templates import (
    Expr,
    Fake,
    Items,
    Listed,
    Loop,
    Node,
    Now,
    PathTemplate,
    Reference,
    Static,
    Tenant,
    Text,
    Today,
    Whole,
)

# Names a step or a loop variable may not take: templates mean something else by them.
RESERVED = frozenset({"tenant", "now", "today", "fake"})

_OPENING = re.compile(r"\$\$\{|\$\{")
_HEAD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIELD = re.compile(r"\.([A-Za-z_$][A-Za-z0-9_$-]*)")
_INDEX = re.compile(r"\[\s*(-?[0-9]{1,9})\s*\]")
_KEY = re.compile(r"""\[\s*(?:"([^"]*)"|'([^']*)')\s*\]""")
_TERM = re.compile(r"\s*([+-])\s*([^\s+-]*)")
_CALL = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\s*\(")
FORMS = (
    "a template is an earlier step's answer (name or name.field[0]), tenant, now, today "
    "(each ± a duration such as 30d), fake.<provider> or a repeat's loop variable"
)


class TemplateError(ValueError):
    """A template that cannot be read, or names what does not exist."""


@dataclass(frozen=True)
class Scope:
    """What a template may name where it is written: the loop variables around it (innermost
    last), the named steps before it and where each is, every named step of the file, and its
    own step's name."""

    loop_vars: tuple[str, ...] = ()
    earlier: Mapping[str, str] = field(default_factory=dict)
    everywhere: Mapping[str, str] = field(default_factory=dict)
    own: str | None = None


Errors = list[tuple[tuple[PathItem, ...], str]]


def compile_value(value: Any, scope: Scope, errors: Errors) -> Node:
    """`value` (JSON) with its strings' templates parsed; each error is noted with the path
    to the string it is in."""
    return _compile(value, scope, errors, ())


def _compile(value: Any, scope: Scope, errors: Errors, path: tuple[PathItem, ...]) -> Node:
    if isinstance(value, str):
        try:
            return compile_string(value, scope)
        except TemplateError as error:
            errors.append((path, str(error)))
            return Static(value)
    if isinstance(value, dict):
        items = tuple(
            (key, _compile(item, scope, errors, (*path, key))) for key, item in value.items()
        )
        if all(isinstance(node, Static) for _, node in items):
            # Rebuilt, not `value`: a `$${` inside has been read as a literal `${`.
            return Static({key: node.value for key, node in items})  # type: ignore[attr-defined]
        return Items(items)
    if isinstance(value, list):
        nodes = tuple(
            _compile(item, scope, errors, (*path, index)) for index, item in enumerate(value)
        )
        if all(isinstance(node, Static) for node in nodes):
            return Static([node.value for node in nodes])  # type: ignore[attr-defined]
        return Listed(nodes)
    return Static(value)


def compile_string(text: str, scope: Scope) -> Node:
    parts = _parts(text, scope)
    if not parts:
        return Static("")
    if len(parts) == 1 and isinstance(parts[0], str):
        return Static(parts[0])
    if len(parts) == 1 and isinstance(parts[0], Expr):
        return Whole(parts[0])
    return Text(tuple(parts))


def compile_path(text: str, scope: Scope) -> PathTemplate:
    """A path written in a step (it begins with `/`), split at each `/` outside a template."""
    segments = []
    for segment in _split_path(text[1:]):
        segments.append(compile_string(segment, scope))
    return PathTemplate(text, tuple(segments))


def _split_path(text: str) -> list[str]:
    """`a/${x["p/q"]}/b` → `a`, `${x["p/q"]}`, `b`: a `/` inside a template does not split."""
    segments: list[str] = []
    start = position = 0
    while position < len(text):
        if text.startswith("$${", position):
            position += 3
        elif text.startswith("${", position):
            end = text.find("}", position)
            position = len(text) if end == -1 else end + 1
        elif text[position] == "/":
            segments.append(text[start:position])
            start = position = position + 1
        else:
            position += 1
    segments.append(text[start:])
    return segments


def _parts(text: str, scope: Scope) -> list[str | Expr]:
    """The text and templates `text` is made of, adjacent text joined."""
    if "${" not in text:
        return [text] if text else []
    parts: list[str | Expr] = []
    literal = ""
    position = 0
    while (found := _OPENING.search(text, position)) is not None:
        literal += text[position : found.start()]
        position = found.end()
        if found.group() == "$${":
            literal += "${"
            continue
        end = text.find("}", position)
        if end == -1:
            raise TemplateError(f"'${{' at character {found.start()} is never closed with '}}'")
        if literal:
            parts.append(literal)
            literal = ""
        parts.append(parse_expr(text[position:end], scope))
        position = end + 1
    literal += text[position:]
    if literal:
        parts.append(literal)
    return parts


def parse_expr(written: str, scope: Scope) -> Expr:
    """One template's expression (the text between `${` and `}`)."""
    text = written.strip()
    if not text:
        raise TemplateError("'${}' is empty: " + FORMS)
    if text == "tenant":
        return Tenant(text)
    head = _HEAD.match(text)
    if head is not None and head.group() in ("now", "today"):
        return _clock_expr(text, head.group(), text[head.end() :])
    if _CALL.match(text):
        name = text[: text.index("(")].strip()
        raise TemplateError(f"${{{text}}}: there is no function {name!r}: {FORMS}")
    if head is not None and head.group() == "fake":
        return _fake(text)
    if head is None or not head.group()[0].islower():
        raise TemplateError(f"${{{text}}} cannot be read: {FORMS}")
    return _named(text, head.group(), text[head.end() :], scope)


def _clock_expr(text: str, head: str, rest: str) -> Expr:
    seconds, position = 0, 0
    while position < len(rest):
        term = _TERM.match(rest, position)
        if term is None or term.end() == position:
            break
        sign, duration = term.groups()
        try:
            amount = parse_duration(duration)
        except ValueError as error:
            raise TemplateError(f"${{{text}}}: {error}") from None
        if head == "today" and amount % 86_400:
            raise TemplateError(
                f"${{{text}}}: today moves by whole days (d); now by hours, minutes or seconds"
            )
        seconds += amount if sign == "+" else -amount
        position = term.end()
    if rest[position:].strip():
        raise TemplateError(
            f"${{{text}}}: after {head}, only + or - a duration (30d, 2h, 1d12h) may follow"
        )
    if abs(seconds) > MAX_SECONDS:
        raise TemplateError(f"${{{text}}} moves the clock by more than a century")
    offset = timedelta(seconds=seconds)
    return Now(text, offset) if head == "now" else Today(text, offset)


def _fake(text: str) -> Expr:
    provider = text.removeprefix("fake").strip()
    if not provider.startswith(".") or not provider[1:].strip():
        raise TemplateError(f"${{{text}}}: name a Faker provider, as fake.first_name")
    name = provider[1:].strip()
    known = fakes.providers()
    if name not in known:
        close = difflib.get_close_matches(name, sorted(known), n=3)
        hint = f" (did you mean {', '.join('fake.' + c for c in close)}?)" if close else ""
        why = (
            " (its values depend on the day or the machine, not only on the seed: use now or today)"
            if name in fakes.UNSTABLE
            else " (its values are not JSON)"
            if name in fakes.NOT_JSON
            else hint
        )
        raise TemplateError(
            f"${{{text}}}: {name!r} is not a Faker provider a scenario can use{why}"
        )
    return Fake(text, name)


def _named(text: str, head: str, rest: str, scope: Scope) -> Expr:
    path: list[PathItem] = []
    position = 0
    while position < len(rest):
        for pattern in (_FIELD, _INDEX, _KEY):
            step = pattern.match(rest, position)
            if step is not None:
                break
        else:
            raise TemplateError(
                f"${{{text}}} cannot be read after {rest[:position] or head!r}: "
                'fields are written .name, [0] or ["name"]'
            )
        if pattern is _INDEX:
            path.append(int(step.group(1)))
        elif pattern is _KEY:
            path.append(step.group(1) if step.group(1) is not None else step.group(2))
        else:
            path.append(step.group(1))
        position = step.end()
    if head in scope.loop_vars:
        if path:
            raise TemplateError(
                f"${{{text}}}: the loop variable {head!r} is a number, with no fields"
            )
        return Loop(text, head)
    if head in scope.earlier:
        return Reference(text, head, tuple(path))
    if head == scope.own:
        raise TemplateError(
            f"${{{text}}} refers to its own step: a step can use only earlier answers"
        )
    if head in scope.everywhere:
        raise TemplateError(
            f"${{{text}}} refers to step {head!r} ({scope.everywhere[head]}), which comes later: "
            "a step can use only the answers of steps before it (so references never form a cycle)"
        )
    names = [*scope.loop_vars, *scope.earlier]
    close = difflib.get_close_matches(head, names, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise TemplateError(f"${{{text}}}: no step or loop variable is named {head!r}{hint}")
