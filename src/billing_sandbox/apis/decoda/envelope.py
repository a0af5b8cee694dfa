"""Decoda's FastAPI error bodies: `{"detail": "..."}`, and 422 `{"detail": [{loc, msg, type}]}`."""

from __future__ import annotations

from typing import Any

from billing_sandbox.errors import (
    ApiError,
    MalformedBody,
    MethodNotAllowed,
    NotFound,
    UnsupportedMediaType,
    ValidationFailed,
)


def render_error(error: ApiError) -> tuple[int, dict[str, Any]]:
    """Render an error the way Decoda's FastAPI service does."""
    if isinstance(error, ValidationFailed):
        detail = [
            {"loc": [issue.location, *issue.path], "msg": issue.message, "type": issue.kind}
            for issue in error.issues
        ]
        return 422, {"detail": detail}
    if isinstance(error, MalformedBody | UnsupportedMediaType):
        # FastAPI answers an unreadable body with 422, never 400 or 415.
        kind = "json_invalid" if isinstance(error, MalformedBody) else "model_attributes_type"
        return 422, {"detail": [{"loc": ["body"], "msg": error.message, "type": kind}]}
    if isinstance(error, MethodNotAllowed):
        return 405, {"detail": "Method Not Allowed"}  # Starlette's words, under FastAPI
    if isinstance(error, NotFound):
        return 404, {"detail": f"{error.entity} {error.entity_id} not found"}
    return error.status, {"detail": error.message}
