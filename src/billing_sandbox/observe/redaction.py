"""Take credentials out of headers, query strings and bodies before anything is kept.

The one implementation: the request journal (and so the dashboard and its stream), the
proxy's journal and its recordings all keep requests only through it."""

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


# A page token is a cursor, not a credential (Candid's `next_page_token`): kept as sent.
_NOT_SECRET_SUFFIXES = ("pagetoken",)
# Whether text may hold a secret at all: most bodies and queries do not, and then nothing is
# parsed. `may_hold_secret` looks for these words in the lower-cased text (a case-blind regex
# alternation cost a write three times as much), a JWT by its own case-sensitive start, and
# any escape that could spell either.
SECRET_WORDS = ("secret", "password", "token", "apikey", "api-key", "api_key", "authorization")
_JWT_START = "eyJ"


def is_secret(name: str) -> bool:
    """Whether a field, parameter or header of this name holds a credential."""
    plain = re.sub(r"[-_]", "", name.lower())
    return plain.endswith(_SECRET_SUFFIXES) and not plain.endswith(_NOT_SECRET_SUFFIXES)


def may_hold_secret(raw: bytes) -> bool:
    """A cheap first look: False means `raw` holds no secret these rules would redact."""
    # As text (latin-1: a character a byte, so no byte is lost or made): `in` on a str costs
    # a third of `in` on bytes, which takes its argument as a buffer each time.
    return may_hold_secret_text(raw.decode("latin-1"))


def may_hold_secret_text(text: str) -> bool:
    """`may_hold_secret` for text (a query string)."""
    # An escape may spell a word or a JWT's start that the text does not show: JSON's
    # `"client_secr\u0065t"` is `client_secret` once decoded, a form's or a query's
    # `access_%74oken` is `access_token`. Text with one is looked at in full, decoded.
    if "%" in text or "\\u" in text or _JWT_START in text:
        return True
    lowered = text.lower()
    # `SECRET_WORDS` spelled out: `any()` over a generator cost as much as the searches
    # themselves (tests/observe/test_redaction_first_look.py holds the two the same).
    return (
        "token" in lowered
        or "secret" in lowered
        or "password" in lowered
        or "apikey" in lowered
        or "api-key" in lowered
        or "api_key" in lowered
        or "authorization" in lowered
    )


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
    if not text or not may_hold_secret_text(text) or text in _CLEAN_ESCAPED:
        return text
    pairs = parse_qsl(text, keep_blank_values=True)
    if not any(is_secret(name) for name, _ in pairs):
        if "%" in text and len(text) <= _CLEAN_ESCAPED_CHARS:
            _remember_clean(text)
        return text  # untouched, so a recording keeps the exact bytes the client sent
    return urlencode([(name, REDACTED if is_secret(name) else value) for name, value in pairs])


# Escaped query strings found to hold no secret (clients escape `$` and brackets, as `qs`
# does, and repeat their queries): one is looked at in full once, not on every request. Only
# those holding none are kept, so no secret rests here; at most 256 of up to 1 KiB.
_CLEAN_ESCAPED: dict[str, None] = {}
_CLEAN_ESCAPED_COUNT = 256
_CLEAN_ESCAPED_CHARS = 1024


def _remember_clean(text: str) -> None:
    if len(_CLEAN_ESCAPED) >= _CLEAN_ESCAPED_COUNT:
        _CLEAN_ESCAPED.clear()
    _CLEAN_ESCAPED[text] = None


def document(value: Any) -> Any:
    """A JSON value with every secret field's value, and every JWT, redacted."""
    if isinstance(value, dict):
        return {k: REDACTED if is_secret(k) else document(v) for k, v in value.items()}
    if isinstance(value, list):
        return [document(item) for item in value]
    if isinstance(value, str) and _JWT.match(value):
        return REDACTED
    return value


# In text that is not JSON (a torn body): the value after a secret-looking name, or a JWT.
_SECRET_IN_TEXT = re.compile(
    r"""(?P<name>["']?[\w-]*(?:secret|password|token|api[-_]?key|authorization)["']?\s*[:=]\s*)"""
    r"""(?P<value>"[^"]*"?|'[^']*'?|[^&,;\s}\]]*)""",
    re.IGNORECASE,
)
_JWT_IN_TEXT = re.compile(r"eyJ[\w-]*\.[\w-]*\.[\w-]*")
# A document nested deeper than this is not walked (the walk recurses); it is not kept.
_MAX_DEPTH = 200
TOO_DEEP = "[body not kept: nested too deeply to redact]"


def text(value: str) -> str:
    """Text that is not JSON with the values of secret-looking names, and JWTs, redacted."""
    value = _SECRET_IN_TEXT.sub(lambda m: m.group("name") + REDACTED, value)
    return _JWT_IN_TEXT.sub(REDACTED, value)


def body(raw: bytes, content_type: str) -> tuple[Any, str | None]:
    """A body as it may be kept: `(JSON value, None)` for JSON (secrets redacted),
    `(None, text)` for anything else (a form's secret fields redacted), `(None, None)` for none.
    """
    value, text = _read(raw, content_type)
    return document(value), text


def _read(raw: bytes, content_type: str) -> tuple[Any, str | None]:
    """`body`, its JSON value not yet redacted (its text already is)."""
    if not raw:
        return None, None
    media = content_type.split(";")[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        return None, query(raw.decode("utf-8", "replace"))
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # Not JSON whatever it claims (or torn): kept as text, secret-looking values redacted.
        return None, text(raw.decode("utf-8", "replace"))
    if _deeper_than(value, _MAX_DEPTH):
        return None, TOO_DEEP
    return value, None


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether a decoded JSON value nests more than `limit` levels (without recursing)."""
    level: list[Any] = [value]
    for _ in range(limit):
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        if not level:
            return False
    return any(isinstance(item, dict | list) for item in level)


def body_bytes(raw: bytes, content_type: str) -> bytes:
    """A body redacted the same way, as bytes (for the request journal): unchanged, the very
    same object, when it holds nothing to redact."""
    if not raw or not may_hold_secret(raw):
        return raw
    value, text = _read(raw, content_type)
    if text is not None:
        return text.encode()
    if value is None:
        return b""
    redacted = document(value)
    # Looked at in full and nothing redacted (a `%` in a note, a word in a value): kept as
    # sent, its escapes and spacing too, as a recording must replay it.
    return raw if redacted == value else orjson.dumps(redacted)
