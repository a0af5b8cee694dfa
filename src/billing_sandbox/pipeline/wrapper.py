"""The one wrapper every operation of every API goes through. Its endpoint reads as the request's
path: authenticate, spend the quota, meet the faults, parse, handle, respond, set off the
after-effects, keep it in the journal. Every error is answered in the API's own envelope."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from billing_sandbox.api import Api, Call, Caller
from billing_sandbox.asgi.headers import has_header
from billing_sandbox.errors import ApiError, MethodNotAllowed, RateLimited, SandboxBug, counted
from billing_sandbox.events.courier import Courier
from billing_sandbox.faults.injection import FAULT, FaultAnswer, after_the_call, inject_faults
from billing_sandbox.faults.rules import DropConnection, Effect
from billing_sandbox.faults.wire import DroppedResponse, breaks_the_answer
from billing_sandbox.observe import cause
from billing_sandbox.observe.ratelimits import Quota
from billing_sandbox.pipeline import writeahead
from billing_sandbox.pipeline.parse import parse, parse_bodiless
from billing_sandbox.pipeline.record import record
from billing_sandbox.pipeline.respond import error_response, render, respond
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.spec.document import Operation

log = logging.getLogger("billing_sandbox")

Handler = Callable[[Call[Any]], Awaitable[Any]]


def wrap(
    api: Api,
    ops: dict[str, Operation],
    handlers: dict[str, Handler],
    sandbox: Sandbox,
    courier: Courier | None,
) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint of one path of `api`: its operations by method, and their handlers."""
    allowed = tuple(sorted({*ops, *(("HEAD",) if "GET" in ops else ())}))
    vendor = not api.operator  # the control API is neither metered, faulted nor journaled

    async def endpoint(request: Request) -> Response:
        method = request.scope["method"]
        op = ops.get(method) or (ops.get("GET") if method == "HEAD" else None)
        if op is None:
            return _method_not_allowed(api, method, allowed)
        started = time.perf_counter()
        caller = quota = problem = None
        # What the journal keeps: the sandbox's own answer, even when a fault lost it.
        answered: Response | None = None
        # Whether a fault answered in the sandbox's place (the metrics' cause; an injected
        # error says so itself, `ApiError.injected`).
        faulted = False
        try:
            caller = _authenticate(api, op, request, sandbox)
            quota = _spend_quota(api, caller, sandbox) if vendor else None
            # Awaited only when a fault may be asked for, and a body read only when the
            # operation takes one: a coroutine made and awaited for nothing costs a read.
            after = (
                await _meet_faults(api, op, request, caller, sandbox)
                if vendor and _may_meet_faults(request, sandbox)
                else None
            )
            call = (
                await parse(api, op, request, sandbox, caller)
                if op.body_checks
                else parse_bodiless(api, op, request, sandbox, caller)
            )
            response = await _handle(api, op, call, handlers[op.operation_id], sandbox)
            _set_off_after_effects(api, op, call, response, sandbox, courier)
            if after is not None:
                # The call was carried out; now its answer is lost or reshaped.
                answered = response
                response, faulted = _lose(api, op, after, response, sandbox)
        except ApiError as error:
            response, problem = error_response(api, op, error, sandbox), error
        except FaultAnswer as answer:
            response, faulted = answer.response, True
        except DropConnection:
            response, faulted = DroppedResponse(), True
        except Exception:
            log.exception("%s %s crashed", api.name, op.operation_id)
            bug = SandboxBug(f"the sandbox crashed in {op.operation_id}; this is a sandbox bug")
            response, problem = render(*api.render_error(bug)), bug
        if op.changes_state:
            _forget_renders(sandbox, request, caller)
        if quota is not None and api.rate_limit_headers:
            response.headers.update(_quota_headers(quota))
        if cause.SPAN_FACTS in request.scope:
            _note_for_span(api, op, request, caller)
        if vendor:
            record(
                sandbox,
                api,
                op,
                request,
                answered or response,
                caller,
                started,
                problem,
                response,
                faulted,
            )
        return response

    return endpoint


def _method_not_allowed(api: Api, method: str, allowed: tuple[str, ...]) -> Response:
    response = render(*api.render_error(MethodNotAllowed(method, allowed)))
    response.headers["Allow"] = ", ".join(allowed)
    return response


def _authenticate(api: Api, op: Operation, request: Request, sandbox: Sandbox) -> Caller | None:
    if op.secured and api.authenticate is not None:
        return api.authenticate(request, sandbox)
    return None


