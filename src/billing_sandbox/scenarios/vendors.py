"""What the engine knows of each API, as a client does: its spec's file, and how to sign in as a
tenant (Decoda's TENANT and API-KEY headers; a Candid token for the tenant's client id; a MYCURE
sign-in of an account whose email domain is the tenant)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from billing_sandbox.scenarios.model import CONTROL
from billing_sandbox.spec.document import Spec, load_spec

SPEC_FILES = {
    "candid": "candid-write-offs.yaml",
    "decoda": "decoda-billing.yaml",
    "mycure": "mycure-billing-soas.yaml",
    CONTROL: "sandbox-control.yaml",
}
# Made up, as a client's own would be: a sandbox without a credentials file accepts any.
SECRET = "scenario"  # noqa: S105
# The MYCURE account a scenario signs in as (and its records' `createdBy`): `{tenant}` its
# domain, which names the tenant.
MYCURE_EMAIL = "scenario@{tenant}"


def spec_for(specs: Mapping[str, Spec], api: str) -> Spec | None:
    """`api`'s spec from `specs`, keyed by API name (candid, decoda, mycure, sandbox) or by the
    spec's own name (the file's stem, as `Sandbox.specs` keys them)."""
    if api in specs:
        return specs[api]
    stem = SPEC_FILES.get(api, "").removesuffix(".yaml")
    return specs.get(stem)


def bundled_specs(directory: Path) -> dict[str, Spec]:
    """Every API's spec in `directory` (the served specs), by API name."""
    return {api: load_spec(directory / file) for api, file in SPEC_FILES.items()}


@dataclass(frozen=True)
class SignIn:
    """How a client of one API gets credentials for a tenant: the headers to send as they are,
    or a call whose answer holds a bearer token (`token_field`)."""

    headers: Mapping[str, str] | None = None
    path: str = ""
    body: Mapping[str, str] | None = None
    token_field: str = ""


def sign_in(api: str, tenant: str) -> SignIn:
    if api == "decoda":
        return SignIn(headers={"TENANT": tenant, "API-KEY": SECRET})
    if api == "candid":
        body = {"client_id": tenant, "client_secret": SECRET}
        return SignIn(path="/api/auth/v2/token", body=body, token_field="access_token")  # noqa: S106 (a field's name)
    if api == "mycure":
        body = {
            "strategy": "local",
            "email": MYCURE_EMAIL.format(tenant=tenant),
            "password": SECRET,
        }
        return SignIn(path="/authentication", body=body, token_field="accessToken")  # noqa: S106 (a field's name)
    raise ValueError(f"no API is named {api!r}")
