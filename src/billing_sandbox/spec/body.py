"""Read a request body within the size limit and decode it by its declared media type."""

from __future__ import annotations

import itertools
import re
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import ClientDisconnect, Request

from billing_sandbox.asgi.headers import header
from billing_sandbox.errors import Issue, MalformedBody, UnsupportedMediaType, ValidationFailed
from billing_sandbox.spec.document import FORM, JSON, Operation

# The scope key the raw bytes of a read body are kept under (a plain key: `request.state`
# costs an exception per miss, and most requests have no body).
RAW_BODY = "billing_sandbox.raw_body"
# How deeply a vendor API's request body may nest arrays and objects. The vendors' own bodies
# nest 5 levels at most (a Decoda charge's free-form `meta` leaves room for a client's own
# data); past 64, a body is an attack, not data. The limit is checked on the raw bytes before
# anything walks the value: parsing, our own conversion and the schema check all recurse, and
# Python's recursion limit (about 1000 frames, fewer inside a request) is not a guard but a crash.
MAX_JSON_DEPTH = 64
# A snapshot (the control API's `PUT /_sandbox/state`) wraps every record in 10 levels (an
# export of every tenant, measured) and a record may hold a body's free-form data: room for
# both, with margin for the format to grow.
MAX_SNAPSHOT_DEPTH = MAX_JSON_DEPTH + 32


async def read_body(
    op: Operation, request: Request, limit: int, max_depth: int = MAX_JSON_DEPTH
) -> Any:
    """The validated body of `op`, or None when the operation takes none or none was sent;
    at most `limit` bytes, nesting at most `max_depth` levels."""
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
    body = _decode_form(raw) if media == FORM else decode_json(raw, max_depth)
    issues = op.body_checks[media].issues(body, "body")
    if issues:
        raise ValidationFailed(issues)
    return body


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = header(request.scope, b"content-length") or ""
    if declared.isdigit() and int(declared) > limit:
        raise MalformedBody(
            f"request body is {declared} bytes; the sandbox accepts at most {limit}"
        )
    # The ASGI messages read directly: Starlette's `stream()` is an async generator, whose
    # machinery cost a small write more than reading its one message.
    chunks = bytearray()
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunks += message.get("body", b"")
        if len(chunks) > limit:
            raise MalformedBody(f"request body exceeds the limit of {limit} bytes")
        if not message.get("more_body", False):
            break
    raw = bytes(chunks)
    request.scope[RAW_BODY] = raw  # for the request journal and snapshot imports
    return raw


def _media_type(request: Request) -> str:
    """The body's media type; JSON when the client sent none (curl users often forget it)."""
    declared = (header(request.scope, b"content-type") or "").split(";")[0].strip().lower()
    if not declared or declared.endswith("+json"):
        return JSON
    return declared


def decode_json(raw: bytes, max_depth: int = MAX_JSON_DEPTH, what: str = "request body") -> Any:
    """A client's JSON (`what` it is, for the message), refused as `MalformedBody` when it is
    not JSON or nests deeper than `max_depth` levels of arrays and objects (checked before it
    is parsed)."""
    depth = nesting_depth(raw, max_depth)
    if depth > max_depth:
        raise MalformedBody(
            f"{what} nests {depth} levels of arrays and objects deep; "
            f"the sandbox accepts at most {max_depth}"
        )
    try:
        decoded = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise MalformedBody(f"{what} is not valid JSON: {error}") from None
    # Only a number written with a fraction or an exponent decodes as a float: a body where
    # no value starts with digits then `.`, `e` or `E` holds none, and is not walked (a
    # string that looks so, `":5e"`, only costs the walk).
    maybe_float = isinstance(decoded, float) or _MAYBE_FLOAT.search(raw)
    return _whole_numbers_as_int(decoded) if maybe_float else decoded


# A number with a fraction or an exponent after a `:`, `,` or `[`. A body that is a bare
# number is told by its decoded value instead: a `^` alternative here tripled the search's
# cost, since it stops the regex engine from skipping ahead to the punctuation.
_MAYBE_FLOAT = re.compile(rb"[:,\[]\s*-?[0-9]+[.eE]")


# A JSON string, escapes and all (unrolled, possessive: linear time, whatever it holds).
_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)
_OTHER_THAN_BRACKETS = bytes(range(256)).translate(None, b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def nesting_depth(raw: bytes, at_most: int = 0) -> int:
    """How many arrays and objects deep `raw` nests, counted on its bytes without parsing it
    (in C, without recursion); 0 when it has no more brackets than `at_most`, so cannot nest
    deeper than that (most bodies: known after two counts)."""
    if raw.count(b"[") + raw.count(b"{") <= at_most:
        return 0
    brackets = _STRING.sub(b"", raw).translate(None, _OTHER_THAN_BRACKETS)
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets)), default=0)


_EXACT = 2**53  # the largest magnitude below which every integer is exactly a float


def _whole_numbers_as_int(value: Any) -> Any:
    """`5000.0` becomes `5000`, as pydantic turns a whole float into an int field's value;
    otherwise the sandbox would store and echo amounts in cents as floats. Only exact,
    64-bit-safe values convert (`1e300` stays a float: as an int it could not be serialised).
    Recursive, safely: `decode_json` has refused anything deeper than its depth limit."""
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
