"""An answer serialised with orjson and, with response validation on, checked against its
operation's spec once per distinct body; an error in its API's envelope (or a gateway's)."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.responses import Response

from billing_sandbox.api import Api
from billing_sandbox.asgi.responses import JsonBytes
from billing_sandbox.errors import ApiError, SandboxBug, StorageUnavailable
from billing_sandbox.faults.edge import edge_answer
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.spec.document import Operation
from billing_sandbox.tenants.renders import FRESH, RenderSource, ValidBodies, composition

log = logging.getLogger("billing_sandbox")


def error_response(api: Api, op: Operation, error: ApiError, sandbox: Sandbox) -> Response:
    """An error in the API's envelope, or, for what a gateway answers, in the gateway's."""
    if error.status in api.edge_statuses and not isinstance(error, StorageUnavailable):
        return edge_answer(error)
    response = respond(api, op, *api.render_error(error), sandbox)
    response.headers.update(error.headers)
    return response


def respond(
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
        # A write renders afresh (`FRESH`): its body holds no kept rendering to be known by.
        made_of = None if renders is FRESH else composition(body)
        valid: ValidBodies = sandbox.validated if made_of is None else renders
        seen = (op.operation_id, status, hash(content) if made_of is None else made_of)
        if not valid.seen(seen):
            problem = response_problem(op, status, orjson.loads(content))
            if problem:
                log.error("%s %s: %s", api.name, op.operation_id, problem)
                bug = SandboxBug(f"sandbox bug: {op.operation_id} {problem}")
                return render(*api.render_error(bug))
            valid.add(seen)
    return JsonBytes(content, status)


def response_problem(op: Operation, status: int, body: Any) -> str | None:
    if status not in op.response_checks:
        return f"returned status {status}, which its spec does not declare"
    check = op.response_checks[status]
    if check is None or check.is_valid(body):
        return None
    found = "; ".join(f"{i.field}: {i.message}" for i in check.issues(body, "response")[:5])
    return f"returned a {status} body that breaks its spec: {found}"


def render(status: int, body: Any) -> Response:
    return JsonBytes(orjson.dumps(body), status)
