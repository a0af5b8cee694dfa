"""Who may call `/_sandbox/…`: loopback clients, or any client with the control token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml
from starlette.applications import Starlette
from starlette.datastructures import Address

from billing_sandbox.app import create_app
from billing_sandbox.cli import parse_args
from billing_sandbox.cli.banner import banner
from billing_sandbox.cli.serve import settings_of
from billing_sandbox.control.access import CONTROL_COOKIE, is_loopback
from billing_sandbox.settings import Settings
from tests.support.live import live_server

pytestmark = pytest.mark.anyio

REMOTE = ("203.0.113.7", 51234)  # TEST-NET-3: a client on another machine
TOKEN = "control-s3cret"


def client_from(app: Starlette, address: tuple[str, int]) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=address)
    return httpx.AsyncClient(transport=transport, base_url="http://localhost")


@pytest.fixture
async def remote(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_from(app, REMOTE) as c:
        yield c


@pytest.fixture
def guarded() -> Starlette:
    return create_app(Settings(control_token=TOKEN))


def assert_control_error(response: httpx.Response, status: int, kind: str, says: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == kind
    assert says in body["message"]


async def test_loopback_clients_need_no_token_by_default(client: httpx.AsyncClient) -> None:
    # httpx's ASGI transport reports the client as 127.0.0.1.
    assert (await client.get("/_sandbox/faults")).status_code == 200
    assert (await client.post("/_sandbox/reset")).status_code == 200


@pytest.mark.parametrize("host", ["::1", "127.0.0.53", "::ffff:127.0.0.1"])
async def test_every_loopback_address_is_this_machine(app: Starlette, host: str) -> None:
    async with client_from(app, (host, 5000)) as c:
        assert (await c.get("/_sandbox/faults")).status_code == 200


async def test_other_clients_are_forbidden_without_a_token(remote: httpx.AsyncClient) -> None:
    response = await remote.post("/_sandbox/tenants/acme/reset")
    assert_control_error(response, 403, "Forbidden", "--control-token")


async def test_health_answers_other_clients(remote: httpx.AsyncClient) -> None:
    # A liveness probe from another machine (a container's health check) needs no token.
    response = await remote.get("/_sandbox/health")
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"status", "version", "apis"}  # nothing more than that
    assert response.json()["status"] == "ok"


async def test_the_rest_of_the_control_api_stays_closed_to_them(
    remote: httpx.AsyncClient,
) -> None:
    response = await remote.post("/_sandbox/reset")
    assert_control_error(response, 403, "Forbidden", "this machine only")
    response = await remote.get("/_sandbox/tenants/acme/state")
    assert_control_error(response, 403, "Forbidden", "this machine only")


async def test_vendor_routes_stay_open_to_other_clients(remote: httpx.AsyncClient) -> None:
    response = await remote.get("/billing/charge/list", headers={"TENANT": "acme", "API-KEY": "k"})
    assert response.status_code == 200


async def test_with_a_token_a_missing_one_is_401_even_from_loopback(guarded: Starlette) -> None:
    async with client_from(guarded, ("127.0.0.1", 123)) as c:
        response = await c.post("/_sandbox/reset")
    assert_control_error(response, 401, "Unauthenticated", "Authorization: Bearer")


@pytest.mark.parametrize("header", [f"Bearer {TOKEN}x", "Bearer wrong", f"Basic {TOKEN}"])
async def test_with_a_token_a_wrong_one_is_401(guarded: Starlette, header: str) -> None:
    async with client_from(guarded, REMOTE) as c:
        response = await c.get("/_sandbox/faults", headers={"Authorization": header})
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "Unauthenticated"


async def test_with_a_token_the_right_one_opens_it_to_any_client(guarded: Starlette) -> None:
    async with client_from(guarded, REMOTE) as c:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        assert (await c.post("/_sandbox/reset", headers=headers)).status_code == 200
        reference = await c.get("/_sandbox/tenants/acme/reference/decoda", headers=headers)
        assert reference.status_code == 200


@pytest.mark.parametrize("client_address", [REMOTE, ("127.0.0.1", 123)], ids=["remote", "loopback"])
async def test_with_a_token_health_needs_none(
    guarded: Starlette, client_address: tuple[str, int]
) -> None:
    async with client_from(guarded, client_address) as c:
        assert (await c.get("/_sandbox/health")).status_code == 200
        # A wrong token is not looked at either: the operation asks for none.
        wrong = await c.get("/_sandbox/health", headers={"Authorization": "Bearer wrong"})
        assert wrong.status_code == 200
        assert (await c.get("/_sandbox/faults")).status_code == 401


async def test_a_real_loopback_socket_is_let_in() -> None:
    with live_server() as url:
        async with httpx.AsyncClient(base_url=url) as live:
            response = await live.get("/_sandbox/faults")
    assert response.status_code == 200


def test_every_control_operation_declares_401_403_and_the_token_scheme() -> None:
    # Response validation turns an undeclared status into a 500: every operation, including
    # ones added later, must declare what access control can answer.
    spec = yaml.safe_load((Settings().specs_dir / "sandbox-control.yaml").read_text())
    assert spec["components"]["securitySchemes"]["controlToken"]["scheme"] == "bearer"
    assert {"controlToken": []} in spec["security"]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "put", "post", "patch", "delete", "head", "options"}:
                continue
            if operation.get("security") == []:
                # Open to any client (the root page, health): access control never answers,
                # and the operation says so.
                declared = {"401", "403"} & set(operation["responses"])
                assert not declared, f"{method.upper()} {path} is open but declares {declared}"
                continue
            missing = {"401", "403"} - set(operation["responses"])
            assert not missing, f"{method.upper()} {path} does not declare {missing}"


def test_every_control_operation_with_a_body_declares_what_a_bad_body_gets() -> None:
    # Malformed JSON is a 400, another Content-Type a 415, a body off its schema a 422.
    spec = yaml.safe_load((Settings().specs_dir / "sandbox-control.yaml").read_text())
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "requestBody" in operation:
                missing = {"400", "415", "422"} - set(operation["responses"])
                assert not missing, f"{method.upper()} {path} does not declare {missing}"


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (Address("127.0.0.1", 1), True),
        (Address("::1", 1), True),
        (Address("::ffff:127.0.0.1", 1), True),
        (Address("10.0.0.1", 1), False),
        (Address("::ffff:10.0.0.1", 1), False),
        (Address("testclient", 1), False),
        (None, False),
    ],
)
def test_is_loopback(address: Address | None, expected: bool) -> None:
    assert is_loopback(address) is expected


def test_cli_control_token_flag_and_environment() -> None:
    assert settings_of(parse_args(["serve", "--control-token", "t0k"])).control_token == "t0k"
    assert settings_of(parse_args(["serve"])).control_token == ""
    env = {"BILLING_SANDBOX_CONTROL_TOKEN": "from-env"}
    assert Settings.from_env(env).control_token == "from-env"


def test_the_banner_says_who_may_call(tmp_path: Path) -> None:
    default = banner(Settings())
    assert "CORS lets pages of localhost, 127.0.0.1 and [::1], any port call the vendor" in default
    assert "never the control API" in default
    assert "the control API answers this machine only" in default
    strict = banner(
        Settings(
            cors_origins=("https://app.test",),
            credentials_file=tmp_path / "c.yaml",
            control_token=TOKEN,
        )
    )
    assert "CORS lets pages of https://app.test call the vendor APIs" in strict
    assert f"strict: only those listed in {tmp_path / 'c.yaml'}" in strict
    assert "needs 'Authorization: Bearer <control token>'" in strict
    assert TOKEN not in strict  # the banner may end up in a shared log


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "sandbox.internal"])
def test_the_banner_says_the_control_api_is_closed_to_other_machines(host: str) -> None:
    shown = banner(Settings(host=host))
    assert f"the control API is CLOSED to other machines: bound to {host}" in shown
    assert "--control-token TOKEN" in shown
    assert "BILLING_SANDBOX_CONTROL_TOKEN=TOKEN" in shown


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_the_banner_of_a_loopback_server_has_no_such_warning(host: str) -> None:
    shown = banner(Settings(host=host))
    assert "CLOSED" not in shown
    assert "the control API answers this machine only" in shown


def test_with_a_token_the_banner_of_an_open_bind_has_no_such_warning() -> None:
    shown = banner(Settings(host="0.0.0.0", control_token=TOKEN))
    assert "CLOSED" not in shown
    assert "needs 'Authorization: Bearer <control token>'" in shown
    assert TOKEN not in shown


async def test_a_page_of_a_foreign_origin_cannot_drive_the_control_api(
    client: httpx.AsyncClient,
) -> None:
    # A simple cross-site POST needs no preflight and comes from loopback; its Origin decides.
    # A frontend under development on a loopback origin may call the vendor APIs (CORS), but
    # not the control API: only the dashboard's own pages may, from a browser.
    for origin in ("http://evil.example", "http://localhost:3000"):
        refused = await client.post("/_sandbox/reset", headers={"Origin": origin})
        assert_control_error(refused, 403, "Forbidden", "only the sandbox's own dashboard")


# ---- the dashboard: its own page's calls, and the token kept in a cookie ----

OWN = "http://127.0.0.1:8000"


def browser(app: Starlette, base: str = OWN) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base)


async def test_the_dashboards_own_page_may_change_state(app: Starlette) -> None:
    async with browser(app) as c:
        reset = await c.post("/_sandbox/reset", headers={"Origin": OWN})
    assert reset.status_code == 200, reset.text


async def test_another_sites_page_may_not(app: Starlette) -> None:
    async with browser(app) as c:
        reset = await c.post("/_sandbox/reset", headers={"Origin": "http://evil.test"})
    assert_control_error(reset, 403, "Forbidden", "only the sandbox's own dashboard")


async def test_a_rebound_name_is_not_our_own_page_without_a_token(app: Starlette) -> None:
    # A site whose name was made to point at 127.0.0.1: Origin and Host agree, but the name
    # is not this machine's.
    async with browser(app, "http://evil.test:8000") as c:
        reset = await c.post("/_sandbox/reset", headers={"Origin": "http://evil.test:8000"})
    assert_control_error(reset, 403, "Forbidden", "only the sandbox's own dashboard")


async def test_with_a_token_the_cookie_lets_the_dashboard_in(guarded: Starlette) -> None:
    async with browser(guarded) as c:
        c.cookies.set(CONTROL_COOKIE, TOKEN)
        assert (await c.get("/_sandbox/faults")).status_code == 200
        changed = await c.post("/_sandbox/reset", headers={"Origin": OWN})
        assert changed.status_code == 200, changed.text


async def test_a_cookie_signed_change_needs_the_dashboards_origin(guarded: Starlette) -> None:
    async with browser(guarded) as c:
        c.cookies.set(CONTROL_COOKIE, TOKEN)
        bare = await c.post("/_sandbox/reset")
    assert_control_error(bare, 403, "Forbidden", "must come from its page")


async def test_a_wrong_cookie_is_401(guarded: Starlette) -> None:
    async with browser(guarded) as c:
        c.cookies.set(CONTROL_COOKIE, "guess")
        wrong = await c.get("/_sandbox/faults")
    assert_control_error(wrong, 401, "Unauthenticated", "wrong")
