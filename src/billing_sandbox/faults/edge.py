"""What the infrastructure in front of a vendor's service answers on a bad day: a gateway's
502, 503 or 504. No vendor documents its edge's body, so the sandbox sends a plain, honest one:
the status and its reason, as text (docs/fidelity.md)."""

from __future__ import annotations

from http import HTTPStatus

from starlette.responses import PlainTextResponse, Response

from billing_sandbox.errors import ApiError


def edge_answer(error: ApiError) -> Response:
    """`503 Service Unavailable`, as text, with the error's headers."""
    reason = HTTPStatus(error.status).phrase
    return PlainTextResponse(f"{error.status} {reason}\n", error.status, headers=error.headers)
