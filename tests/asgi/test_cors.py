"""CORS: browser apps on loopback origins (or the configured ones) may call every route."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from billing_sandbox.app import create_app
from billing_sandbox.asgi.cors import InvalidOrigin, check_origin
from billing_sandbox.cli import parse_args
from billing_sandbox.cli.serve import settings_of
from billing_sandbox.settings import Settings
from tests.decoda.helpers import creds
from tests.support.live import live_server

pytestmark = pytest.mark.anyio

FRONTEND = "http://localhost:3000"


def preflight(origin: str, method: str, headers: str = "") -> dict[str, str]:
    """The headers a browser sends before a cross-origin call it may not make unasked."""
    asked = {"Origin": origin, "Access-Control-Request-Method": method}
    return asked | ({"Access-Control-Request-Headers": headers} if headers else {})


def listed(response: httpx.Response, header: str) -> set[str]:
    return {item.strip().lower() for item in response.headers.get(header, "").split(",")}


@pytest.fixture
async def configured(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a sandbox whose `cors_origins` are the test's parameter."""
    transport = httpx.ASGITransport(app=create_app(Settings(cors_origins=request.param)))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
        yield c


async def test_preflight_on_a_vendor_route_allows_the_vendors_headers(
    client: httpx.AsyncClient,
) -> None:
    asked = "tenant, api-key, authorization, prefer, content-type"
    response = await client.options(
        "/billing/charge/list", headers=preflight(FRONTEND, "GET", asked)
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == FRONTEND
    assert {"tenant", "api-key", "authorization", "prefer", "content-type"} <= listed(
        response, "access-control-allow-headers"
    )
    assert "GET" in response.headers["access-control-allow-methods"]


async def test_preflight_allows_mycure_sdk_headers_and_methods(
    client: httpx.AsyncClient,
) -> None:
    # @mycure/sdk-js sends `Environment`; finalising a statement is a PATCH, removing a DELETE.
    for method in ("PATCH", "DELETE"):
        response = await client.options(
            "/billing-soas/5eb000000000000000005a01",
            headers=preflight(FRONTEND, method, "authorization,environment,content-type"),
        )
        assert response.status_code == 200, response.text
        assert response.headers["access-control-allow-origin"] == FRONTEND


async def test_no_preflight_is_granted_on_a_control_route(client: httpx.AsyncClient) -> None:
    # CORS opens the vendor APIs to browser apps, never the control API.
    response = await client.options(
        "/_sandbox/tenants/acme/reset",
        headers=preflight("http://127.0.0.1:5173", "POST", "authorization,content-type"),
    )
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-methods" not in response.headers


async def test_responses_to_an_allowed_origin_can_be_read_and_expose_allow(
    client: httpx.AsyncClient,
) -> None:
    # A 405 carries `Allow`, which a browser hides unless it is exposed.
    response = await client.put("/billing-soas", headers={"Origin": FRONTEND})
    assert response.status_code == 405
    assert response.headers["access-control-allow-origin"] == FRONTEND
    assert "allow" in listed(response, "access-control-expose-headers")


async def test_errors_are_readable_by_the_browser_too(client: httpx.AsyncClient) -> None:
    response = await client.get("/billing/charge/list", headers={"Origin": FRONTEND})
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == FRONTEND


@pytest.mark.parametrize(
    "origin",
    ["http://localhost", "https://localhost:8443", "http://127.0.0.1:5173", "http://[::1]:3000"],
)
async def test_every_loopback_origin_is_allowed_by_default(
    client: httpx.AsyncClient, origin: str
) -> None:
    response = await client.options("/api/write-offs/v1", headers=preflight(origin, "GET"))
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == origin


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.test",
        "http://localhost.evil.test",
        "http://localhost:3000.evil.test",
        "http://10.0.0.5:3000",
        "null",
    ],
)
async def test_an_unlisted_origin_is_refused(client: httpx.AsyncClient, origin: str) -> None:
    ask = await client.options(
        "/billing/charge/list", headers=preflight(origin, "GET", "tenant,api-key")
    )
    assert ask.status_code == 400
    assert "access-control-allow-origin" not in ask.headers
    # A vendor request itself is still served (CORS is the browser's to enforce), but
    # unreadable; the control API refuses pages of such origins outright.
    call = await client.get("/billing/charge/list", headers={"Origin": origin, **creds()})
    assert call.status_code == 200
    assert "access-control-allow-origin" not in call.headers
    control = await client.get("/_sandbox/faults", headers={"Origin": origin})
    assert control.status_code == 403
    assert "access-control-allow-origin" not in control.headers


@pytest.mark.parametrize("configured", [("https://app.example.test",)], indirect=True)
async def test_configured_origins_replace_the_loopback_default(
    configured: httpx.AsyncClient,
) -> None:
    allowed = await configured.options(
        "/billing-soas", headers=preflight("https://app.example.test", "POST", "authorization")
    )
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.test"
    refused = await configured.options("/billing-soas", headers=preflight(FRONTEND, "POST"))
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


@pytest.mark.parametrize("configured", [("*",)], indirect=True)
async def test_a_star_allows_every_origin(configured: httpx.AsyncClient) -> None:
    ask = await configured.options(
        "/api/write-offs/v1", headers=preflight("https://anywhere.test", "GET", "authorization")
    )
    assert ask.status_code == 200
    assert ask.headers["access-control-allow-origin"] == "*"
    call = await configured.get("/api/write-offs/v1", headers={"Origin": "https://anywhere.test"})
    assert call.headers["access-control-allow-origin"] == "*"
    # Not the control API, whatever the setting: its answers stay unreadable to other sites.
    state = await configured.get("/_sandbox/state", headers={"Origin": "https://anywhere.test"})
    assert state.status_code == 403
    assert "access-control-allow-origin" not in state.headers


async def test_a_preflight_over_a_real_socket() -> None:
    with live_server() as url:
        async with httpx.AsyncClient(base_url=url) as live:
            response = await live.options(
                "/api/auth/v2/token", headers=preflight(FRONTEND, "POST", "content-type")
            )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == FRONTEND


def test_cli_cors_origins_are_repeatable_and_replace_the_default() -> None:
    settings = settings_of(
        parse_args(["serve", "--cors-origin", "http://App.test:3000", "--cors-origin", "*"])
    )
    assert settings.cors_origins == ("http://app.test:3000", "*")
    assert settings_of(parse_args(["serve"])).cors_origins == ()


def test_cli_refuses_a_string_that_is_not_an_origin(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        settings_of(parse_args(["serve", "--cors-origin", "http://localhost:3000/"]))
    assert exit_.value.code == 2
    assert "not an origin" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["localhost:3000", "http://a.test/app", "", "http://"])
def test_check_origin_refuses_what_no_browser_sends(text: str) -> None:
    with pytest.raises(InvalidOrigin):
        check_origin(text)


def test_origins_come_from_the_environment_comma_separated() -> None:
    settings = Settings.from_env(
        {"BILLING_SANDBOX_CORS_ORIGINS": "https://a.test, http://b.test:8080"}
    )
    assert settings.cors_origins == ("https://a.test", "http://b.test:8080")


def test_a_bad_origin_from_the_environment_stops_the_app() -> None:
    with pytest.raises(InvalidOrigin):
        create_app(Settings(cors_origins=("http://a.test/",)))
