"""Applying faults to a vendor request. Most act before the request can reach a store, so state
never changes; those that need the call carried out (`afterCommit`, a truncated or dribbled
answer) reshape its answer afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from billing_sandbox.errors import ApiError, BadRequest
from billing_sandbox.faults.rules import (
    DropConnection,
    Effect,
    FaultRules,
    RequestFacts,
    injected_error,
    parse_prefer,
)
from billing_sandbox.faults.wire import (
    DribbledResponse,
    DroppedResponse,
    ResetResponse,
    SilentResponse,
    TruncatedResponse,
    malformed,
)
from billing_sandbox.spec.document import Operation

# Where a request's scope says which fault it met, for its log line and journal entry.
FAULT = "billing_sandbox.fault"


class FaultAnswer(Exception):
    """A fault answers in the sandbox's place, with this response."""

    def __init__(self, response: Response) -> None:
        super().__init__("answered by a fault rule")
        self.response = response


async def inject_faults(
    request: Request,
    op: Operation,
    api: str,
    tenant: str | None,
    rules: FaultRules,
    cap: int,
    now_of: Callable[[str | None], datetime],
) -> Effect | None:
    """Wait (at most `cap` ms), then answer as the `Prefer` header or the first of `rules`
    that matches asks (raising the API error, `DropConnection` or `FaultAnswer`); or let the
    request through, returning the effect still to apply to its answer, if any. `now_of`
    tells a tenant's time (the server's for None), which a rule's time window is read on."""
    prefer = parse_prefer(request.headers.get("prefer", ""))
    if prefer.delay_ms:
        _note(request, f"Prefer: delay={min(prefer.delay_ms, cap)}")
        await asyncio.sleep(min(prefer.delay_ms, cap) / 1000)
    if prefer.code is not None:
        _note(request, f"Prefer: code={prefer.code}")
        _raise_status(prefer.code, op, "Prefer: code")
    if not rules.rules:
        return None
    facts = RequestFacts(
        api=api,
        operation_id=op.operation_id,
        method=request.method,
        path=request.scope["path"],
        template=op.path,
        tenant=tenant,
    )
    effect = rules.fire(facts, now_of)
    if effect is None:
        return None
    _note(request, f"fault {effect.describe()}")
    wait_ms: float = effect.delay_ms or 0
    if effect.latency is not None:
        wait_ms += effect.latency.draw(rules.rng)
    if wait_ms:
        await asyncio.sleep(min(wait_ms, cap) / 1000)
    if effect.acts_after:
        return effect
    _answer(effect, op, cap)
    return None


def _answer(effect: Effect, op: Operation, cap: int) -> None:
    """Answer in the sandbox's place, as `effect` says (nothing, for a wait only)."""
    if effect.drop:
        raise DropConnection(f"a fault rule dropped {op.operation_id}")
    if effect.reset:
        raise FaultAnswer(ResetResponse())
    if effect.timeout:
        raise FaultAnswer(SilentResponse(cap / 1000))
    if effect.malformed:
        raise FaultAnswer(malformed(op.success_status))
    if effect.status is not None:
        _raise_status(effect.status, op, "a fault rule")


def after_the_call(
    effect: Effect, response: Response, op: Operation, cap: int
) -> Response | ApiError:
    """The answer a call that was carried out gets instead of `response`: lost (dropped,
    reset, never sent, or a status, returned as the error to render), cut short or dribbled."""
    if effect.drop:
        return DroppedResponse()
    if effect.truncate:
        return TruncatedResponse(response)
    if effect.dribble_ms is not None:
        return DribbledResponse(response, min(effect.dribble_ms, cap) / 1000)
    try:
        _answer(effect, op, cap)
    except ApiError as error:
        return error
    except FaultAnswer as answer:
        return answer.response
    return response


def _note(request: Request, fault: str) -> None:
    noted = request.scope.get(FAULT)
    request.scope[FAULT] = fault if noted is None else f"{noted}, {fault}"


def _raise_status(status: int, op: Operation, source: str) -> None:
    """The status in the API's envelope when the operation declares it; else a 400 that says
    which statuses it does declare. The operation's own success status means "no fault"."""
    if status == op.success_status:
        return
    declared = sorted(code for code in op.response_checks if code >= 400)
    if status not in declared:
        raise BadRequest(
            f"{source} asked for {status}, which {op.operation_id} does not declare; "
            f"it declares {', '.join(map(str, declared))}"
        )
    raise injected_error(status, f"injected by {source}: {status}")
