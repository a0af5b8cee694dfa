"""The route table picks exactly the route Starlette's router would, for any path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.routing import Match, Route

from billing_sandbox.app import create_app
from billing_sandbox.asgi.dispatch import RouteTable, SpecRoutesFirst
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


def test_a_method_no_route_takes_is_a_partial_match_as_the_router_finds_it() -> None:
    for route in ROUTES:
        scope = _scope(route.path.replace("{", "").replace("}", ""), method="BREW")
        expected = next(r for r in ROUTES if r.matches(scope)[0] is not Match.NONE)
        match, child = TABLE.matches(scope)
        assert (match, child["route"]) == (expected.matches(scope)[0], expected)
        assert match is Match.PARTIAL


def test_an_unknown_path_matches_nothing() -> None:
    assert TABLE.matches(_scope("/nowhere/at/all"))[0] is Match.NONE
    assert TABLE.matches({"type": "websocket", "path": "/billing-soas"})[0] is Match.NONE


class _Recorder:
    """An ASGI app (an object, as Starlette's routes take apps) that notes it was reached."""

    def __init__(self, reached: list[str], name: str) -> None:
        self.reached = reached
        self.name = name

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.reached.append(self.name)


def _shortcut(reached: list[str], detour: bool = False) -> SpecRoutesFirst:
    """One route, `GET /things/{id}`, first; "middleware" stands for the rest of the stack."""
    table = RouteTable([Route("/things/{id}", _Recorder(reached, "route"), methods=["GET"])])
    return SpecRoutesFirst(table, _Recorder(reached, "middleware"), lambda scope: detour)


async def _serve(app: SpecRoutesFirst, path: str, method: str = "GET") -> dict[str, Any]:
    scope = {**_scope(path, method), "headers": []}
    await app(scope, _never_called, _never_called)
    return scope


async def _never_called(*_: Any) -> Any:
    raise AssertionError("the shortcut itself neither reads nor sends")


@pytest.mark.anyio
async def test_a_request_the_table_serves_goes_straight_to_its_route() -> None:
    reached: list[str] = []
    scope = await _serve(_shortcut(reached), "/things/42")
    assert reached == ["route"]
    assert scope["path_params"] == {"id": "42"}


@pytest.mark.anyio
async def test_a_detoured_request_goes_through_the_middleware() -> None:
    reached: list[str] = []
    await _serve(_shortcut(reached, detour=True), "/things/42")
    assert reached == ["middleware"]


@pytest.mark.anyio
async def test_an_unknown_path_or_method_goes_through_the_middleware() -> None:
    reached: list[str] = []
    await _serve(_shortcut(reached), "/elsewhere")
    await _serve(_shortcut(reached), "/things/42", method="DELETE")
    assert reached == ["middleware", "middleware"]


def test_a_converted_parameter_comes_out_as_starlettes_route_gives_it() -> None:
    route = Route("/pages/{number:int}/{slug}", _Recorder([], "route"))
    table = RouteTable([route])
    scope = _scope("/pages/42/intro")
    match, child = table.matches(scope)
    assert match is Match.FULL
    assert (
        child["path_params"]
        == route.matches(scope)[1]["path_params"]
        == {
            "number": 42,
            "slug": "intro",
        }
    )
