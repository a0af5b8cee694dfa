"""RouteTable: find a request's route by the shape of its path instead of trying each in turn.

Starlette's router tries its routes one after the other, a regular expression each: with the
three APIs and the control API that is about a hundred routes, and a MYCURE request tried
some fifty before reaching its own. The table looks up the few routes whose path has as many
segments and the same first segment, then lets each of those decide, in the order they were
given, exactly as the router would have: same matches, same path parameters, same precedence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from starlette.convertors import StringConvertor
from starlette.routing import BaseRoute, Match, NoMatchFound, Route
from starlette.types import ASGIApp, Receive, Scope, Send

_ANY = None  # the key of routes whose first segment is a parameter


def _shape(path: str) -> tuple[int, str]:
    """How many segments a path has, and its first one: `/billing-soas/x` → (2, "billing-soas")."""
    parts = path.split("/", 2)
    return path.count("/"), parts[1] if len(parts) > 1 else ""


def _route_path(scope: Scope) -> str:
    """The path below the app's mount point (`root_path`), which routes are written against."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root + "/"):
        return path[len(root) :]
    return path


class _Candidate(NamedTuple):
    """A route as the table tries it: its pattern, and whether a parameter is converted."""

    pattern: re.Pattern[str]
    route: Route
    converts: bool  # False: every parameter is kept as the text it matched (`{id}`)
    # A route without parameters: the one path its pattern matches, compared as a string
    # (no regular expression run for a path that is plainly another).
    literal: str | None


class RouteTable(BaseRoute):
    """Many routes, as one: `matches` finds the route a request is for among its candidates."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = list(routes)
        shapes: dict[tuple[int, str | None], list[_Candidate]] = {}
        for route in self.routes:
            count, first = _shape(route.path)
            shapes.setdefault((count, _ANY if "{" in first else first), [])
        # A route whose first segment is a parameter is a candidate for every first segment;
        # each list keeps the routes in the order given, as the router would try them.
        for route in self.routes:
            count, first = _shape(route.path)
            converts = not all(
                isinstance(c, StringConvertor) for c in route.param_convertors.values()
            )
            for key in shapes:
                if key[0] == count and (key[1] == first or "{" in first):
                    literal = None if route.param_convertors else route.path
                    shapes[key].append(_Candidate(route.path_regex, route, converts, literal))
        self._candidates = shapes

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """What Starlette's router would find, as `Route.matches` says it, with less work (this
        runs on every request): the shape of the path is read in place, and a parameter kept
        as text is not converted."""
        if scope["type"] != "http":
            return Match.NONE, {}
        path = _route_path(scope)
        slash = path.find("/", 1)
        shape = (path.count("/"), path[1:slash] if slash > 0 else path[1:])
        candidates = self._candidates.get(shape) or self._candidates.get((shape[0], _ANY))
        for pattern, route, converts, literal in candidates or ():
            if literal is not None:
                if path != literal:
                    continue
                params: dict[str, Any] = {}
            else:
                found = pattern.match(path)
                if found is None:
                    continue
                params = found.groupdict()
            if converts:
                converters = route.param_convertors
                params = {name: converters[name].convert(text) for name, text in params.items()}
            given = scope.get("path_params")
            # Starlette's router records the route it matched as `scope["route"]`; the
            # table's choice replaces itself there, and `handle` passes the request on.
            child = {
                "endpoint": route.endpoint,
                "path_params": {**given, **params} if given else params,
                "route": route,
            }
            methods = route.methods
            if methods and scope["method"] not in methods:
                return Match.PARTIAL, child
            return Match.FULL, child
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope["route"].handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                continue
        raise NoMatchFound(name, path_params)


class SpecRoutesFirst:
    """An app that hands a request the table serves straight to its route, unless `detour`
    says it needs the whole `app` (its middleware); every other request goes to `app`."""

    def __init__(self, table: RouteTable, app: ASGIApp, detour: Callable[[Scope], bool]) -> None:
        self.table = table
        self.app = app
        self.detour = detour

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.detour(scope):
            match, child_scope = self.table.matches(scope)
            # FULL only: a method no route takes is the router's to answer (its 405).
            if match is Match.FULL:
                scope.update(child_scope)
                await child_scope["route"].app(scope, receive, send)
                return
        await self.app(scope, receive, send)
