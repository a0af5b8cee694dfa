"""The control API lets in only who it should: DNS rebinding, CORS, forged tokens, secrets kept."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from billing_sandbox.app import create_app
from billing_sandbox.control.access import names_this_machine
from billing_sandbox.observe import redaction
from billing_sandbox.settings import Settings
from billing_sandbox.signing import jwt_encode
from billing_sandbox.state import persistence
from tests.mycure.helpers import ORG, assert_feathers

pytestmark = pytest.mark.anyio

# The key every sandbox signed its bearer tokens with until now: it was in the source code.
PUBLISHED = "billing-sandbox-not-a-secret"
FAR_FUTURE = 4_102_444_800  # 2100-01-01


def client_of(app: Starlette, base: str = "http://localhost") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base)


# ---- DNS rebinding: without a token, only requests addressed to this machine ----


@pytest.mark.parametrize(
    "host",
    [
        "evil.test",
        "127.0.0.1.evil.test",
        "127.evil.test",
        "127.1",  # a resolver's reading of a name, not an address as written
        "0x7f.0.0.1",
        "2130706433",
        "localhost.evil.test",
        "[::ffff:127.0.0.1]",
        "0.0.0.0",
        "",
    ],
)
async def test_a_host_that_does_not_name_this_machine_is_refused(app: Starlette, host: str) -> None:
    async with client_of(app) as client:
        for method, path in (("GET", "/_sandbox/state"), ("POST", "/_sandbox/reset")):
            response = await client.request(method, path, headers={"Host": host})
            assert response.status_code == 403, (host, response.text)
            body = response.json()
            assert body["error"] == "Forbidden"
            assert "--control-token" in body["message"]
            assert "--allowed-host" in body["message"]


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST:8000", "127.0.0.1", "127.0.0.1:8000", "127.9.8.7", "[::1]:80"]
)
async def test_loopback_names_and_literals_are_this_machine(app: Starlette, host: str) -> None:
    async with client_of(app) as client:
        response = await client.get("/_sandbox/faults", headers={"Host": host})
    assert response.status_code == 200, response.text


async def test_the_dashboard_and_the_journal_stream_check_the_host_too(app: Starlette) -> None:
    async with client_of(app, "http://rebound.test:8000") as client:
        page = await client.get("/_sandbox/ui/")
        assert page.status_code == 403
        assert "--control-token" in page.text
        stream = await client.get("/_sandbox/requests/stream")
        assert stream.status_code == 403


async def test_an_allowed_host_is_let_in(clock: Any) -> None:
    app = create_app(Settings(allowed_hosts=("sandbox.home.arpa",)), clock=clock)
    async with client_of(app, "http://sandbox.home.arpa:8000") as client:
        assert (await client.get("/_sandbox/faults")).status_code == 200
        own = await client.post(
            "/_sandbox/reset", headers={"Origin": "http://sandbox.home.arpa:8000"}
        )
        assert own.status_code == 200, own.text


async def test_with_a_token_any_host_may_call(clock: Any) -> None:
    app = create_app(Settings(control_token="t0k"), clock=clock)
    async with client_of(app, "http://sandbox.example.test") as client:
        response = await client.get("/_sandbox/faults", headers={"Authorization": "Bearer t0k"})
    assert response.status_code == 200


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.from_regex(
            r"127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[a-z]{1,10}(\.[a-z]{2,5})?", fullmatch=True
        ),
        st.from_regex(r"127(\.[0-9a-fx]{1,4}){0,2}", fullmatch=True),
        st.from_regex(r"[a-z0-9-]{1,20}\.(test|example|com)", fullmatch=True),
        st.integers(0, 2**32 - 1).map(str),
        st.integers(0, 2**32 - 1).map(hex),
    )
)
def test_only_exact_loopback_literals_count(host: str) -> None:
    # Whatever starts like 127 or spells it another way, only the dotted form is an address.
    parts = host.split(".")
    dotted = len(parts) == 4 and all(
        p.isdigit() and str(int(p)) == p and int(p) < 256 for p in parts
    )
    assert names_this_machine(host) == (dotted and parts[0] == "127")


# ---- CORS opens the vendor APIs, never the control API ----


@pytest.mark.parametrize("origins", [("*",), ("https://app.test",), ()])
async def test_a_foreign_page_can_neither_read_state_nor_reset(
    clock: Any, origins: tuple[str, ...]
) -> None:
    app = create_app(Settings(cors_origins=origins), clock=clock)
    page = "https://app.test" if origins else "http://localhost:3000"
    async with client_of(app) as client:
        before = await client.get("/_sandbox/state")
        read = await client.get("/_sandbox/state", headers={"Origin": page})
        assert read.status_code == 403
        assert "access-control-allow-origin" not in read.headers
        preflight = await client.options(
            "/_sandbox/reset",
            headers={"Origin": page, "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in preflight.headers
        reset = await client.post("/_sandbox/reset", headers={"Origin": page})
        assert reset.status_code == 403
        assert "never /_sandbox" in reset.json()["message"]
        assert (await client.get("/_sandbox/state")).content == before.content
        # The vendor APIs are what CORS is for.
        vendor = await client.get("/api/write-offs/v1", headers={"Origin": page})
        assert vendor.headers["access-control-allow-origin"] in (page, "*")


# ---- strict credentials cannot be forged ----


def forged_candid(tenant: str, secret: str = PUBLISHED) -> str:
    key = hashlib.sha256(f"{secret}:candid-token".encode()).digest()
    return jwt_encode({"sub": tenant, "cid": tenant, "exp": FAR_FUTURE}, key)


def forged_mycure(email: str, secret: str = PUBLISHED) -> str:
    key = hashlib.sha256(f"{secret}:mycure-token".encode()).digest()
    claims = {"uid": "u1", "email": email, "org": ORG, "typ": "access", "exp": FAR_FUTURE}
    return jwt_encode(claims, key)


@pytest.fixture
def strict(tmp_path: Path, clock: Any) -> Starlette:
    listed = tmp_path / "credentials.yaml"
    listed.write_text(
        "candid:\n  - {client_id: acme, client_secret: s3cret}\n"
        f"mycure:\n  - {{email: ana@{ORG}, password: s3cret}}\n"
        "decoda:\n  - {tenant_header: acme, api_key: k3y}\n"
    )
    return create_app(Settings(credentials_file=listed), clock=clock)


async def test_a_token_signed_with_the_published_key_is_refused(strict: Starlette) -> None:
    async with client_of(strict) as client:
        candid = await client.get(
            "/api/write-offs/v1", headers={"Authorization": f"Bearer {forged_candid('acme')}"}
        )
        assert candid.status_code == 401, candid.text
        assert candid.json()["errorName"] == "UnauthorizedError"
        mycure = await client.get(
            "/billing-soas", headers={"Authorization": f"Bearer {forged_mycure(f'ana@{ORG}')}"}
        )
        assert_feathers(mycure, 401, "NotAuthenticated", "not one this sandbox issued")


async def test_each_server_signs_with_a_key_of_its_own(clock: Any) -> None:
    first, second = create_app(Settings(), clock=clock), create_app(Settings(), clock=clock)
    assert first.state.sandbox.signing_secret != second.state.sandbox.signing_secret
    async with client_of(first) as one, client_of(second) as other:
        issued = await one.post(
            "/api/auth/v2/token", json={"client_id": "acme", "client_secret": "x"}
        )
        headers = {"Authorization": f"Bearer {issued.json()['access_token']}"}
        assert (await one.get("/api/write-offs/v1", headers=headers)).status_code == 200
        assert (await other.get("/api/write-offs/v1", headers=headers)).status_code == 401


async def test_a_configured_secret_is_the_key(clock: Any) -> None:
    app = create_app(Settings(secret="team-secret-0123456789"), clock=clock)
    async with client_of(app) as client:
        forged = forged_candid("acme", "team-secret-0123456789")
        ok = await client.get("/api/write-offs/v1", headers={"Authorization": f"Bearer {forged}"})
    assert ok.status_code == 200, ok.text


async def test_the_state_file_keeps_the_key_so_tokens_survive_a_restart(
    tmp_path: Path, clock: Any
) -> None:
    state = tmp_path / "state.json"
    before = create_app(Settings(state_file=state), clock=clock)
    async with client_of(before) as client:
        issued = await client.post(
            "/api/auth/v2/token", json={"client_id": "acme", "client_secret": "x"}
        )
    persistence.save(before.state.sandbox)
    kept = orjson.loads(state.read_bytes())["signingSecret"]
    assert kept == before.state.sandbox.signing_secret
    after = create_app(Settings(state_file=state), clock=clock)
    assert after.state.sandbox.signing_secret == kept
    headers = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    async with client_of(after) as client:
        assert (await client.get("/api/write-offs/v1", headers=headers)).status_code == 200
        # ... and an export over the control API never carries it.
        export = await client.get("/_sandbox/state")
    assert kept.encode() not in export.content
    assert (state.stat().st_mode & 0o077) == 0  # the file is its owner's alone


# ---- secrets never rest in plain text ----


async def test_the_journal_keeps_no_credential(client: httpx.AsyncClient) -> None:
    token = await client.post(
        "/api/auth/v2/token", json={"client_id": "acme", "client_secret": "candid-s3cret"}
    )
    access = token.json()["access_token"]
    signed_in = await client.post(
        "/authentication",
        json={"strategy": "local", "email": f"ana@{ORG}", "password": "mycure-s3cret"},
    )
    issued = signed_in.json()["accessToken"]
    hook = await client.post(
        "/webhook/decoda/create",
        headers={"TENANT": "acme", "API-KEY": "decoda-k3y"},
        json={
            "url": "http://127.0.0.1:9/hook",
            "subscriptions": ["PAYMENT_CREATED", "CHARGE_CREATED"],
        },
    )
    await client.get(f"/billing-soas?access_token={issued}&password=p4ss")
    journal = await client.get("/_sandbox/requests", params={"limit": 50})
    assert journal.status_code == 200
    kept = journal.text
    for secret in ("candid-s3cret", "mycure-s3cret", "p4ss", access, issued, "decoda-k3y"):
        assert secret not in kept, secret
    assert hook.status_code < 300, hook.text
    assert hook.json()["secret"] not in kept
    assert "[redacted]" in kept
    # What the journal is for stays: the client id, the email, the path.
    assert "acme" in kept
    assert f"ana@{ORG}" in kept


async def test_a_credential_spelled_with_escapes_is_kept_redacted_too(
    client: httpx.AsyncClient,
) -> None:
    # What the server reads as `client_secret` and `access_token`, spelled so that neither
    # word shows in what was sent (a JSON `\\u` escape, a query's `%74`).
    escaped = b'{"client_id": "acme", "client_secr\\u0065t": "escaped-s3cret"}'
    issued = await client.post(
        "/api/auth/v2/token", content=escaped, headers={"Content-Type": "application/json"}
    )
    assert issued.status_code == 200, issued.text  # the server read the secret
    await client.get("/billing-soas?access_%74oken=escaped-t0ken")
    kept = (await client.get("/_sandbox/requests")).text
    assert "escaped-s3cret" not in kept
    assert "escaped-t0ken" not in kept


async def test_a_torn_or_deep_body_is_kept_redacted_too(client: httpx.AsyncClient) -> None:
    await client.post(
        "/api/auth/v2/token",
        content=b'{"client_id": "acme", "client_secret": "torn-s3cret"',
        headers={"Content-Type": "application/json"},
    )
    deep = b'{"password": "deep-s3cret", "x": ' + b"[" * 900 + b"]" * 900 + b"}"
    await client.post("/authentication", content=deep, headers={"Content-Type": "application/json"})
    kept = (await client.get("/_sandbox/requests")).text
    assert "torn-s3cret" not in kept
    assert "deep-s3cret" not in kept


def test_a_body_with_nothing_to_redact_is_kept_as_it_came() -> None:
    # The journal records every request: one that holds no secret is not parsed at all.
    body = orjson.dumps({"items": [{"amount_cents": n} for n in range(2000)]})
    assert redaction.body_bytes(body, "application/json") is body
