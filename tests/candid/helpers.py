"""Candid test helpers: tokens, fixture ids, and walking every page of a listing."""

from __future__ import annotations

from typing import Any

import httpx

WRITE_OFFS = "/api/write-offs/v1"
SERVICE_LINE = "5e1f0000-0000-4000-8000-000000000001"
CLAIM = "5e1f0000-0000-4000-8000-000000000011"
PATIENT = "SANDBOX-PATIENT-0001"
BILLING_PROVIDER = "5e1f0000-0000-4000-8000-000000000021"
PAYER = "5e1f0000-0000-4000-8000-000000000101"
NON_INSURANCE_PAYER = "5e1f0000-0000-4000-8000-000000000201"
ADJUSTMENT = "5e1f0000-0000-4000-8000-000000000301"
ERA_ADJUSTMENT = "5e1f0000-0000-4000-8000-000000000302"
CURATED_WRITE_OFF = "5e1f0000-0000-4000-8000-000000000401"
UNKNOWN = "00000000-0000-4000-8000-00000000dead"


async def auth(client: httpx.AsyncClient, client_id: str = "acme") -> dict[str, str]:
    """Headers carrying a fresh bearer token for `client_id` (the tenant)."""
    response = await client.post(
        "/api/auth/v2/token", json={"client_id": client_id, "client_secret": "sandbox-secret"}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def walk(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    """Every item of a listing, following next_page_token to the end."""
    items: list[dict[str, Any]] = []
    query = dict(params)
    while True:
        response = await client.get(WRITE_OFFS, params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        if "next_page_token" not in page:
            return items
        query["page_token"] = page["next_page_token"]


def patient_item(**overrides: Any) -> dict[str, Any]:
    item = {
        "type": "patient",
        "write_off_timestamp": "2024-01-15T09:30:00Z",
        "write_off_reason": "SMALL_BALANCE",
        "service_line_id": SERVICE_LINE,
        "amount_cents": 1250,
    }
    return {**item, **overrides}


def insurance_item(**overrides: Any) -> dict[str, Any]:
    item = {
        "type": "insurance",
        "payer_identifier": {"type": "payer_uuid", "value": PAYER},
        "write_off_target": {"type": "service_line_id", "value": SERVICE_LINE},
        "write_off_timestamp": "2024-01-15T09:30:00Z",
        "write_off_reason": "CONTRACTUAL_ADJUSTMENT",
        "amount_cents": 4000,
    }
    return {**item, **overrides}


def non_insurance_item(**overrides: Any) -> dict[str, Any]:
    item = {
        "type": "non_insurance_payer",
        "non_insurance_payer_id": NON_INSURANCE_PAYER,
        "service_line_id": SERVICE_LINE,
        "write_off_timestamp": "2024-01-15T09:30:00Z",
        "write_off_reason": "OTHER",
        "amount_cents": 900,
    }
    return {**item, **overrides}


def assert_candid_error(response: httpx.Response, status: int, name: str) -> Any:
    """Check status and envelope; return the error's content for further checks."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["errorName"] == name, body
    return body["content"]
