"""Parameters, through a toy API: typed from their schemas, checked, and answered with the API's
validation error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from billing_sandbox.api import Call
from tests.support.toy import call, toy_app, toy_handlers


@pytest.mark.anyio
async def test_query_is_typed_with_arrays_and_defaults(tmp_path: Path) -> None:
    response = await call(toy_app(tmp_path, toy_handlers()), "GET", "/things/7?tags=a&tags=b")
    assert response.json() == {"id": 7, "tags": ["a", "b"], "verbose": False}


@pytest.mark.anyio
async def test_header_parameters_are_typed_and_checked(tmp_path: Path) -> None:
    async def get_thing(call: Call[None]) -> Any:
        return {"id": call.path["thing_id"], "size": call.headers["X-Page-Size"]}

    app = toy_app(tmp_path, toy_handlers(get_thing=get_thing))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        ok = await c.get("/things/7", headers={"x-page-size": "20"})
        too_big = await c.get("/things/7", headers={"X-Page-Size": "99"})
    assert ok.json() == {"id": 7, "size": 20}
    assert too_big.status_code == 422
    assert "X-Page-Size" in too_big.json()["message"]


@pytest.mark.anyio
async def test_bad_parameters_raise_the_apis_validation_error(tmp_path: Path) -> None:
    response = await call(
        toy_app(tmp_path, toy_handlers()), "GET", "/things/0?tags=c&verbose=maybe"
    )
    assert response.status_code == 422
    body = response.json()
    assert body["kind"] == "ValidationFailed"
    for field in ("thing_id", "tags[0]", "verbose"):
        assert field in body["message"]
