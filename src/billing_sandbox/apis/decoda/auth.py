"""Decoda authentication: `TENANT` and `API-KEY` headers; the tenant is the TENANT value."""

from __future__ import annotations

from functools import lru_cache

from starlette.requests import HTTPConnection

from billing_sandbox.api import Caller
from billing_sandbox.asgi.headers import header
from billing_sandbox.credentials import LISTED, Section
from billing_sandbox.errors import Unauthenticated
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.tenants.identifiers import id_problem

# A `--credentials` file's `decoda:` entries: a TENANT value may have several API keys.
CREDENTIALS = Section("tenant_header", "api_key", unique_names=False)


@lru_cache(maxsize=4096)
def _caller(tenant: str) -> Caller:
    """The caller a TENANT value names, one shared by its requests (a `Caller` is immutable,
    and building one cost a quarter of the check). A value that cannot name a tenant is a
    401, checked once per value (a refusal raises, so is never cached)."""
    problem = id_problem(tenant)
    if problem is not None:
        raise Unauthenticated(f"invalid TENANT header: it {problem}")
    return Caller(tenant)


def authenticate(connection: HTTPConnection, sandbox: Sandbox) -> Caller:
    """Any non-empty pair is accepted (in strict mode, a listed one, naming its entry's tenant);
    header names are case-insensitive, as in HTTP."""
    tenant = (header(connection.scope, b"tenant") or "").strip()
    api_key = (header(connection.scope, b"api-key") or "").strip()
    if not tenant or not api_key:
        missing = [name for name, value in (("TENANT", tenant), ("API-KEY", api_key)) if not value]
        headers = "header" if len(missing) == 1 else "headers"
        raise Unauthenticated(f"send the {' and '.join(missing)} {headers} with every request")
    caller = _caller(tenant)
    if sandbox.credentials is None:
        return caller
    login = sandbox.credentials.find("decoda", tenant, api_key)
    if login is None:
        raise Unauthenticated(f"invalid credentials: this TENANT and API-KEY pair is not {LISTED}")
    return Caller(login.tenant or tenant)
