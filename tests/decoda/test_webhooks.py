"""Webhook endpoints: create, list (with archived), get, update, archive, on both paths;
the host rule; tenants; snapshots."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from billing_sandbox.app import create_app
from billing_sandbox.clock import ManualClock
from billing_sandbox.events.targets import refusal
from billing_sandbox.settings import Settings
from tests.decoda.helpers import assert_detail, creds

pytestmark = pytest.mark.anyio

CURRENT = "/webhook/decoda"
LEGACY = "/v1/webhook"
URL = "http://127.0.0.1:9/hooks"


async def register(
    client: httpx.AsyncClient, base: str = CURRENT, tenant: str = "acme", **body: object
) -> dict[str, object]:
    payload = {"url": URL, "subscriptions": ["PAYMENT_CREATED"], **body}
    response = await client.post(f"{base}/create", json=payload, headers=creds(tenant))
    assert response.status_code == 200, response.text
    made: dict[str, object] = response.json()
    return made


@pytest.mark.parametrize("base", [CURRENT, LEGACY])
async def test_a_webhook_is_created_with_a_secret_and_read_back(
    client: httpx.AsyncClient, base: str
) -> None:
    made = await register(client, base, notificationEmail="ops@example.test")
    assert made["url"] == URL
    assert made["subscriptions"] == ["PAYMENT_CREATED"]
    assert isinstance(made["secret"], str) and made["secret"]
    assert made["isArchived"] is False
    assert made["updatedDate"] is None
    got = await client.get(f"{base}/get/{made['id']}", headers=creds())
    assert got.json() == made


async def test_both_generations_share_the_tenants_webhooks(client: httpx.AsyncClient) -> None:
    made = await register(client, LEGACY)
    got = await client.get(f"{CURRENT}/get/{made['id']}", headers=creds())
    assert got.status_code == 200


async def test_update_changes_what_is_given(client: httpx.AsyncClient) -> None:
    made = await register(client)
    body = {"subscriptions": ["CHARGE_CREATED", "PATIENT_CREATED"], "url": None}
    response = await client.put(f"{CURRENT}/update/{made['id']}", json=body, headers=creds())
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["subscriptions"] == ["CHARGE_CREATED", "PATIENT_CREATED"]
    assert changed["url"] == URL
    assert changed["secret"] == made["secret"]
    assert changed["updatedDate"] is not None


async def test_delete_archives_and_the_list_hides_archived(client: httpx.AsyncClient) -> None:
    kept = await register(client)
    gone = await register(client)
    deleted = await client.delete(f"{CURRENT}/delete/{gone['id']}", headers=creds())
    assert deleted.status_code == 200 and deleted.json() is True
    listed = await client.get(f"{CURRENT}/list", headers=creds())
    assert [w["id"] for w in listed.json()] == [kept["id"]]
    every = await client.get(f"{CURRENT}/list?include_archived=true", headers=creds())
    assert [(w["id"], w["isArchived"]) for w in every.json()] == [
        (kept["id"], False),
        (gone["id"], True),
    ]


async def test_an_unknown_webhook_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{CURRENT}/get/whk_nope", headers=creds())
    assert_detail(response, 404, "Webhook whk_nope not found")


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com/x", "http://8.8.8.8/x", "ftp://127.0.0.1/x", "nonsense"]
)
async def test_a_public_or_odd_url_is_refused_naming_the_rule(
    client: httpx.AsyncClient, url: str
) -> None:
    body = {"url": url, "subscriptions": []}
    response = await client.post(f"{CURRENT}/create", json=body, headers=creds())
    detail = assert_detail(response, 422)
    assert detail[0]["loc"] == ["body", "url"]
    assert detail[0]["type"] == "url_not_allowed"
    assert "webhook_hosts" in detail[0]["msg"]


async def test_an_update_to_a_public_url_is_refused(client: httpx.AsyncClient) -> None:
    made = await register(client)
    body = {"url": "https://hooks.example.com/x"}
    response = await client.put(f"{CURRENT}/update/{made['id']}", json=body, headers=creds())
    assert_detail(response, 422)
    got = await client.get(f"{CURRENT}/get/{made['id']}", headers=creds())
    assert got.json()["url"] == URL


@pytest.mark.parametrize(
    ("url", "allowed", "ok"),
    [
        ("http://localhost:8080/", ("loopback",), True),
        ("http://[::1]:8080/", ("loopback",), True),
        ("http://10.1.2.3/", ("loopback",), False),
        ("http://10.1.2.3/", ("private",), True),
        ("http://receiver:8080/", ("private",), True),
        ("http://receiver.example.com/", ("loopback", "private"), False),
        ("http://receiver.example.com/", ("receiver.example.com",), True),
        ("http://10.9.0.1/", ("10.9.0.0/16",), True),
        ("http://10.1.2.3/", ("10.9.0.0/16",), False),
        # A network entry narrows the rule, never widens it past loopback and private.
        ("http://203.0.113.9/", ("203.0.113.0/24",), False),
        ("https://anything.example/", ("any",), False),
        ("http://169.254.169.254/", ("loopback", "private"), False),
        ("http://127.0.0.1/", (), False),
    ],
)
def test_the_host_rule(url: str, allowed: tuple[str, ...], ok: bool) -> None:
    assert (refusal(url, allowed) is None) is ok


async def test_the_setting_names_a_host(clock: ManualClock) -> None:
    # (Its addresses must still be loopback or private when sent: tests/security.)
    app = create_app(Settings(webhook_hosts=("loopback", "hooks.example.com")), clock=clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox"
    ) as client:
        made = await register(client, url="https://hooks.example.com/x")
    assert made["url"] == "https://hooks.example.com/x"


async def test_tenants_do_not_see_each_others_webhooks(client: httpx.AsyncClient) -> None:
    made = await register(client, tenant="acme")
    other = await client.get(f"{CURRENT}/get/{made['id']}", headers=creds("globex"))
    assert other.status_code == 404
    listed = await client.get(f"{CURRENT}/list", headers=creds("globex"))
    assert listed.json() == []


async def test_webhooks_survive_a_snapshot(client: httpx.AsyncClient, app: Starlette) -> None:
    made = await register(client)
    saved = await client.get("/_sandbox/tenants/acme/state")
    assert saved.status_code == 200, saved.text
    await client.post("/_sandbox/tenants/acme/reset")
    assert (await client.get(f"{CURRENT}/list", headers=creds())).json() == []
    restored = await client.put("/_sandbox/tenants/acme/state", json=saved.json())
    assert restored.status_code < 300, restored.text
    got = await client.get(f"{CURRENT}/get/{made['id']}", headers=creds())
    assert got.json() == made
