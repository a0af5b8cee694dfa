"""Decoda authentication: `TENANT` and `API-KEY` headers; the tenant is the TENANT value."""

from __future__ import annotations

from starlette.datastructures import Headers

from billing_sandbox.call import Caller
from billing_sandbox.errors import Unauthenticated
from billing_sandbox.tenancy import Sandbox


def authenticate(headers: Headers, sandbox: Sandbox) -> Caller:
    """Any non-empty pair is accepted; header names are case-insensitive, as in HTTP."""
    tenant = headers.get("tenant", "").strip()
    api_key = headers.get("api-key", "").strip()
    missing = [name for name, value in (("TENANT", tenant), ("API-KEY", api_key)) if not value]
    if missing:
        raise Unauthenticated(f"send the {' and '.join(missing)} header(s) with every request")
    return Caller(tenant)
