"""Candid's error envelope: `{"errorName": ..., "content": ...}` with Candid's own error names."""

from __future__ import annotations

from typing import Any

from billing_sandbox.errors import (
    ApiError,
    BadRequest,
    GatewayFailure,
    MethodNotAllowed,
    NotFound,
    RateLimited,
    StorageUnavailable,
    Unauthenticated,
    Unprocessable,
    UnsupportedMediaType,
    ValidationFailed,
)


def render_error(error: ApiError) -> tuple[int, dict[str, Any]]:
    """Render any sandbox error the way Candid's Fern-generated server does."""
    return error.status, _body(error)


def _body(error: ApiError) -> dict[str, Any]:
    if isinstance(error, ValidationFailed):
        content: Any = [
            {"fieldName": issue.field, "humanReadableMessage": issue.message}
            for issue in error.issues
        ]
        return {"errorName": "HttpRequestValidationsError", "content": content}
    if isinstance(error, NotFound):
        return {"errorName": "EntityNotFoundError", "content": {"id": error.entity_id}}
    return {
        "errorName": next(
            (n for kind, n in _NAMES.items() if isinstance(error, kind)), "InternalError"
        ),
        "content": {"message": error.message},
    }


_NAMES: dict[type[ApiError], str] = {
    BadRequest: "BadRequestError",
    GatewayFailure: "HttpServiceUnavailableError",  # the 503 Candid answers itself
    StorageUnavailable: "HttpServiceUnavailableError",  # a write the state's log refused
    RateLimited: "TooManyRequestsError",
    MethodNotAllowed: "MethodNotAllowedError",
    Unauthenticated: "UnauthorizedError",
    UnsupportedMediaType: "InvalidContentTypeError",
    Unprocessable: "UnprocessableEntityError",
}
