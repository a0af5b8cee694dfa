"""Handlers of the control API (`/_sandbox`): health, resets, reference data, the specs."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from billing_sandbox import __version__
from billing_sandbox.call import Call
from billing_sandbox.errors import ApiError, NotFound


async def get_health(call: Call) -> dict[str, Any]:
    return {"status": "ok", "version": __version__, "apis": sorted(call.sandbox.apis)}


async def reset_all(call: Call) -> dict[str, Any]:
    call.sandbox.reset()
    return {"reset": "all tenants"}


async def reset_tenant(call: Call) -> dict[str, Any]:
    tenant = call.path["tenant"]
    call.sandbox.reset(tenant)
    return {"reset": tenant}


async def get_reference(call: Call) -> dict[str, Any]:
    api = call.sandbox.apis[call.path["api"]]
    if api.reference is None:
        raise NotFound("reference data of API", api.name)
    return api.reference(call.sandbox.tenant(call.path["tenant"]).store(api.name))


async def fail_decoda_payment(call: Call) -> dict[str, Any]:
    store = call.sandbox.tenant(call.path["tenant"]).store("decoda")
    reason = (call.body or {}).get("reason", "R01: insufficient funds")
    payment = store.fail_payment(call.path["payment_id"], reason)
    return {"done": "failed", "id": payment.id, "status": payment.status}


async def void_decoda_charge(call: Call) -> dict[str, Any]:
    store = call.sandbox.tenant(call.path["tenant"]).store("decoda")
    charge = store.void(call.path["charge_id"])
    return {"done": "voided", "id": charge.id, "status": charge.status}


async def get_spec_yaml(call: Call) -> Response:
    spec = call.sandbox.spec(call.path["name"])
    return Response(spec.raw_yaml, media_type="application/yaml")


async def get_spec_json(call: Call) -> Response:
    spec = call.sandbox.spec(call.path["name"])
    return Response(spec.as_json, media_type="application/json")


def render_error(error: ApiError) -> tuple[int, dict[str, Any]]:
    """The control API's own envelope: `{"error": <kind>, "message": <text>}`."""
    kind = "not_found" if isinstance(error, NotFound) else type(error).__name__
    return error.status, {"error": kind, "message": error.message}
