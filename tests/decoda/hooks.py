"""Decoda webhook test helpers: register a receiver, act, wait for deliveries, verify them."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
from starlette.applications import Starlette

from tests.decoda.helpers import creds
from tests.support.receiver import Received

HOOKS = "/webhook/decoda"
FROZEN = "2026-03-01T12:00:00+00:00"


async def register(
    client: httpx.AsyncClient, url: str, types: list[str], tenant: str = "acme"
) -> dict[str, Any]:
    body = {"url": url, "subscriptions": types}
    response = await client.post(f"{HOOKS}/create", json=body, headers=creds(tenant))
    assert response.status_code == 200, response.text
    made: dict[str, Any] = response.json()
    return made


async def new_patient(client: httpx.AsyncClient, tenant: str = "acme") -> dict[str, Any]:
    body = {"firstName": "Ada", "email": "ada@example.test"}
    response = await client.post("/user/patient/create", json=body, headers=creds(tenant))
    assert response.status_code == 200, response.text
    made: dict[str, Any] = response.json()
    return made


async def settled(app: Starlette) -> None:
    """Wait for the deliveries in flight (they run after each response)."""
    await app.state.courier.idle()


async def attempts(client: httpx.AsyncClient, webhook_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"{HOOKS}/{webhook_id}/delivery-attempts/list", headers=creds())
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def verified(got: Received, secret: str) -> dict[str, Any]:
    """The envelope, after checking its signature over the raw body."""
    expected = hmac.new(secret.encode(), got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got.headers["decoda-signature"], expected)
    assert got.headers["content-type"] == "application/json"
    envelope: dict[str, Any] = json.loads(got.body)
    return envelope


async def clock(client: httpx.AsyncClient, tenant: str = "acme", **body: Any) -> None:
    response = await client.post(f"/_sandbox/tenants/{tenant}/clock", json=body)
    assert response.status_code == 200, response.text
