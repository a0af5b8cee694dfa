"""Take credentials out of headers, query strings and bodies before anything is kept."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

REDACTED = "[redacted]"

# Lower-case names. Candid: Authorization; Decoda: API-KEY; MYCURE: Authorization; and the
# usual others, so a recording made against some other upstream does not leak either.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "api-key", "x-api-key", "cookie", "set-cookie"}
)
# A field is secret when its name, lower-cased without `_` or `-`, is one of these or ends with
# one: `client_secret`, `password`, `access_token`, `accessToken`, `refresh_token`, `apiKey`.
_SECRET_SUFFIXES = ("secret", "password", "token", "apikey", "authorization")
# A JWT under a name we did not think of (MYCURE puts its token in more than one place).
_JWT = re.compile(r"^eyJ[\w-]*\.[\w-]*\.[\w-]*$")


def is_secret(name: str) -> bool:
    return re.sub(r"[-_]", "", name.lower()).endswith(_SECRET_SUFFIXES)


def headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers by lower-case name (repeats joined with `, `), secret ones redacted."""
    kept: dict[str, str] = {}
    for name, value in pairs:
        name = name.lower()
        value = REDACTED if name in SECRET_HEADERS else value
        kept[name] = f"{kept[name]}, {value}" if name in kept else value
    return kept


def query(text: str) -> str:
    """A query string with the values of secret parameters redacted (`?access_token=…`)."""
    if not text:
        return text
    pairs = parse_qsl(text, keep_blank_values=True)
    if not any(is_secret(name) for name, _ in pairs):
        return text  # untouched, so a recording keeps the exact bytes the client sent
    return urlencode([(name, REDACTED if is_secret(name) else value) for name, value in pairs])


def document(value: Any) -> Any:
    """A JSON value with every secret field's value, and every JWT, redacted."""
    if isinstance(value, dict):
        return {k: REDACTED if is_secret(k) else document(v) for k, v in value.items()}
    if isinstance(value, list):
        return [document(item) for item in value]
    if isinstance(value, str) and _JWT.match(value):
        return REDACTED
    return value


def body(raw: bytes, content_type: str) -> tuple[Any, str | None]:
    """A body as it may be kept: `(JSON value, None)` for JSON (secrets redacted),
    `(None, text)` for anything else (a form's secret fields redacted), `(None, None)` for none.
    """
    if not raw:
        return None, None
    media = content_type.split(";")[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        return None, query(raw.decode("utf-8", "replace"))
    try:
        return document(orjson.loads(raw)), None
    except orjson.JSONDecodeError:
        # Not JSON whatever it claims: kept as text. No API we proxy sends secrets this way.
        return None, raw.decode("utf-8", "replace")


def body_bytes(raw: bytes, content_type: str) -> bytes:
    """A body redacted the same way, as bytes (for the request journal)."""
    value, text = body(raw, content_type)
    if text is not None:
        return text.encode()
    return b"" if value is None else orjson.dumps(value)
