"""A request's or response's body as a pact holds it, into the value the tools send and compare:
v2/v3 write it as it is, v4 wraps it with its content type and encoding (base64, or JSON as
text). Content types decide what is JSON, here and for the verifier, so they are read here too."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson

from billing_sandbox.contracts.problems import Problems, must_be


@dataclass(frozen=True)
class Body:
    """A body as read: its value, whether there was one, and whether it was binary."""

    value: Any = None
    present: bool = False
    binary: bool = False  # bytes that are not text: nothing the tools send or compare


def is_json_media_type(content_type: str | None) -> bool:
    """Whether a Content-Type names JSON (`application/json`, `application/problem+json`,
    `application/vnd.api+json; charset=utf-8`), as Pact's JSON body matcher takes them."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media.endswith("/json") or (media.startswith("application/") and "json" in media)


def media_type(value: str) -> tuple[str, dict[str, str]]:
    """A Content-Type as its media type (lower case) and its parameters, so two can be
    compared by what they mean rather than how they are spelled."""
    media, _, rest = value.partition(";")
    parameters: dict[str, str] = {}
    for parameter in rest.split(";"):
        key, _, setting = parameter.partition("=")
        if key.strip():
            parameters[key.strip().lower()] = setting.strip().strip('"')
    return media.strip().lower(), parameters


def _content_type(headers: dict[str, str]) -> str | None:
    return next((value for name, value in headers.items() if name.lower() == "content-type"), None)


def read_body(
    part: dict[str, Any], at: str, major: int, headers: dict[str, str], problems: Problems
) -> Body:
    if "body" not in part:
        return Body()
    raw = part["body"]
    if raw is None:
        return Body()
    if major >= 4:
        return _v4_body(raw, at, _content_type(headers), problems)
    return Body(_parsed_if_json_text(raw, _content_type(headers)), present=True)


def _v4_body(raw: Any, at: str, header_type: str | None, problems: Problems) -> Body:
    """v4's `{"content": ..., "contentType": ..., "encoded": false | "base64" | "json"}`."""
    if not isinstance(raw, dict):
        problems.add(at, must_be('an object such as {"content": ..., "contentType": ...}', raw))
        return Body()
    content = raw.get("content")
    if content is None:  # as in v2 and v3, a null body is no body
        return Body()
    content_type = raw.get("contentType")
    if not isinstance(content_type, str):
        content_type = header_type
    encoded = raw.get("encoded", False)
    if encoded is False or encoded is None:
        return Body(_parsed_if_json_text(content, content_type), present=True)
    encoding = "base64" if encoded is True else str(encoded).lower()
    if encoding not in ("json", "base64"):
        problems.add(f"{at}.encoded", must_be('false, "base64" or "json"', encoded))
        return Body()
    if not isinstance(content, str):
        problems.add(f"{at}.content", must_be(f"a string (it is encoded {encoding})", content))
        return Body()
    if encoding == "base64":
        return _base64_body(content, content_type, at, problems)
    try:
        return Body(orjson.loads(content), present=True)
    except orjson.JSONDecodeError as error:
        problems.add(f"{at}.content", f"is marked encoded json but is not JSON: {error}")
        return Body()


def _base64_body(content: str, content_type: str | None, at: str, problems: Problems) -> Body:
    try:
        data = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        problems.add(f"{at}.content", "is marked encoded base64 but is not base64")
        return Body()
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return Body(binary=True)
    return Body(_parsed_if_json_text(text, content_type), present=True)


def _parsed_if_json_text(value: Any, content_type: str | None) -> Any:
    """A JSON body some tools write as its text: parsed, when the content type is JSON and the
    text parses (Pact reads a string body as the body's bytes); any other value as it is."""
    if not isinstance(value, str) or not is_json_media_type(content_type):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
