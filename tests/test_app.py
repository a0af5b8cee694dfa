"""The server as a whole: what a person who opens its base URL, or a path it does not serve,
is told (the same facts as the start banner)."""

from __future__ import annotations

import httpx
import pytest

from billing_sandbox.apis import VENDOR_APIS
from billing_sandbox.cli.banner import banner
from billing_sandbox.settings import Settings

pytestmark = pytest.mark.anyio
SPECS = ("candid-write-offs.yaml", "decoda-billing.yaml", "mycure-billing-soas.yaml")


@pytest.mark.parametrize("path", ["/nowhere", "/api/write-offs/v2", "/billing-soas/a/b"])
async def test_a_path_no_api_serves_is_a_json_404_naming_the_apis_and_specs(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == "NotFound"
    assert f"no API of this sandbox serves {path}" in body["message"]
    assert "GET / lists them" in body["message"]
    for api in VENDOR_APIS:
        assert api.title in body["message"]
    assert [api["spec"]["yaml"] for api in body["apis"]] == [
        f"/_sandbox/openapi/{s}" for s in SPECS
    ]


async def test_the_root_answers_json_to_a_client_with_the_banners_facts(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/", headers={"Accept": "application/json"})
    assert response.status_code == 200
    about = response.json()
    assert about["service"] == "billing-sandbox"
    # The banner's, at the base URL this client reached the server by.
    shown = banner(Settings(port=8000)).replace("http://127.0.0.1:8000", "http://localhost")
    for api in about["apis"]:
        assert api["title"] in shown
        assert api["entry"].startswith("http://localhost/") and api["entry"] in shown
        assert api["spec"]["yaml"].rpartition("/")[2] in shown
        for line in api["start"]:
            assert line in shown
    # Each link it gives leads somewhere.
    for api in about["apis"]:
        assert (await client.get(api["spec"]["json"])).status_code == 200
    assert (await client.get(about["control"]["health"])).json()["status"] == "ok"


async def test_the_root_answers_a_browser_with_a_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert page.startswith("<!doctype html>")
    for api in VENDOR_APIS:
        assert api.title in page
        assert f'href="http://localhost/_sandbox/openapi/{api.spec_file}"' in page


async def test_the_root_is_open_to_any_client(settings: Settings) -> None:
    """Like a spec, it tells nothing secret: a client on another machine may read it."""
    from billing_sandbox.app import create_app

    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as outsider:
        about = (await outsider.get("/")).json()
        # The specs it links to are as open: they tell what the vendors publish.
        for api in about["apis"]:
            assert (await outsider.get(api["spec"]["yaml"])).status_code == 200
        assert (await outsider.post("/_sandbox/reset")).status_code == 403
