"""Routes built from a spec, and the one wrapper every operation of every API goes through."""

from __future__ import annotations

import inspect
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from types import ModuleType
from typing import Any

import orjson
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from billing_sandbox import redaction, writeahead
from billing_sandbox.api import Api, Call, Caller
from billing_sandbox.control import requestlog
from billing_sandbox.control.edge import edge_answer
from billing_sandbox.control.faults import DropConnection, Effect
from billing_sandbox.control.injection import FAULT, FaultAnswer, after_the_call, inject_faults
from billing_sandbox.control.ratelimits import Quota
from billing_sandbox.control.wire import DroppedResponse
from billing_sandbox.errors import (
    ApiError,
    MethodNotAllowed,
    RateLimited,
    SandboxBug,
    StorageUnavailable,
    ValidationFailed,
)
from billing_sandbox.events.courier import Courier
from billing_sandbox.headers import has_header
from billing_sandbox.renders import FRESH, RenderSource, ValidBodies, composition
from billing_sandbox.responses import JsonBytes
from billing_sandbox.spec import params
from billing_sandbox.spec.body import MAX_JSON_DEPTH, MAX_SNAPSHOT_DEPTH, RAW_BODY, read_body
from billing_sandbox.spec.document import Operation, Spec
from billing_sandbox.tenancy import Sandbox

log = logging.getLogger("billing_sandbox")

Handler = Callable[[Call[Any]], Awaitable[Any]]

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
        endpoint = AsgiEndpoint(_endpoint(api, ops, handlers, sandbox, courier))
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


def _endpoint(
    api: Api,
    ops: dict[str, Operation],
    handlers: dict[str, Handler],
    sandbox: Sandbox,
    courier: Courier | None,
) -> Callable[[Request], Awaitable[Response]]:
    allowed = tuple(sorted({*ops, *(("HEAD",) if "GET" in ops else ())}))

    async def endpoint(request: Request) -> Response:
        method = request.scope["method"]
        op = ops.get(method) or (ops.get("GET") if method == "HEAD" else None)
        if op is None:
            error = MethodNotAllowed(method, allowed)
            response = _render(*api.render_error(error))
            response.headers["Allow"] = ", ".join(allowed)
            return response
        started = time.perf_counter()
        vendor = not api.operator  # the control API is neither faulted nor journaled
        caller = None
        problem = None
        quota = None
        # What the journal keeps: the sandbox's own answer, even when a fault lost it.
        answered: Response | None = None
        try:
            caller = _authenticate(api, op, request, sandbox)
            if vendor and caller is not None and sandbox.limits.active:
                quota = _spend(api, caller.tenant_id, sandbox)
            after = None
            # Most requests ask for no fault: skip the coroutine unless one could apply.
            if vendor and (sandbox.faults.rules or has_header(request.scope, b"prefer")):
                after = await inject_faults(request, op, api.name, caller, sandbox)
            call = await _parse(api, op, request, sandbox, caller)
            handler = handlers[op.operation_id]
            if op.changes_state and sandbox.changes.active:
                result = await writeahead.carry_out(api, op, call, handler)
            else:
                result = await handler(call)
            if not isinstance(result, Response):
                result = _respond(api, op, op.success_status, result, sandbox, call.renders)
            response = result
            if op.changes_state and response.status_code < 400:
                _mark_written(sandbox, call)
                tenant_id = call.tenant_id or call.path.get("tenant")
                if courier is not None and isinstance(tenant_id, str):
                    # After the response: `kick` only starts a task, so a slow or dead
                    # receiver never holds the connection (nor the next request on it). A
                    # call that changed nothing made nothing due: the periodic check covers
                    # what falls due as time passes.
                    response.background = BackgroundTask(courier.kick, tenant_id)
            if after is not None:
                # The call was carried out; now its answer is lost or reshaped.
                answered = response
                response = _lose(api, op, after, response, sandbox)
        except ApiError as error:
            response = _error_response(api, op, error, sandbox)
            problem = error
        except FaultAnswer as answer:
            response = answer.response
        except DropConnection:
            response = DroppedResponse()
        except Exception:
            log.exception("%s %s crashed", api.name, op.operation_id)
            bug = SandboxBug(f"the sandbox crashed in {op.operation_id}; this is a sandbox bug")
            response = _render(*api.render_error(bug))
            problem = bug
        if op.changes_state:
            _forget_renders(sandbox, request, caller)
        if quota is not None and api.rate_limit_headers:
            response.headers.update(_quota_headers(quota))
        if vendor:
            kept = answered or response
            _journal(sandbox, api, op, request, kept, caller, started, problem)
        return response

    return endpoint


