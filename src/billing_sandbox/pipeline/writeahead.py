"""Calls that change a tenant, written to the state's log: a vendor call ahead of being carried
out (under one pinned instant of its tenant's clock), a control call as the state it left."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from billing_sandbox.api import Api, Call
from billing_sandbox.errors import ApiError, StorageUnavailable
from billing_sandbox.observe import redaction
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.spec.document import Operation
from billing_sandbox.state import changes, snapshot

Handler = Callable[[Call[Any]], Awaitable[Any]]


async def carry_out(api: Api, op: Operation, call: Call[Any], handler: Handler) -> Any:
    """`handler(call)`, with the change it makes kept in the log (a call that changes state,
    on a sandbox with a state file). A change that cannot be kept is not made: 503."""
    sandbox = call.sandbox
    if not api.operator:
        if call.tenant_id is None:
            return await handler(call)  # a sign-in: what it changes, it logs itself
        return await _ahead(api, op, call, call.tenant_id, handler)
    tenant = call.path.get("tenant")
    if op.operation_id in changes.COMPOSED:
        return await handler(call)  # each call it is made of logs itself
    if op.operation_id in changes.EVERY_TENANT:
        result = await handler(call)
        _fold_everything(sandbox)
        return result
    if not isinstance(tenant, str):
        return await handler(call)  # faults, the journal, a save: no tenant's state
    return await _after(op, call, tenant, handler)


async def _ahead(api: Api, op: Operation, call: Call[Any], tenant_id: str, handler: Handler) -> Any:
    """Log the call, then carry it out with its tenant's clock pinned to the instant logged:
    replayed over the same state at the same instant, it makes the same ids and timestamps."""
    sandbox = call.sandbox
    clock = sandbox.tenant(tenant_id).clock
    at = clock.now()
    headers = call.headers and {
        name: value for name, value in call.headers.items() if not redaction.is_secret(name)
    }
    record = changes.call(
        api.name,
        op.operation_id,
        tenant_id,
        call.principal,
        (call.path, call.query, headers),
        call.body,
        redaction.query(call.raw_query),
        at,
    )
    sandbox.changes.append(record)  # raises StorageUnavailable: nothing is carried out
    with clock.pinned(at):
        return await handler(call)


async def _after(op: Operation, call: Call[Any], tenant: str, handler: Handler) -> Any:
    """A control call on one tenant (its clock, a reset, a restore, a sandbox-only action):
    carried out, then logged as the state it left; undone when that cannot be logged."""
    sandbox = call.sandbox
    rate_limits = op.operation_id == changes.RATE_LIMITS
    try:
        before = changes.limits_of(sandbox, tenant) if rate_limits else _state_of(sandbox, tenant)
    except ApiError:
        before = None  # a spill file that cannot be read back: a reset is what mends it
    result = await handler(call)
    try:
        if rate_limits:
            sandbox.changes.append(changes.limits(tenant, changes.limits_of(sandbox, tenant)))
        else:
            sandbox.changes.append(changes.tenant_state(tenant, _state_of(sandbox, tenant)))
    except StorageUnavailable:
        if rate_limits:
            changes.set_limits(sandbox, tenant, before or {})
        elif before is None:
            sandbox.reset(tenant)
        else:
            sandbox.replace({tenant: snapshot.build_tenant(sandbox, tenant, before)})
        raise
    return result


def _state_of(sandbox: Sandbox, tenant: str) -> dict[str, Any] | None:
    """The tenant's export, or None when it is neither in memory nor spilled (as a reset
    leaves it: its next request seeds it anew)."""
    held = sandbox.held(tenant)
    if held is not None:
        return snapshot.export_tenant(sandbox, held)
    if sandbox.overflow is not None and tenant in sandbox.spilled():
        spilled: dict[str, Any] = sandbox.overflow.read(tenant)
        return spilled
    return None


def _fold_everything(sandbox: Sandbox) -> None:
    """A reset or restore of every tenant is kept as a new snapshot, not as a record."""
    compact_now = getattr(sandbox.changes, "compact_now", None)
    if compact_now is None:
        return
    try:
        compact_now()
    except OSError as error:
        raise StorageUnavailable(
            f"the change was made, but the sandbox could not save it ({error.strerror}); it "
            "is kept in memory and saved by the next successful save or shutdown"
        ) from None
