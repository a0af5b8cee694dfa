"""Applying faults to a vendor request, before it can reach a store (so state never changes)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from billing_sandbox.api import Caller
from billing_sandbox.control.faults import (
    DropConnection,
    RequestFacts,
    injected_error,
    parse_prefer,
)
from billing_sandbox.errors import BadRequest
from billing_sandbox.spec.document import Operation
from billing_sandbox.tenancy import Sandbox


async def inject_faults(
    request: Request, op: Operation, api: str, caller: Caller | None, sandbox: Sandbox
) -> None:
    """Wait, answer a status or drop the connection, as the `Prefer` header or the first
    matching rule asks; otherwise do nothing and let the request through."""
    cap = sandbox.settings.max_fault_delay_ms
    prefer = parse_prefer(request.headers.get("prefer", ""))
    if prefer.delay_ms:
        _note(request, f"Prefer: delay={min(prefer.delay_ms, cap)}")
        await asyncio.sleep(min(prefer.delay_ms, cap) / 1000)
    if prefer.code is not None:
        _note(request, f"Prefer: code={prefer.code}")
        _raise_status(prefer.code, op, "Prefer: code")
    if not sandbox.faults.rules:
        return
    facts = RequestFacts(
        api=api,
        operation_id=op.operation_id,
        method=request.method,
        path=request.scope["path"],
        template=op.path,
        tenant=caller.tenant_id if caller else None,
    )
    effect = sandbox.faults.fire(facts)
    if effect is None:
        return
    _note(request, f"fault {effect.describe()}")
    if effect.delay_ms:
        await asyncio.sleep(min(effect.delay_ms, cap) / 1000)
    if effect.drop:
        raise DropConnection(f"a fault rule dropped {request.method} {request.url.path}")
    if effect.status is not None:
        _raise_status(effect.status, op, "a fault rule")


# Where a request's scope says which fault it met, for its log line.
FAULT = "billing_sandbox.fault"


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


class DroppedResponse(Response):
    """Starts an answer and then breaks off, so the server closes the connection: the client
    sees a dropped connection, as from a crashed upstream."""

    def __init__(self) -> None:
        super().__init__(b"", status_code=0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]}
        )
        raise DropConnection("connection dropped by a fault rule")