def _forget_renders(sandbox: Sandbox, request: Request, caller: Caller | None) -> None:
    """After any request that may have changed a tenant (whatever it answered), its records
    render afresh: the caller's tenant, or the one a control call names. (A control call that
    names none replaces or drops whole tenants, whose renderings go with them.)"""
    named = caller.tenant_id if caller is not None else request.path_params.get("tenant")
    tenant = sandbox.held(named) if isinstance(named, str) else None
    if tenant is not None:
        tenant.renders.clear()


def _spend(api: Api, tenant_id: str, sandbox: Sandbox) -> Quota | None:
    """Spend one call of the tenant's rate limit for `api`; raises `RateLimited` when none
    is left (nothing else happens: a refused call changes nothing)."""
    now = sandbox.tenant(tenant_id).clock.now()
    quota = sandbox.limits.take(tenant_id, api.name, now)
    if quota is not None and quota.retry_after is not None:
        limit = quota.limit
        raise RateLimited(
            f"rate limit exceeded: {limit.requests} calls per {limit.per_seconds} s for this "
            f"tenant; retry after {quota.retry_after} s",
            quota.retry_after,
            _quota_headers(quota) if api.rate_limit_headers else {},
        )
    return quota


def _quota_headers(quota: Quota) -> dict[str, str]:
    """Decoda's rate-limit headers; the reset is a Unix time on the tenant's clock."""
    return {
        "X-RateLimit-Limit": str(quota.limit.requests),
        "X-RateLimit-Remaining": str(quota.remaining),
        "X-RateLimit-Reset": str(int(quota.reset_at.timestamp())),
    }


def _lose(api: Api, op: Operation, effect: Effect, real: Response, sandbox: Sandbox) -> Response:
    """The answer a carried-out call gets instead of its own (`afterCommit`, or reshaped)."""
    instead = after_the_call(effect, real, op, sandbox)
    if isinstance(instead, ApiError):
        instead = _error_response(api, op, instead, sandbox)
    instead.background = real.background
    return instead


def _error_response(api: Api, op: Operation, error: ApiError, sandbox: Sandbox) -> Response:
    """An error in the API's envelope, or, for what a gateway answers, in the gateway's."""
    if error.status in api.edge_statuses and not isinstance(error, StorageUnavailable):
        return edge_answer(error)
    response = _respond(api, op, *api.render_error(error), sandbox)
    response.headers.update(error.headers)
    return response


def _mark_written(sandbox: Sandbox, call: Call[Any]) -> None:
    """A request that changed a tenant makes it precious (spilled, never dropped, when memory
    runs short): the caller's tenant, or the one a control call names in its path. Marked
    before any await: nothing can evict the tenant between its change and this."""
    tenant_id = call.tenant_id or call.path.get("tenant")
    if isinstance(tenant_id, str):
        sandbox.mark_written(tenant_id)


def _authenticate(api: Api, op: Operation, request: Request, sandbox: Sandbox) -> Caller | None:
    if op.secured and api.authenticate is not None:
        return api.authenticate(request, sandbox)
    return None


