"""Which operation of a spec a step's METHOD and path reach (a templated segment matches any)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote

from billing_sandbox.scenarios.templates import UNKNOWN, Context, PathTemplate, Static
from billing_sandbox.spec.document import Operation, Spec

_PARAMETER = re.compile(r"\{([^}/]+)\}")


@dataclass(frozen=True)
class _Segment:
    literal: str | None  # the segment as written, when it holds no parameter
    pattern: re.Pattern[str] | None  # else what it matches, a group per parameter


@dataclass(frozen=True)
class _Route:
    operation: Operation
    segments: tuple[_Segment, ...]


@dataclass(frozen=True)
class Reached:
    """The operation a step's request reaches, and its path parameters: those in segments
    written without templates (`literal`), and the segments with templates that hold others."""

    operation: Operation
    literal: dict[str, str]
    templated: tuple[tuple[int, re.Pattern[str]], ...]

    def parameters(self, path: PathTemplate, ctx: Context) -> tuple[dict[str, str], set[str]]:
        """The path parameters' values with templates rendered by `ctx`, and the parameters
        whose value it cannot know."""
        values = dict(self.literal)
        unknown: set[str] = set()
        for index, pattern in self.templated:
            rendered = path.segment(index, ctx)
            matched = None if rendered is UNKNOWN else pattern.fullmatch(unquote(rendered))
            if matched is None:
                unknown.update(pattern.groupindex)
            else:
                values.update(matched.groupdict())
        return values, unknown


def _segment(text: str) -> _Segment:
    if "{" not in text:
        return _Segment(text, None)
    pattern = ""
    position = 0
    for found in _PARAMETER.finditer(text):
        pattern += re.escape(text[position : found.start()]) + f"(?P<{found.group(1)}>[^/]+)"
        position = found.end()
    pattern += re.escape(text[position:])
    return _Segment(None, re.compile(pattern))


@lru_cache(maxsize=16)
def _routes(spec: Spec) -> dict[str, tuple[_Route, ...]]:
    """The spec's operations by method, in the spec's order (as the server tries them)."""
    by_method: dict[str, list[_Route]] = {}
    for operation in spec.operations:
        segments = tuple(_segment(part) for part in operation.path.split("/")[1:])
        by_method.setdefault(operation.method, []).append(_Route(operation, segments))
    return {method: tuple(routes) for method, routes in by_method.items()}


def reach(spec: Spec, method: str, path: PathTemplate) -> Reached | None:
    """The operation `method` and `path` reach in `spec`, or None. Of several, the one whose
    segments written without templates match most literally; then the spec's first."""
    best: tuple[int, Reached] | None = None
    for route in _routes(spec).get(method, ()):
        if len(route.segments) != len(path.segments):
            continue
        found = _match(route, path)
        if found is not None and (best is None or found[0] > best[0]):
            best = found
    return None if best is None else best[1]


def _match(route: _Route, path: PathTemplate) -> tuple[int, Reached] | None:
    score = 0
    literal: dict[str, str] = {}
    templated: list[tuple[int, re.Pattern[str]]] = []
    for index, (segment, node) in enumerate(zip(route.segments, path.segments, strict=True)):
        if not isinstance(node, Static):
            if segment.pattern is not None:
                templated.append((index, segment.pattern))
            continue
        text = str(node.value)
        if segment.literal is not None:
            if text != segment.literal:
                return None
            score += 1
            continue
        matched = None if segment.pattern is None else segment.pattern.fullmatch(text)
        if matched is None:
            return None
        literal.update(matched.groupdict())
    return score, Reached(route.operation, literal, tuple(templated))


def closest(spec: Spec, method: str, path: PathTemplate) -> list[str]:
    """The operations most like `method path`, as `METHOD /path`, for a message."""
    written = f"{method} {path.written}"
    known = [f"{op.method} {op.path}" for op in spec.operations]
    return difflib.get_close_matches(written, known, n=3, cutoff=0.5)
