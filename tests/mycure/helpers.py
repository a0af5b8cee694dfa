"""MYCURE test helpers: sign-in, fixture ids, and the Feathers error check."""

from __future__ import annotations

from typing import Any

import httpx

ORG = "clinic-a.test"
FACILITY = "5eb00000000000000000fa01"
FACILITY_2 = "5eb00000000000000000fa02"
HMO = "5eb00000000000000000c001"  # organization: insurance / hmo
GOVERNMENT = "5eb00000000000000000c002"  # organization: insurance / government
COMPANY = "5eb00000000000000000c003"  # organization: corporate-partner
HMO_CONTRACT = "5eb00000000000000000cc01"  # FACILITY ↔ HMO
COMPANY_CONTRACT = "5eb00000000000000000cc02"  # FACILITY ↔ COMPANY
DRAFT = "5eb000000000000000005a01"
DRAFT_2 = "5eb000000000000000005a02"
FINALIZED = "5eb000000000000000005a03"
FINALIZED_2 = "5eb000000000000000005a04"


async def sign_in(client: httpx.AsyncClient, email: str = f"ana@{ORG}") -> dict[str, Any]:
    response = await client.post(
        "/authentication", json={"strategy": "local", "email": email, "password": "sandbox"}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def bearer(client: httpx.AsyncClient, email: str = f"ana@{ORG}") -> dict[str, str]:
    return {"Authorization": f"Bearer {(await sign_in(client, email))['accessToken']}"}


def assert_feathers(response: httpx.Response, status: int, name: str, contains: str = "") -> Any:
    """A Feathers error: the status, `{name, message, code, className, errors}`, the message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"name", "message", "code", "className", "errors"}, body
    assert (body["name"], body["code"]) == (name, status)
    assert contains in body["message"], body["message"]
    return body


async def create(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body = {"facility": FACILITY, "type": "organization", "customer": HMO, **fields}
    response = await client.post("/billing-soas", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created
