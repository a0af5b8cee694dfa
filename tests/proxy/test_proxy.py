"""`billing-sandbox proxy`: forwards unchanged, checks each answer against the spec, records."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from billing_sandbox import cli
from billing_sandbox.proxy.app import create_proxy_app
from billing_sandbox.proxy.checks import HEADER, HEADER_LIMIT, Violation, header_value
from billing_sandbox.recordings import RecordingError, load_exchange, load_exchanges
from tests.candid.helpers import CURATED_WRITE_OFF, UNKNOWN, WRITE_OFFS
from tests.support.drifted_upstream import drifted_candid
from tests.support.proxying import proxied

pytestmark = pytest.mark.anyio

SECRET = "sandbox-secret"
TOKEN_REQUEST = {"client_id": "acme", "client_secret": SECRET}


async def token(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.post("/api/auth/v2/token", json=TOKEN_REQUEST)
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def journal(client: httpx.AsyncClient, query: str = "") -> list[dict[str, Any]]:
    response = await client.get(f"/_sandbox/requests{query}")
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["requests"]
    return entries


def recorded(directory: Path) -> dict[str, str]:
    """The files in `directory` by name, in order, with their text."""
    return {path.name: path.read_text() for path in sorted(directory.iterdir())}


# ---------- the sandbox as upstream: nothing to report, bytes unchanged ----------


async def test_candid_answers_pass_through_byte_for_byte_without_violations(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    async with proxied("candid", app) as proxy:
        auth = await token(proxy)
        calls = [
            ("GET", WRITE_OFFS, "limit=5&account_types=PATIENT&account_types=INSURANCE"),
            ("GET", f"{WRITE_OFFS}/{CURATED_WRITE_OFF}", ""),
            ("GET", f"{WRITE_OFFS}/{UNKNOWN}", ""),  # a declared 404
        ]
        for method, path, query in calls:
            via_proxy = await proxy.request(method, f"{path}?{query}", headers=auth)
            direct = await client.request(method, f"{path}?{query}", headers=auth)
            assert via_proxy.status_code == direct.status_code
            assert via_proxy.content == direct.content
            assert via_proxy.headers["content-type"] == direct.headers["content-type"]
            assert via_proxy.headers[HEADER] == "0"
        entries = await journal(proxy)
    assert [e["operationId"] for e in entries] == [
        "getWriteOff", "getWriteOff", "getWriteOffs", "getToken"
    ]  # fmt: skip
    assert all(e["violations"] == [] for e in entries)


async def test_decoda_and_mycure_answers_have_no_violations(app: Starlette) -> None:
    decoda = {"TENANT": "acme", "API-KEY": "k"}
    async with proxied("decoda", app) as proxy:
        for path in ("/billing/charge/list", "/v1/charge/list"):
            response = await proxy.get(path, headers=decoda)
            assert (response.status_code, response.headers[HEADER]) == (200, "0")
    async with proxied("mycure", app) as proxy:
        signed_in = await proxy.post(
            "/authentication",
            json={"strategy": "local", "email": "ana@clinic-a.test", "password": "pw"},
        )
        assert signed_in.headers[HEADER] == "0"
        bearer = {"Authorization": f"Bearer {signed_in.json()['accessToken']}"}
        for path in ("/billing-soas", "/billing-soas/"):  # Express takes both
            response = await proxy.get(path, headers=bearer)
            assert (response.status_code, response.headers[HEADER]) == (200, "0")


async def test_cors_preflight_is_forwarded_but_not_checked(app: Starlette) -> None:
    async with proxied("decoda", app) as proxy:
        response = await proxy.options(
            "/billing/charge/list",
            headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"},
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert HEADER not in response.headers


# ---------- a drifted upstream: every violation is logged, in the header and journaled ----------


async def test_dropped_required_field_is_reported(
    app: Starlette, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "billing_sandbox.proxy")
    async with proxied("candid", drifted_candid(app)) as proxy:
        response = await proxy.post("/api/auth/v2/token", json=TOKEN_REQUEST)
        [entry] = await journal(proxy)
    assert response.status_code == 200
    assert "expires_in" not in response.json()  # passed on as the upstream sent it
    assert response.headers[HEADER] == "1; getToken $.expires_in: Field required"
    assert entry["violations"] == [
        {"operation": "getToken", "field": "$.expires_in", "message": "Field required"}
    ]
    assert "candid POST /api/auth/v2/token -> 200: getToken $.expires_in: Field required" in (
        caplog.text
    )


async def test_renamed_field_is_reported(app: Starlette) -> None:
    async with proxied("candid", drifted_candid(app)) as proxy:
        auth = await token(proxy)
        response = await proxy.get(f"{WRITE_OFFS}/{CURATED_WRITE_OFF}", headers=auth)
    assert response.json()["amountCents"] == 1250
    count, *violations = response.headers[HEADER].split("; ")
    assert int(count) == len(violations) >= 1
    assert "getWriteOff $.amount_cents: Field required" in violations


async def test_undeclared_status_and_unknown_path_are_reported(app: Starlette) -> None:
    async with proxied("candid", drifted_candid(app)) as proxy:
        auth = await token(proxy)
        reverted = await proxy.post(f"{WRITE_OFFS}/{CURATED_WRITE_OFF}/revert", headers=auth)
        unknown = await proxy.get("/api/write-offs/v2", headers=auth)
        wrong_method = await proxy.delete(f"{WRITE_OFFS}/{CURATED_WRITE_OFF}", headers=auth)
        only_violations = await journal(proxy, "?violations=true")
        clean = await journal(proxy, "?violations=false&limit=1")
    assert reverted.status_code == 418
    assert reverted.headers[HEADER] == (
        "1; revertWriteOff status: expected one of 200, 400, 401, 404, 422, 429, 500, 502, 503, "
        "504, got 418"
    )
    assert unknown.headers[HEADER] == (
        "1; GET /api/write-offs/v2 path: no operation in the spec has this path"
    )
    assert wrong_method.headers[HEADER] == (
        f"1; DELETE {WRITE_OFFS}/{CURATED_WRITE_OFF} method: DELETE is not declared here (GET)"
    )
    # Newest first; the token call (drifted too) is the fourth.
    assert [(e["operationId"], e["status"]) for e in only_violations] == [
        ("", 405), ("", 404), ("revertWriteOff", 418), ("getToken", 200)
    ]  # fmt: skip
    assert only_violations[0]["violations"][0]["field"] == "method"
    assert clean == []


async def test_compressed_answer_is_passed_on_compressed_and_checked_decoded() -> None:
    sent = gzip.compress(orjson.dumps({"access_token": "t", "token_type": "bearer"}))

    def upstream(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "application/json", "content-encoding": "gzip"}
        # A stream, as a real transport gives: `content=` would be read (decoded) already.
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(sent))

    async with (
        proxied("candid", transport=httpx.MockTransport(upstream)) as proxy,
        proxy.stream("POST", "/api/auth/v2/token", json=TOKEN_REQUEST) as response,
    ):
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    assert raw == sent
    assert response.headers[HEADER] == "1; getToken $.expires_in: Field required"


async def test_request_reaches_the_upstream_unchanged() -> None:
    seen: list[httpx.Request] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404, stream=httpx.ByteStream(b"Not Found"))

    sent = [("api-key", "k"), ("x-repeated", "1"), ("x-repeated", "2"), ("x-gone", "hop")]
    async with proxied("decoda", transport=httpx.MockTransport(upstream)) as proxy:
        # A client that sends neither: the proxy must not add its own (httpx's defaults).
        del proxy.headers["accept-encoding"], proxy.headers["user-agent"]
        await proxy.post(
            "/some/where%2Felse?b=2&a=1&a=",
            content=b"not json",
            headers=[*sent, ("connection", "x-gone"), ("keep-alive", "5")],
        )
    [request] = seen
    assert request.method == "POST"
    assert request.url.raw_path == b"/some/where%2Felse?b=2&a=1&a="
    assert request.url.host == "upstream.test"
    assert request.content == b"not json"
    assert [(k, v) for k, v in request.headers.multi_items() if k.startswith(("x-", "api"))] == [
        ("api-key", "k"), ("x-repeated", "1"), ("x-repeated", "2")
    ]  # fmt: skip
    for absent in ("accept-encoding", "user-agent", "keep-alive", "connection"):
        assert absent not in request.headers


async def test_unreachable_upstream_is_a_502() -> None:
    def upstream(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with proxied("candid", transport=httpx.MockTransport(upstream)) as proxy:
        response = await proxy.get(WRITE_OFFS)
    assert response.status_code == 502
    assert response.json()["error"] == "BadGateway"
    assert "http://upstream.test" in response.json()["message"]


async def test_journal_answers_this_machine_only() -> None:
    proxy_app = create_proxy_app("candid", "http://upstream.test")
    transport = httpx.ASGITransport(app=proxy_app, client=("203.0.113.5", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy.test") as c:
        response = await c.get("/_sandbox/requests")
    await proxy_app.state.proxy.client.aclose()
    assert response.status_code == 403


def test_header_is_ascii_one_line_and_short() -> None:
    violations = [Violation("getWriteOff", f"$.items[{i}].x", "é\r\nbad") for i in range(100)]
    value = header_value(violations)
    assert value.startswith("100; getWriteOff $.items[0].x: \\xe9 bad; ")
    assert value.isascii() and "\n" not in value and "\r" not in value
    assert len(value) == HEADER_LIMIT and value.endswith("...")


# ---------- --record: redacted fixture files, and their loader ----------


async def test_record_writes_redacted_exchanges_that_load_back(
    app: Starlette, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    async with proxied("candid", app, record_dir=tmp_path) as proxy:
        auth = await token(proxy)
        got = await proxy.get(f"{WRITE_OFFS}/{CURATED_WRITE_OFF}", headers=auth)
        entries = await journal(proxy)
    access_token = auth["Authorization"].removeprefix("Bearer ")
    files = recorded(tmp_path)
    assert list(files) == ["000001-getToken-200.yaml", "000002-getWriteOff-200.yaml"]
    for text in [*files.values(), orjson.dumps(entries).decode()]:
        assert SECRET not in text and access_token not in text
    minted, fetched = load_exchanges(tmp_path)
    assert minted.request.body == {"client_id": "acme", "client_secret": "[redacted]"}
    assert minted.response.body["access_token"] == "[redacted]"
    assert minted.response.body["expires_in"] == 18000
    assert fetched.request.headers["authorization"] == "[redacted]"
    assert (fetched.api, fetched.operation_id, fetched.method, fetched.status) == (
        "candid", "getWriteOff", "GET", 200
    )  # fmt: skip
    assert fetched.path == f"{WRITE_OFFS}/{CURATED_WRITE_OFF}"
    assert fetched.response.body == got.json()
    assert fetched.violations == ()


async def test_recording_redacts_form_secrets_and_keeps_violations(
    app: Starlette, tmp_path: Path
) -> None:
    (tmp_path / "000007-earlier-200.yaml").write_text("kept: true\n")  # numbering goes on
    async with proxied("candid", drifted_candid(app), record_dir=tmp_path) as proxy:
        await proxy.post("/api/auth/v2/token", data=TOKEN_REQUEST)
    assert SECRET not in recorded(tmp_path)["000008-getToken-200.yaml"]
    exchange = load_exchange(tmp_path / "000008-getToken-200.yaml")
    assert exchange.request.body is None
    assert exchange.request.body_text == "client_id=acme&client_secret=%5Bredacted%5D"
    assert exchange.violations == (
        {"operation": "getToken", "field": "$.expires_in", "message": "Field required"},
    )


def test_loader_names_the_file_that_is_not_an_exchange(tmp_path: Path) -> None:
    bad = tmp_path / "000001-x-200.yaml"
    bad.write_text("format: something-else\n")
    with pytest.raises(RecordingError, match=r"000001-x-200\.yaml: not a recorded exchange"):
        load_exchanges(tmp_path)
    bad.write_text("format: billing-sandbox/exchange-v1\napi: candid\n")
    with pytest.raises(RecordingError, match="missing or malformed field 'request'"):
        load_exchange(bad)


# ---------- the command line ----------


def test_proxy_binds_loopback_by_default() -> None:
    args = cli.parse_args(
        ["proxy", "--api", "mycure", "--upstream", "https://mycure.example.test/"]
    )
    assert (args.api, args.upstream, args.host, args.port, args.record) == (
        "mycure", "https://mycure.example.test/", "127.0.0.1", 8001, None
    )  # fmt: skip


def test_proxy_command_refuses_an_upstream_that_is_not_http(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["proxy", "--api", "candid", "--upstream", "ftp://files.test"])
    assert exited.value.code == 2
    assert "is not an http(s) URL" in capsys.readouterr().err
