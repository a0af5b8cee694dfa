"""Routes built from a spec: one per path, each through the wrapper (`pipeline/wrapper.py`), and the
start-up check that the spec and the handlers have not drifted apart."""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Sequence
from types import ModuleType

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from billing_sandbox.api import Api
from billing_sandbox.events.courier import Courier
from billing_sandbox.pipeline.wrapper import Handler, wrap
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.spec.document import Operation, Spec

# Starlette gives a function endpoint only GET unless told otherwise; every route takes all of
# these and answers those its path does not declare itself.
EVERY_METHOD = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


class SpecDrift(RuntimeError):
    """The spec and the handlers module disagree; the server refuses to start."""


def handler_name(operation_id: str) -> str:
    """`getWriteOff` → `get_write_off`; `revert-era` → `revert_era`."""
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", operation_id)
    return re.sub(r"[^0-9a-zA-Z]+", "_", snake).lower()


def bind_handlers(api: Api, spec: Spec, more: Sequence[ModuleType] = ()) -> dict[str, Handler]:
    """Map each operationId to its handler (in `api.handlers`, or in one of `more`), or fail
    loudly naming what is missing on each side."""
    modules = (api.handlers, *more)
    defined: dict[str, Handler] = {}
    owner: dict[str, str] = {}
    for module in modules:
        for name, fn in inspect.getmembers(module, inspect.iscoroutinefunction):
            if not name.startswith("_") and fn.__module__ == module.__name__:
                defined[name] = fn
                owner[name] = module.__name__
    named = " or ".join(module.__name__ for module in modules)
    wanted = {handler_name(op.operation_id): op.operation_id for op in spec.operations}
    problems = [
        f"operation {op_id!r} has no handler `{name}` in {named}"
        for name, op_id in wanted.items()
        if name not in defined
    ] + [
        f"handler `{name}` in {owner[name]} has no operation in {spec.path.name}"
        for name in defined
        if name not in wanted
    ]
    if problems:
        raise SpecDrift("spec and handlers have drifted apart:\n  " + "\n  ".join(problems))
    return {op_id: defined[name] for name, op_id in wanted.items()}


def build_routes(
    api: Api,
    spec: Spec,
    sandbox: Sandbox,
    more_handlers: Sequence[ModuleType] = (),
    courier: Courier | None = None,
) -> list[Route]:
    """One Starlette route per path, dispatching by method. Routes take every method, so that
    an undeclared one is answered by the API itself: 405 in its envelope, `Allow` listing the
    declared methods. With a `courier`, a call that changed a tenant starts sending the events
    it made due, once its response is sent."""
    handlers = bind_handlers(api, spec, more_handlers)
    by_path: dict[str, dict[str, Operation]] = {}
    for op in spec.operations:
        by_path.setdefault(op.path, {})[op.method] = op
    routes = []
    for path, ops in by_path.items():
        endpoint = AsgiEndpoint(wrap(api, ops, handlers, sandbox, courier))
        paths = [path, path + "/"] if api.trailing_slash and not path.endswith("/") else [path]
        routes += [_exact(Route(p, endpoint, methods=EVERY_METHOD, name=p)) for p in paths]
    return routes


class AsgiEndpoint:
    """An endpoint as Starlette runs an ASGI app: the request, the answer, and nothing around
    them. (A function endpoint is wrapped in two more layers that turn exceptions into
    responses; ours never raises, it answers every error in its API's envelope itself.)"""

    def __init__(self, answer: Callable[[Request], Awaitable[Response]]) -> None:
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.answer(Request(scope, receive, send))
        await response(scope, receive, send)


def _exact(route: Route) -> Route:
    """Anchor the route's pattern at the very end of the path. Starlette ends it with `$`,
    which also matches before a final newline, so `/things/%0A` (an id of "\n") would reach
    the collection route `/things/` instead of `/things/{id}`."""
    pattern = route.path_regex.pattern
    if pattern.endswith("$"):
        route.path_regex = re.compile(pattern[:-1] + r"\Z")
    return route
