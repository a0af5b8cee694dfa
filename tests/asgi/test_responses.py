"""JsonBytes answers exactly what Starlette's Response would for the same JSON bytes."""

from __future__ import annotations

import pytest
from starlette.responses import Response

from billing_sandbox.asgi.responses import JsonBytes

JSON = "application/json"


@pytest.mark.parametrize("status", [100, 200, 201, 204, 304, 400, 404, 409, 422, 429, 500, 503])
def test_the_same_status_headers_and_body_as_starlettes_response(status: int) -> None:
    content = b'{"id":"ch_1","total":100}'
    ours, theirs = JsonBytes(content, status), Response(content, status, media_type=JSON)
    assert (ours.status_code, ours.raw_headers, ours.body) == (
        theirs.status_code,
        theirs.raw_headers,
        theirs.body,
    )
    assert ours.background is None and ours.media_type == JSON


def test_headers_added_later_are_sent() -> None:
    answer = JsonBytes(b"{}", 405)
    answer.headers["Allow"] = "GET, HEAD"
    assert (b"allow", b"GET, HEAD") in answer.raw_headers
