"""RouteTable: find a request's route by the shape of its path instead of trying each in turn.

Starlette's router tries its routes one after the other, a regular expression each: with the
three APIs and the control API that is about a hundred routes, and a MYCURE request tried
some fifty before reaching its own. The table looks up the few routes whose path has as many
segments and the same first segment, then lets each of those decide, in the order they were
given, exactly as the router would have: same matches, same path parameters, same precedence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Match, NoMatchFound, Route
from starlette.types import Receive, Scope, Send

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


class RouteTable(BaseRoute):
    """Many routes, as one: `matches` finds the route a request is for among its candidates."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = list(routes)
        shapes: dict[tuple[int, str | None], list[Route]] = {}
        for route in self.routes:
            count, first = _shape(route.path)
            shapes.setdefault((count, _ANY if "{" in first else first), [])
        # A route whose first segment is a parameter is a candidate for every first segment;
        # each list keeps the routes in the order given, as the router would try them.
        for route in self.routes:
            count, first = _shape(route.path)
            for key in shapes:
                if key[0] == count and (key[1] == first or "{" in first):
                    shapes[key].append(route)
        self._candidates = shapes

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        count, first = _shape(_route_path(scope))
        candidates = self._candidates.get((count, first)) or self._candidates.get((count, _ANY))
        for route in candidates or ():
            match, child_scope = route.matches(scope)
            if match is not Match.NONE:
                # Starlette's router records the route it matched as `scope["route"]`; the
                # table's choice replaces itself there, and `handle` passes the request on.
                return match, {**child_scope, "route": route}
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