def _spend_quota(api: Api, caller: Caller | None, sandbox: Sandbox) -> Quota | None:
    """Spend one call of the tenant's rate limit for `api`, when one is set; raises
    `RateLimited` when none is left (nothing else happens: a refused call changes nothing)."""
    if caller is None or not sandbox.limits.active:
        return None
    now = sandbox.tenant(caller.tenant_id).clock.now()
    quota = sandbox.limits.take(caller.tenant_id, api.name, now)
    if quota is not None and quota.retry_after is not None:
        if sandbox.metrics is not None:
            sandbox.metrics.count("rate_limit_refusals", api.name)
        limit = quota.limit
        raise RateLimited(
            f"rate limit exceeded: {counted(limit.requests, 'call')} per {limit.per_seconds} s "
            f"for this tenant; retry after {quota.retry_after} s",
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


def _may_meet_faults(request: Request, sandbox: Sandbox) -> bool:
    """Whether any fault may be asked of this call: a fault rule is set, or it says `Prefer`.
    Most requests ask for none, and skip `_meet_faults`'s coroutine."""
    return bool(sandbox.faults.rules) or has_header(request.scope, b"prefer")


async def _meet_faults(
    api: Api, op: Operation, request: Request, caller: Caller | None, sandbox: Sandbox
) -> Effect | None:
    """The faults the `Prefer` header or the fault rules ask of this call (see
    `faults.injection`)."""

    def now_of(tenant: str | None) -> datetime:
        return sandbox.clock.now() if tenant is None else sandbox.tenant(tenant).clock.now()

    tenant = caller.tenant_id if caller else None
    cap = sandbox.settings.max_fault_delay_ms
    return await inject_faults(request, op, api.name, tenant, sandbox.faults, cap, now_of)


async def _handle(
    api: Api, op: Operation, call: Call[Any], handler: Handler, sandbox: Sandbox
) -> Response:
    """The handler's answer, serialised; a change is written ahead first when a state file
    keeps the sandbox's state."""
    if op.changes_state and sandbox.changes.active:
        result = await writeahead.carry_out(api, op, call, handler)
    else:
        result = await handler(call)
    if isinstance(result, Response):
        return result
    return respond(api, op, op.success_status, result, sandbox, call.renders)


def _set_off_after_effects(
    api: Api,
    op: Operation,
    call: Call[Any],
    response: Response,
    sandbox: Sandbox,
    courier: Courier | None,
) -> None:
    """A call that changed a tenant marks it written and, once its answer is sent, starts
    sending the events it made due."""
    if not op.changes_state or response.status_code >= 400:
        return
    # The caller's tenant, or the one a control call names in its path. Marked before any
    # await: nothing can evict the tenant between its change and this.
    tenant_id = call.tenant_id or call.path.get("tenant")
    if not isinstance(tenant_id, str):
        return
    sandbox.mark_written(tenant_id)
    # A vendor call looks only at its own API's outbox; a control call (no store of its own)
    # may have changed any of them.
    if courier is not None and (
        courier.has_due(tenant_id, api.name, call.store)
        if call.store is not None
        else courier.has_due(tenant_id)
    ):
        # After the response: `kick` only starts a task, so a slow or dead receiver never
        # holds the connection (nor the next request on it). A call that made nothing due
        # needs none (the periodic check covers what falls due as time passes), and skips
        # the background task's cost.
        response.background = BackgroundTask(courier.kick, tenant_id)


def _lose(
    api: Api, op: Operation, effect: Effect, real: Response, sandbox: Sandbox
) -> tuple[Response, bool]:
    """The answer a carried-out call gets instead of its own (`afterCommit`, or reshaped), and
    whether it is lost (a status instead, or an answer broken on the wire: not one dribbled)."""
    instead = after_the_call(effect, real, op, sandbox.settings.max_fault_delay_ms)
    lost = isinstance(instead, ApiError) or breaks_the_answer(instead)
    if isinstance(instead, ApiError):
        instead = error_response(api, op, instead, sandbox)
    instead.background = real.background
    return instead, lost


def _forget_renders(sandbox: Sandbox, request: Request, caller: Caller | None) -> None:
    """After any request that may have changed a tenant (whatever it answered), its records
    render afresh: the caller's tenant, or the one a control call names. (A control call that
    names none replaces or drops whole tenants, whose renderings go with them.)"""
    named = caller.tenant_id if caller is not None else request.path_params.get("tenant")
    tenant = sandbox.held(named) if isinstance(named, str) else None
    if tenant is not None:
        tenant.renders.clear()


def _note_for_span(api: Api, op: Operation, request: Request, caller: Caller | None) -> None:
    """A traced request's facts for its span: the caller's tenant, or the one a control call
    names in its path."""
    named = caller.tenant_id if caller is not None else request.path_params.get("tenant")
    tenant = named if isinstance(named, str) else None
    fault = request.scope.get(FAULT)
    cause.note(request.scope, api.name, op.operation_id, op.path, tenant, fault)
