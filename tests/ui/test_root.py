"""The root page (`GET /`): its first calls run as they are, at the base URL the client reached
the server by, and a browser gets a page that looks like the dashboard."""

from __future__ import annotations

import re
import shlex
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from markupsafe import escape
from starlette.applications import Starlette

from billing_sandbox.apis import VENDOR_APIS

pytestmark = pytest.mark.anyio

BASE = "http://sandbox.test:8123"  # as a client might reach it: a container's mapped port


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
        yield c


def request_of(command: str) -> tuple[str, str, dict[str, str], str | None]:
    """A curl command as the root gives it: its method, URL, headers and body."""
    words = shlex.split(command)
    assert words[0] == "curl"
    method, url, headers, body = "", "", {}, None
    flags = iter(words[1:])
    for word in flags:
        if word == "-X":
            method = next(flags)
        elif word == "-H":
            name, _, value = next(flags).partition(": ")
            headers[name] = value
        elif word == "-d":
            body = next(flags)
        elif word != "-s":
            assert not url, f"two URLs in {command}"
            url = word
    return method or ("POST" if body is not None else "GET"), url, headers, body


def filled(command: str, answer: dict[str, Any]) -> str:
    """The command with each `<name>` in it replaced by that field of the answer before."""
    return re.sub(r"<(\w+)>", lambda wanted: str(answer[wanted[1]]), command)


async def test_the_first_calls_run_as_they_are_at_the_clients_base_url(
    client: httpx.AsyncClient,
) -> None:
    """Run in order, each API's calls succeed; a `<name>` in one stands for the field of that
    name in the answer before it (the token a sign-in returns)."""
    about = (await client.get("/")).json()
    assert [api["name"] for api in about["apis"]] == [api.name for api in VENDOR_APIS]
    for api in about["apis"]:
        answer: dict[str, Any] = {}
        for command in api["firstCalls"]:
            method, url, headers, body = request_of(filled(command, answer))
            assert url.startswith(BASE + "/"), command
            response = await client.request(method, url, headers=headers, content=body)
            assert response.status_code in (200, 201), (command, response.text)
            answer = response.json()


async def test_every_link_of_the_json_is_absolute_and_leads_somewhere(
    client: httpx.AsyncClient,
) -> None:
    about = (await client.get("/", headers={"Accept": "application/json"})).json()
    links = [about["dashboard"], about["control"]["health"], about["control"]["spec"]]
    for api in about["apis"]:
        links += [api["entry"], api["spec"]["yaml"], api["spec"]["json"]]
        assert all(BASE + "/" in line for line in api["start"] if " /" in line or "//" in line)
    for link in links:
        assert link.startswith(BASE + "/"), link
    assert (await client.get(about["control"]["health"])).json()["status"] == "ok"
    for api in about["apis"]:
        assert (await client.get(api["spec"]["json"])).status_code == 200


async def test_a_browser_gets_a_page_like_the_dashboards(client: httpx.AsyncClient) -> None:
    page = await client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = page.text
    # The dashboard's own template: its styles, its script, its header and navigation.
    assert '<link rel="stylesheet" href="/_sandbox/ui/static/dashboard.css">' in text
    assert '<script src="/_sandbox/ui/static/dashboard.js" defer></script>' in text
    assert '<nav aria-label="Dashboard">' in text and "<h1>Start here</h1>" in text
    # Its first calls are as the JSON gives them, each with a copy button, escaped as text.
    about = (await client.get("/")).json()
    for api in about["apis"]:
        assert f"<h3>{api['title']}</h3>" in text
        for command in api["firstCalls"]:
            assert f'<div class="curl"><pre><code>{escape(command)}</code></pre>' in text
    assert f"<code>{BASE}</code>" in text
    # The dashboard's headers too: only its own script runs, and no other site frames it.
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["cache-control"] == "no-store"  # it names the Host it was asked by
    # Open to any client, it leaves out the server's settings the overview shows.
    assert "This server" not in text and "<dt>seed</dt>" not in text
