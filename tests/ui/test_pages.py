"""The dashboard's pages, in process: who may see them, the sign-in, and what they are sent with.
What the pages do in a browser is in tests/browser/ (`pytest -m browser`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from billing_sandbox.app import create_app
from billing_sandbox.cli.banner import banner
from billing_sandbox.control.access import CONTROL_COOKIE
from billing_sandbox.settings import Settings
from billing_sandbox.ui.pages import PAGES

pytestmark = pytest.mark.anyio

UI = "/_sandbox/ui"
OWN = "http://127.0.0.1:8000"
TOKEN = "open-sesame"


def client_of(app: Starlette, client: tuple[str, int] = ("127.0.0.1", 5000)) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=client)
    return httpx.AsyncClient(transport=transport, base_url=OWN)


@pytest.fixture
async def browser(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(app) as c:
        yield c


@pytest.fixture
async def guarded() -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(create_app(Settings(control_token=TOKEN))) as c:
        yield c


@pytest.mark.parametrize(("path", "title"), [(path, name) for path, _, name in PAGES])
async def test_each_page_is_served_to_this_machine(
    browser: httpx.AsyncClient, path: str, title: str
) -> None:
    page = await browser.get(UI + path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f"<h1>{title}</h1>" in page.text
    # Only the dashboard's own script runs, and no other site may frame it.
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"


async def test_the_script_and_styles_are_served(browser: httpx.AsyncClient) -> None:
    script = await browser.get(f"{UI}/static/dashboard.js")
    styles = await browser.get(f"{UI}/static/dashboard.css")
    assert script.status_code == styles.status_code == 200
    assert "EventSource" in script.text and "innerHTML" not in script.text
    assert styles.headers["content-type"].startswith("text/css")


async def test_the_bare_path_goes_to_the_overview(browser: httpx.AsyncClient) -> None:
    moved = await browser.get(UI)
    assert moved.status_code == 308 and moved.headers["location"] == f"{UI}/"


async def test_the_overview_gives_copyable_calls_at_the_browsers_base_url(
    browser: httpx.AsyncClient,
) -> None:
    page = (await browser.get(f"{UI}/")).text
    assert "curl -s -X POST http://127.0.0.1:8000/api/auth/v2/token" in page
    # Escaped by the templates: quotes too, as all text is.
    assert "curl -s http://127.0.0.1:8000/billing/charge/list -H &#39;TENANT: acme&#39;" in page
    assert "<dt>seed</dt><dd>0</dd>" in page


async def test_another_machine_is_told_why_not(app: Starlette) -> None:
    async with client_of(app, ("203.0.113.7", 5000)) as remote:
        page = await remote.get(f"{UI}/tenants")
    assert page.status_code == 403
    assert "this machine only" in page.text and "--control-token" in page.text


async def test_with_a_token_a_page_asks_for_it(guarded: httpx.AsyncClient) -> None:
    page = await guarded.get(f"{UI}/faults")
    assert page.status_code == 401
    assert 'name="token"' in page.text and f'value="{UI}/faults"' in page.text


async def test_signing_in_keeps_the_token_in_a_strict_httponly_cookie(
    guarded: httpx.AsyncClient,
) -> None:
    signed = await guarded.post(
        f"{UI}/sign-in",
        data={"token": TOKEN, "next": f"{UI}/faults"},
        headers={"Origin": OWN},
    )
    assert signed.status_code == 303 and signed.headers["location"] == f"{UI}/faults"
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith(f"{CONTROL_COOKIE}={TOKEN};")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert (await guarded.get(f"{UI}/faults")).status_code == 200


async def test_a_wrong_token_is_refused_and_asked_again(guarded: httpx.AsyncClient) -> None:
    wrong = await guarded.post(f"{UI}/sign-in", data={"token": "guess", "next": f"{UI}/events"})
    assert wrong.status_code == 401
    assert "not the control token" in wrong.text and f'value="{UI}/events"' in wrong.text
    assert "set-cookie" not in wrong.headers


async def test_a_sign_in_from_another_site_is_refused(guarded: httpx.AsyncClient) -> None:
    forged = await guarded.post(
        f"{UI}/sign-in", data={"token": TOKEN}, headers={"Origin": "http://evil.test"}
    )
    assert forged.status_code == 403 and "set-cookie" not in forged.headers


async def test_a_sign_in_never_sends_the_browser_elsewhere(guarded: httpx.AsyncClient) -> None:
    for elsewhere in ("http://evil.test/", "//evil.test/x", f"{UI}/..//evil.test"):
        signed = await guarded.post(f"{UI}/sign-in", data={"token": TOKEN, "next": elsewhere})
        assert signed.headers["location"] == f"{UI}/", elsewhere


async def test_an_oversize_sign_in_is_refused(guarded: httpx.AsyncClient) -> None:
    huge = await guarded.post(f"{UI}/sign-in", data={"token": "x" * 10_000})
    assert huge.status_code == 413


async def test_without_a_token_signing_in_leads_to_the_overview(
    browser: httpx.AsyncClient,
) -> None:
    there = await browser.get(f"{UI}/sign-in")
    assert there.status_code == 303 and there.headers["location"] == f"{UI}/"


async def test_the_root_page_and_the_banner_lead_to_the_dashboard(
    browser: httpx.AsyncClient,
) -> None:
    root = await browser.get("/", headers={"Accept": "text/html"})
    assert f'href="{UI}/"' in root.text
    assert (await browser.get("/")).json()["dashboard"] == f"{OWN}{UI}/"
    assert f"dashboard  http://127.0.0.1:8000{UI}/" in banner(Settings())


async def test_the_tenants_page_offers_the_scenarios_to_apply(browser: httpx.AsyncClient) -> None:
    page = await browser.get(f"{UI}/tenants")
    for part in (
        '<form id="apply-scenario"',
        '<select name="scenario" required>',
        '<table id="scenario-packs">',
        '<section id="scenario-failure"',
        '<pre id="scenario-failure-answer">',
    ):
        assert part in page.text
    script = (await browser.get(f"{UI}/static/dashboard.js")).text
    assert 'control("GET", "/scenarios")' in script and "/scenarios`, { name })" in script
    assert "window.confirm(`Apply ${name} to ${tenant}?" in script  # it writes: it asks first


async def test_the_dashboard_applies_a_scenario_with_its_cookie_from_its_own_page_only(
    guarded: httpx.AsyncClient,
) -> None:
    signed = await guarded.post(f"{UI}/sign-in", data={"token": TOKEN}, headers={"Origin": OWN})
    assert signed.status_code == 303
    apply = "/_sandbox/tenants/acme/scenarios"
    body = {"name": "decoda-front-desk-day"}
    refused = await guarded.post(apply, json=body)  # the cookie, but no page of ours
    assert refused.status_code == 403
    assert (
        await guarded.post(apply, json=body, headers={"Origin": "http://evil.test"})
    ).status_code == 403
    applied = await guarded.post(apply, json=body, headers={"Origin": OWN})
    assert applied.status_code == 200, applied.text
    listed = await guarded.get("/_sandbox/scenarios")
    assert "decoda-front-desk-day" in {pack["name"] for pack in listed.json()["scenarios"]}


async def test_the_overview_has_a_traffic_chart_for_each_api(browser: httpx.AsyncClient) -> None:
    page = (await browser.get(UI + "/")).text
    assert '<div id="traffic" class="traffic">' in page
    for api in ("candid", "decoda", "mycure"):
        assert f'<figure class="chart" data-api="{api}">' in page
    assert "traffic-off" not in page


async def test_with_metrics_off_the_overview_says_there_is_no_traffic_to_chart() -> None:
    async with client_of(create_app(Settings(metrics=False))) as browser:
        page = (await browser.get(UI + "/")).text
    assert 'id="traffic-off"' in page and "Metrics are off on this server" in page
    assert 'id="traffic"' not in page
