"""The in-process caller answers as httpx's ASGITransport does, for what a scenario sends."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from billing_sandbox.scenarios.inprocess import InProcess

pytestmark = pytest.mark.anyio


async def echo(request: Request) -> JSONResponse:
    if request.url.path == "/boom":
        raise RuntimeError("the app broke")
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "raw": request.scope["raw_path"].decode(),
            "query": list(request.query_params.multi_items()),
            "body": (await request.body()).decode(),
            "host": request.headers["host"],
            "client": request.client.host if request.client else None,
            "tenant": request.headers.get("tenant"),
        },
        status_code=201,
    )


APP = Starlette(routes=[Route("/{rest:path}", echo, methods=["GET", "POST"])])


async def test_it_answers_as_asgi_transport_does() -> None:
    query = [("a", "1"), ("a", "two words"), ("b", "x&y=z"), ("c", "é")]
    headers = {"TENANT": "acme", "Content-Type": "application/json"}
    ours = await InProcess(APP).request("POST", "/x/chg%201%2F2/é", query, b'{"k": 1}', headers)
    transport = httpx.ASGITransport(app=APP)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        theirs = await client.post(
            "/x/chg%201%2F2/é",
            params=tuple(query),
            content=b'{"k": 1}',
            headers=headers,
        )
    assert ours.status == theirs.status_code == 201
    assert ours.json() == theirs.json()
    assert ours.json()["path"] == "/x/chg 1/2/é"
    assert ours.json()["client"] == "127.0.0.1" and ours.json()["host"] == "localhost"


async def test_an_exception_of_the_app_reaches_the_caller() -> None:
    with pytest.raises(RuntimeError, match="the app broke"):
        await InProcess(APP).request("GET", "/boom")
