"""A request parsed and validated against its operation (path, query, headers, body), and the
call its handler receives: the caller's tenant, its API's store, and the renderings it may reuse."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from billing_sandbox.api import Api, Call, Caller
from billing_sandbox.errors import ValidationFailed
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.spec import params
from billing_sandbox.spec.body import MAX_JSON_DEPTH, MAX_SNAPSHOT_DEPTH, read_body
from billing_sandbox.spec.document import Operation
from billing_sandbox.tenants.renders import FRESH, RenderSource


async def parse(
    api: Api, op: Operation, request: Request, sandbox: Sandbox, caller: Caller | None
) -> Call[Any]:
    """Parse and validate every part of an authenticated request, and find the caller's store."""
    values = _parameters(op, request)
    body = None
    if op.body_checks:
        # The control API takes whole snapshots of the sandbox's state (and whole scenarios);
        # everything else, records.
        settings = sandbox.settings
        limit = settings.max_state_bytes if op.large_body else settings.max_body_bytes
        depth = MAX_SNAPSHOT_DEPTH if api.operator else MAX_JSON_DEPTH
        body = await read_body(op, request, limit, depth)
    return _call(api, op, request, sandbox, caller, values, body)


def parse_bodiless(
    api: Api, op: Operation, request: Request, sandbox: Sandbox, caller: Caller | None
) -> Call[Any]:
    """`parse` for an operation that takes no body: nothing to await, so no coroutine (most
    reads)."""
    return _call(api, op, request, sandbox, caller, _parameters(op, request), None)


def _parameters(op: Operation, request: Request) -> dict[str, dict[str, Any]]:
    """The parameters of the locations `op` declares, each parsed and validated."""
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
    return values


def _call(
    api: Api,
    op: Operation,
    request: Request,
    sandbox: Sandbox,
    caller: Caller | None,
    values: dict[str, dict[str, Any]],
    body: Any,
) -> Call[Any]:
    """The call a handler receives."""
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
        request.scope,
    )
