"""The route table picks exactly the route Starlette's router would, for any path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.routing import Match, Route

from billing_sandbox.app import create_app
from billing_sandbox.dispatch import RouteTable
from billing_sandbox.settings import Settings

TABLE = next(r for r in create_app(Settings(records=5)).router.routes if isinstance(r, RouteTable))
ROUTES: list[Route] = TABLE.routes
SEGMENTS = sorted(
    {part for route in ROUTES for part in route.path.split("/") if "{" not in part}
    | {"x", "42", "%0A", "\n", "", "ch_1", "tenant.test"}
)


def _linear(scope: dict[str, Any]) -> tuple[Route | None, Mapping[str, Any]]:
    """What Starlette's router does: the first route that matches, in order."""
    for route in ROUTES:
        match, child = route.matches(scope)
        if match is Match.FULL:
            return route, child
    return None, {}


def _scope(path: str, method: str = "GET", root_path: str = "") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": root_path + path, "root_path": root_path}


def _same_choice(scope: dict[str, Any]) -> None:
    expected, expected_child = _linear(scope)
    match, child = TABLE.matches(scope)
    if expected is None:
        assert match is Match.NONE, scope["path"]
        return
    assert match is Match.FULL and child["route"] is expected, scope["path"]
    assert child["path_params"] == expected_child["path_params"]


def test_every_route_of_every_spec_is_found_by_its_own_path() -> None:
    for route in ROUTES:
        path = route.path.replace("{", "").replace("}", "")  # a parameter's name as its value
        _same_choice(_scope(path))
        _same_choice(_scope(path, root_path="/behind/a/proxy"))


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(SEGMENTS), min_size=0, max_size=7), st.booleans())
def test_any_path_gets_the_route_the_router_would_pick(parts: list[str], slash: bool) -> None:
    _same_choice(_scope("/" + "/".join(parts) + ("/" if slash else "")))


def test_an_unknown_path_matches_nothing() -> None:
    assert TABLE.matches(_scope("/nowhere/at/all"))[0] is Match.NONE
    assert TABLE.matches({"type": "websocket", "path": "/billing-soas"})[0] is Match.NONE
