"""The control API's messages: one error-code style, the clock's choices named, counts in the
right number."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio

CLOCK = "/_sandbox/tenants/acme/clock"
CHOICES = (
    "give one of freezeAt (to freeze the clock at that instant), advanceSeconds (to move it "
    "forward that many seconds) or resume (true, to let it run again)"
)


async def test_a_clock_call_with_an_empty_body_names_its_three_choices(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(CLOCK, json={})
    assert response.status_code == 422
    assert response.json() == {"error": "ValidationFailed", "message": f"body: {CHOICES}"}


async def test_a_clock_call_with_none_of_the_choices_names_them_and_the_stray_field(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(CLOCK, json={"freeze": True})
    assert response.status_code == 422
    assert response.json() == {
        "error": "ValidationFailed",
        "message": f"body: {CHOICES}; freeze: is not a field this operation accepts",
    }


async def test_an_unknown_fault_rule_is_a_not_found_in_the_one_code_style(
    client: httpx.AsyncClient,
) -> None:
    response = await client.delete("/_sandbox/faults/fault-9")
    assert response.status_code == 404
    assert response.json() == {"error": "NotFound", "message": "fault rule fault-9 does not exist"}


ERRORS: list[tuple[str, str, Any]] = [
    ("DELETE", "/_sandbox/faults/fault-9", None),
    ("GET", "/_sandbox/nowhere", None),  # a path nothing serves
    ("POST", CLOCK, {}),
    ("POST", "/_sandbox/faults", {"effect": {"afterCommit": True}}),
    ("POST", "/_sandbox/tenants/acme/decoda/charges/chg_nope/void", None),
    ("PUT", "/_sandbox/faults", None),
]


async def test_every_control_error_code_is_in_one_style(client: httpx.AsyncClient) -> None:
    codes = []
    for method, path, body in ERRORS:
        response = await client.request(method, path, json=body)
        assert response.status_code >= 400, (method, path)
        codes.append(response.json()["error"])
    assert codes == [
        "NotFound",
        "NotFound",
        "ValidationFailed",
        "Unprocessable",
        "NotFound",
        "MethodNotAllowed",
    ]
    assert all(re.fullmatch(r"[A-Z][A-Za-z]+", code) for code in codes)