async def _parse(
    api: Api, op: Operation, request: Request, sandbox: Sandbox, caller: Caller | None
) -> Call[Any]:
    """Parse and validate every part of an authenticated request, and find the caller's store."""
    scope = request.scope
    declared = op.by_location
    # Only the locations an operation declares are parsed and checked: a request pays for
    # what its operation takes (this is the hot path of every call).
    values: dict[str, dict[str, Any]] = {}
    if "path" in declared:
        values["path"] = params.from_path(declared["path"], scope["path_params"])
    if "query" in declared:
        values["query"] = params.from_query(
            op.query_by_name, op.query_defaults, params.query_values(scope["query_string"])
        )
    if "header" in declared:
        values["header"] = params.from_headers(declared["header"], request.headers)
    checks = op.parameter_checks
    for location, given in values.items():
        check = checks[location]
        if check is not None and not check.is_valid(given):
            # Every location's issues at once, so the client can fix them in one go.
            issues = [
                issue
                for where, value in values.items()
                if (each := checks[where]) is not None
                for issue in each.issues(value, where)
            ]
            raise ValidationFailed(issues)
    body = None
    if op.body_checks:
        # The control API takes whole snapshots of the sandbox's state; vendor APIs, records.
        settings = sandbox.settings
        limit = settings.max_state_bytes if api.operator else settings.max_body_bytes
        depth = MAX_SNAPSHOT_DEPTH if api.operator else MAX_JSON_DEPTH
        body = await read_body(op, request, limit, depth)
    # Handlers get their API's store, typed, from here (never by looking it up by name).
    store = None
    renders: RenderSource = FRESH
    if caller is not None and api.store is not None:
        tenant = sandbox.tenant(caller.tenant_id)
        store = tenant.store(api.name)
        if not op.changes_state:
            renders = tenant.renders
    # By position, in the order of its fields: by keyword, building it cost twice as much.
    return Call(
        sandbox,
        caller.tenant_id if caller else None,
        store,
        values.get("path", {}),
        values.get("query", {}),
        values.get("header", {}),
        body,
        caller.principal if caller else None,
        renders,
        scope,
    )


def _journal(
    sandbox: Sandbox,
    api: Api,
    op: Operation,
    request: Request,
    response: Response,
    caller: Caller | None,
    started: float,
    problem: ApiError | None,
) -> None:
    tenant = caller.tenant_id if caller else None
    duration_ms = (time.perf_counter() - started) * 1000
    scope = request.scope
    method, path, fault = scope["method"], scope["path"], scope.get(FAULT)
    status = response.status_code
    # Secrets never rest in the journal (nor so on the dashboard): what a client sent is
    # looked at cheaply and redacted when it may hold one; an answer, when its spec says it
    # can carry one (a token, a webhook's signing secret).
    sent = scope.get(RAW_BODY, b"")
    if sent:
        sent = redaction.body_bytes(sent, request.headers.get("content-type", ""))
    answer = bytes(response.body)
    sandbox.journal.record(
        sandbox.clock.timestamp(),
        tenant,
        api.name,
        op.operation_id,
        method,
        path,
        # From the scope: building `request.url` costs more than the rest of the entry.
        redaction.query(scope["query_string"].decode("latin-1")),
        status,
        duration_ms,
        sent,
        redaction.body_bytes(answer, "application/json") if op.answers_secrets else answer,
        fault=fault,
    )
    request_log = requestlog.active()
    if request_log is not None:
        problem_text = None if problem is None else requestlog.problem_of(problem)
        request_log.write(
            (method, path, status, op.operation_id, api.name, tenant, duration_ms, fault,
             problem_text)
        )  # fmt: skip


def _respond(
    api: Api,
    op: Operation,
    status: int,
    body: Any,
    sandbox: Sandbox,
    renders: RenderSource = FRESH,
) -> Response:
    """Serialise; with response validation on, a body that breaks the spec is a loud 500.
    A body is checked as the bytes it is sent as (parts may be kept renderings), once: the
    same bytes from the same operation and status were valid before. A body made of kept
    renderings is known by what it is made of; any other, by a hash of its bytes."""
    content = orjson.dumps(body)
    if sandbox.settings.response_validation:
        made_of = composition(body)
        valid: ValidBodies = sandbox.validated if made_of is None else renders
        seen = (op.operation_id, status, hash(content) if made_of is None else made_of)
        if not valid.seen(seen):
            problem = _response_problem(op, status, orjson.loads(content))
            if problem:
                log.error("%s %s: %s", api.name, op.operation_id, problem)
                bug = SandboxBug(f"sandbox bug: {op.operation_id} {problem}")
                return _render(*api.render_error(bug))
            valid.add(seen)
    return JsonBytes(content, status)


def _response_problem(op: Operation, status: int, body: Any) -> str | None:
    if status not in op.response_checks:
        return f"returned status {status}, which its spec does not declare"
    check = op.response_checks[status]
    if check is None or check.is_valid(body):
        return None
    found = "; ".join(f"{i.field}: {i.message}" for i in check.issues(body, "response")[:5])
    return f"returned a {status} body that breaks its spec: {found}"


def _render(status: int, body: Any) -> Response:
    return JsonBytes(orjson.dumps(body), status)
