"""Snapshots: one tenant, or every tenant, as one JSON document, and back.

A tenant's snapshot is `{"format", "tenant", "clock", "apis": {api: store state}}` and holds
the stores the tenant has built (the others are seeded on first use, as for a new tenant).
A restore checks and builds everything first (every record rendered as its API serves it and
checked against the spec) and swaps it in last, so a bad snapshot changes nothing. Key order
is kept, not sorted: records keep the field order they are served in, so a restored server
answers byte for byte as the saved one did, and export → import → export gives the same bytes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson

from billing_sandbox.errors import BadRequest
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.state.codec import instant, obj, typed
from billing_sandbox.state.problems import InvalidSnapshot, invalid
from billing_sandbox.state.served import check_served
from billing_sandbox.tenants.tenant import Tenant

FORMAT = "billing-sandbox/1"
_MICROSECOND = timedelta(microseconds=1)


def encode(document: dict[str, Any]) -> bytes:
    """The bytes of a snapshot, the same as the control API serves it."""
    return orjson.dumps(document)


def decode(raw: bytes) -> Any:
    """A snapshot's JSON exactly as written: `5.0` stays a float, as the store held it."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"invalid snapshot: not valid JSON: {error}") from None


# ---- export ----


def export_tenant(sandbox: Sandbox, tenant: Tenant) -> dict[str, Any]:
    stores = tenant.built_stores()
    apis = {}
    for name, kind in sandbox.kinds.items():  # in the sandbox's order, whatever was built first
        if name in stores:
            apis[name] = kind.export_state(stores[name])
    clock = tenant.clock
    return {
        "format": FORMAT,
        "tenant": tenant.id,
        "clock": {
            "offset_microseconds": clock.offset // _MICROSECOND,
            "frozen_at": None if clock.frozen_at is None else clock.frozen_at.isoformat(),
        },
        "apis": apis,
    }


def export_all(sandbox: Sandbox) -> dict[str, Any]:
    """Every tenant, in memory or spilled, by id in sorted order (a state file diffs cleanly)."""
    tenants = sandbox.tenants()
    exported = {key: export_tenant(sandbox, tenant) for key, tenant in tenants.items()}
    if sandbox.overflow is not None:
        # A spilled tenant's file is its export, as it was when it left memory.
        exported |= {key: sandbox.overflow.read(key) for key in sandbox.spilled()}
    return {"format": FORMAT, "tenants": {key: exported[key] for key in sorted(exported)}}


# ---- import: check and build everything, then swap ----


def restore_tenant(sandbox: Sandbox, tenant_id: str, data: Any) -> dict[str, Any]:
    """Replace one tenant with the snapshot's; returns what was restored."""
    if isinstance(data, dict) and "tenants" in data and "tenant" not in data:
        raise invalid("snapshot", "this is a snapshot of every tenant; PUT it to /_sandbox/state")
    tenant = build_tenant(sandbox, tenant_id, data)
    sandbox.replace({tenant_id: tenant})
    return _summary({tenant_id: tenant})


def restore_all(sandbox: Sandbox, data: Any) -> dict[str, Any]:
    """Replace every tenant with the snapshot's (tenants it lacks are forgotten)."""
    given = obj(data, "snapshot", ("format", "tenants"))
    _check_format(given["format"])
    built = {}
    for tenant_id, tenant_data in typed(given["tenants"], dict, "tenants").items():
        if not tenant_id:
            raise invalid("tenants", "a tenant id is empty")
        built[tenant_id] = build_tenant(sandbox, tenant_id, tenant_data)
    sandbox.replace(built, everyone=True)
    return _summary(built)


def build_tenant(sandbox: Sandbox, tenant_id: str, data: Any) -> Tenant:
    """A tenant holding exactly what the snapshot says, not yet part of the sandbox; every
    problem is an `InvalidSnapshot` naming the tenant."""
    try:
        return _build_tenant(sandbox, tenant_id, data)
    except InvalidSnapshot as error:
        raise error.of_tenant(tenant_id) from None


def _build_tenant(sandbox: Sandbox, tenant_id: str, data: Any) -> Tenant:
    given = obj(data, "snapshot", ("format", "tenant", "clock", "apis"))
    _check_format(given["format"])
    if given["tenant"] != tenant_id:
        raise invalid("tenant", f"the snapshot is of tenant {given['tenant']!r}, not {tenant_id!r}")
    tenant = sandbox.new_tenant(tenant_id)
    _restore_clock(tenant, given["clock"])
    for name, state in typed(given["apis"], dict, "apis").items():
        kind = sandbox.kinds.get(name)
        if kind is None:
            served = ", ".join(sandbox.kinds)
            raise invalid(f"apis.{name}", f"unknown API; this sandbox serves {served}")
        try:
            store = kind.import_state(tenant, state)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as error:
            # A combination of records the checks did not foresee; still the snapshot's fault.
            problem = f"records that do not fit together ({type(error).__name__}: {error})"
            raise invalid(f"apis.{name}", problem) from None
        if kind.renderings is not None:
            check_served(name, kind.renderings(store), sandbox.api_spec(name))
        tenant.adopt(name, store)
    return tenant


def _check_format(value: Any) -> None:
    if value != FORMAT:
        raise invalid("format", f"expected {FORMAT!r}, got {value!r}")


def _restore_clock(tenant: Tenant, value: Any) -> None:
    given = obj(value, "clock", ("offset_microseconds", "frozen_at"))
    clock = tenant.clock
    try:
        offset = typed(given["offset_microseconds"], int, "clock.offset_microseconds")
        clock.offset = timedelta(microseconds=offset)
        clock.now()  # an offset past the calendar's end would fail every request
    except OverflowError:
        raise invalid("clock.offset_microseconds", "is out of range") from None
    if given["frozen_at"] is not None:
        clock.frozen_at = instant(given["frozen_at"], "clock.frozen_at")


def _summary(tenants: dict[str, Tenant]) -> dict[str, Any]:
    """Which tenants were restored, and the APIs each holds records of."""
    return {"tenants": {key: sorted(t.built_stores()) for key, t in tenants.items()}}
