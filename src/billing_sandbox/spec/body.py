"""Read a request body within the size limit and decode it by its declared media type."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request

from billing_sandbox.errors import Issue, MalformedBody, UnsupportedMediaType, ValidationFailed
from billing_sandbox.spec.document import FORM, JSON, Operation

# The scope key the raw bytes of a read body are kept under (a plain key: `request.state`
# costs an exception per miss, and most requests have no body).
RAW_BODY = "billing_sandbox.raw_body"


async def read_body(op: Operation, request: Request, limit: int) -> Any:
    """The validated body of `op`, or None when the operation takes none or none was sent."""
    if not op.body_checks:
        return None
    raw = await _read_limited(request, limit)
    if not raw:
        if op.body_required:
            raise ValidationFailed([Issue("body", (), "a request body is required", "missing")])
        return None
    media = _media_type(request)
    if media not in op.body_checks:
        accepted = ", ".join(op.body_checks)
        raise UnsupportedMediaType(f"Content-Type {media!r} is not supported here; send {accepted}")
    body = _decode_form(raw) if media == FORM else _decode_json(raw)
    issues = op.body_checks[media].issues(body, "body")
    if issues:
        raise ValidationFailed(issues)
    return body


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise MalformedBody(
            f"request body is {declared} bytes; the sandbox accepts at most {limit}"
        )
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise MalformedBody(f"request body exceeds the limit of {limit} bytes")
    raw = bytes(chunks)
    request.scope[RAW_BODY] = raw  # for the request journal and snapshot imports
    return raw


def _media_type(request: Request) -> str:
    """The body's media type; JSON when the client sent none (curl users often forget it)."""
    declared = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not declared or declared.endswith("+json"):
        return JSON
    return declared


def _decode_json(raw: bytes) -> Any:
    try:
        return _whole_numbers_as_int(orjson.loads(raw))
    except orjson.JSONDecodeError as error:
        raise MalformedBody(f"request body is not valid JSON: {error}") from None


_EXACT = 2**53  # the largest magnitude below which every integer is exactly a float


def _whole_numbers_as_int(value: Any) -> Any:
    """`5000.0` becomes `5000`, as pydantic turns a whole float into an int field's value;
    otherwise the sandbox would store and echo amounts in cents as floats. Only exact,
    64-bit-safe values convert (`1e300` stays a float: as an int it could not be serialised)."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= _EXACT:
        return int(value)
    if isinstance(value, list):
        return [_whole_numbers_as_int(item) for item in value]
    if isinstance(value, dict):
        return {key: _whole_numbers_as_int(item) for key, item in value.items()}
    return value


def _decode_form(raw: bytes) -> dict[str, str]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedBody("form body is not valid UTF-8") from None
    return dict(parse_qsl(text, keep_blank_values=True))
