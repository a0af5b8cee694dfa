"""What the request path keeps of each vendor call: a journal entry, its secrets redacted, and a
line of the request log when one is written."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from billing_sandbox.api import Api, Caller
from billing_sandbox.asgi.headers import header
from billing_sandbox.errors import ApiError
from billing_sandbox.faults.injection import FAULT
from billing_sandbox.observe import redaction, requestlog
from billing_sandbox.observe.metrics import cause_of
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.spec.body import RAW_BODY
from billing_sandbox.spec.document import Operation


def record(
    sandbox: Sandbox,
    api: Api,
    op: Operation,
    request: Request,
    response: Response,
    caller: Caller | None,
    started: float,
    problem: ApiError | None,
    delivered: Response,
    faulted: bool = False,
) -> None:
    """Keep the call in the journal (secrets redacted), count it in the metrics and, when one
    is on, write it to the request log. `response`: the sandbox's own answer, which the journal
    keeps; `delivered`: what the client got instead when a fault lost or reshaped it (the metrics
    count that); `faulted`: whether a fault answered in the sandbox's place."""
    tenant = caller.tenant_id if caller else None
    seconds = time.perf_counter() - started
    duration_ms = seconds * 1000
    scope = request.scope
    method, path, fault = scope["method"], scope["path"], scope.get(FAULT)
    status = response.status_code
    # Secrets never rest in the journal (nor so on the dashboard): what a client sent is
    # looked at cheaply and redacted when it may hold one; an answer, when its spec says it
    # can carry one (a token, a webhook's signing secret).
    sent = scope.get(RAW_BODY, b"")
    if sent:
        sent = redaction.body_bytes(sent, header(scope, b"content-type") or "")
    answer = response.body
    if type(answer) is not bytes:  # a memoryview or bytearray: kept as bytes of its own
        answer = bytes(answer)
    query = scope["query_string"]
    sandbox.journal.record(
        sandbox.clock.timestamp(),
        tenant,
        api.name,
        op.operation_id,
        method,
        path,
        # From the scope: building `request.url` costs more than the rest of the entry.
        redaction.query(query.decode("latin-1")) if query else "",
        status,
        duration_ms,
        sent,
        redaction.body_bytes(answer, "application/json") if op.answers_secrets else answer,
        (),
        fault,
    )
    metrics = sandbox.metrics
    if metrics is not None:
        got = delivered.status_code
        if not faulted and problem is None and 200 <= got < 400:
            cause = "none"  # most requests: no call needed to say so
        else:
            cause = cause_of(problem, faulted, got)
        metrics.request(api.name, op.operation_id, got, cause, seconds)
    request_log = requestlog.active()
    if request_log is not None:
        problem_text = None if problem is None else requestlog.problem_of(problem)
        request_log.write(
            (method, path, status, op.operation_id, api.name, tenant, duration_ms, fault,
             problem_text)
        )  # fmt: skip
