"""Typed query parameters of any size or spelling are the API's own 400/422, never a 500."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from billing_sandbox.spec.params import coerce
from tests.candid.helpers import auth

pytestmark = pytest.mark.anyio

DECODA = {"TENANT": "acme", "API-KEY": "k"}
# int() refuses a text of more than 4300 digits with a ValueError: that was a 500.
HUGE = "9" * 5000


async def test_a_huge_integer_is_candids_422(client: httpx.AsyncClient) -> None:
    headers = await auth(client)
    response = await client.get("/api/write-offs/v1", params={"limit": HUGE}, headers=headers)
    assert response.status_code == 422, response.text[:300]
    assert response.json()["errorName"] == "HttpRequestValidationsError"


async def test_a_huge_integer_is_decodas_422(client: httpx.AsyncClient) -> None:
    before = await client.get("/v1/charge/list", headers=DECODA)
    response = await client.get("/v1/charge/list", params={"total": HUGE}, headers=DECODA)
    assert response.status_code == 422, response.text[:300]
    assert response.json()["detail"][0]["loc"] == ["query", "total"]
    assert (await client.get("/v1/charge/list", headers=DECODA)).content == before.content


async def test_a_huge_integer_is_the_control_apis_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/_sandbox/requests", params={"limit": HUGE})
    assert response.status_code == 422, response.text[:300]
    assert response.json()["error"] == "ValidationFailed"


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="0123456789+-.eE٣", max_size=600))
def test_coercion_never_raises_and_keeps_what_it_cannot_read(text: str) -> None:
    for kind in ("integer", "number"):
        value = coerce(text, {"type": kind})
        assert isinstance(value, int | float | str)
        if isinstance(value, str):
            assert value == text


def test_a_long_run_of_digits_is_read_in_linear_time() -> None:
    # The former number pattern could split a run of digits two ways: seconds on this text.
    assert coerce("1" * 20_000 + "x", {"type": "number"}) == "1" * 20_000 + "x"


async def test_the_app_stays_up_after_them(app: Starlette, client: httpx.AsyncClient) -> None:
    await client.get("/v1/charge/list", params={"total": HUGE}, headers=DECODA)
    assert (await client.get("/_sandbox/health")).status_code == 200
