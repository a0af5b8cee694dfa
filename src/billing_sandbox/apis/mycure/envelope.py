"""MYCURE's Feathers error bodies: `{name, message, code, className, errors}`."""

from __future__ import annotations

from typing import Any

from billing_sandbox.errors import (
    ApiError,
    BadRequest,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    RateLimited,
    Unauthenticated,
    Unprocessable,
    UnsupportedMediaType,
    ValidationFailed,
)

# Feathers' error classes by status (@feathersjs/errors): name and className.
FEATHERS_ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "bad-request"),
    401: ("NotAuthenticated", "not-authenticated"),
    403: ("Forbidden", "forbidden"),
    404: ("NotFound", "not-found"),
    405: ("MethodNotAllowed", "method-not-allowed"),
    409: ("Conflict", "conflict"),
    422: ("Unprocessable", "unprocessable"),
    429: ("TooManyRequests", "too-many-requests"),
    500: ("GeneralError", "general-error"),
    503: ("Unavailable", "unavailable"),
}


def render_error(error: ApiError) -> tuple[int, dict[str, Any]]:
    """Render any sandbox error as a Feathers error body with its status."""
    errors: dict[str, str] = {}
    message = error.message
    if isinstance(error, ValidationFailed):
        errors = {issue.field: issue.message for issue in error.issues}
        message = "Invalid data: " + "; ".join(f"{field}: {text}" for field, text in errors.items())
    elif isinstance(error, NotFound):
        message = f"No record found for id '{error.entity_id}'"  # Feathers adapters' words
    elif isinstance(error, MethodNotAllowed):
        message = f"Method `{error.method}` is not supported by this endpoint."
    status = _status(error)
    name, class_name = FEATHERS_ERRORS[status]
    return status, {
        "name": name,
        "message": message,
        "code": status,
        "className": class_name,
        "errors": errors,
    }


def _status(error: ApiError) -> int:
    # Feathers has no 415, and a body it cannot read is a bad request, never a 500.
    if isinstance(error, ValidationFailed | BadRequest | UnsupportedMediaType):
        return 400
    for kind, status in (
        (Unauthenticated, 401),
        (Forbidden, 403),
        (NotFound, 404),
        (MethodNotAllowed, 405),
        (Unprocessable, 422),
        (RateLimited, 429),
    ):
        if isinstance(error, kind):
            return status
    return 500
