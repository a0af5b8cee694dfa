"""Decoda test helpers: credentials, fixture ids, and small call wrappers."""

from __future__ import annotations

from typing import Any

import httpx

PATIENT = "pat_sandbox_0001"
ITEM = "item_sandbox_0001"
ITEM_2 = "item_sandbox_0002"
CHARGE = "chg_sandbox_0001"  # OUTSTANDING, 10000 of 10000 owed
PART_PAID = "chg_sandbox_0002"  # 6000 balance, 4000 paid in cash: 2000 owed
PAYMENT = "pay_sandbox_0001"  # the CASH 4000 on PART_PAID
CREATE = "/billing/payment-terminal/charge/create"
SETTLE = "/billing/payment-terminal/charge/create-cash-settled"


def creds(tenant: str = "acme") -> dict[str, str]:
    return {"TENANT": tenant, "API-KEY": "sandbox-key"}


def assert_detail(response: httpx.Response, status: int, contains: str = "") -> Any:
    """Check a FastAPI-style error: status, `detail`, and (for strings) what it says."""
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    if isinstance(detail, str):
        assert contains in detail, detail
    return detail


async def new_charge(
    client: httpx.AsyncClient, owed: int = 10_000, tenant: str = "acme", **body: Any
) -> dict[str, Any]:
    payload = {"patientId": PATIENT, "totalOutstanding": owed, **body}
    response = await client.post(CREATE, json=payload, headers=creds(tenant))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def charge(client: httpx.AsyncClient, charge_id: str, tenant: str = "acme") -> dict[str, Any]:
    response = await client.get(f"/billing/charge/get/{charge_id}", headers=creds(tenant))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def settle(
    client: httpx.AsyncClient,
    charge_ids: list[str],
    amount: int,
    medium: str = "CASH",
    **query: Any,
) -> httpx.Response:
    params = {"payment_medium": medium, "amount": amount, **query}
    body = [{"id": c, "patientId": PATIENT, "totalOutstanding": 0} for c in charge_ids]
    return await client.post(SETTLE, params=params, json=body, headers=creds())


async def timeline(client: httpx.AsyncClient, **query: str) -> list[dict[str, Any]]:
    response = await client.get("/billing/charge/timeline", params=query, headers=creds())
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()
    return events
