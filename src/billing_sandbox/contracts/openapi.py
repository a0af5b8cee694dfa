"""An OpenAPI 3.0 or 3.1 document for `contract check`, had from a file or an http(s) URL: read
whole within a size (and, fetched, a time) limit, parsed as JSON or YAML, and refused with a
reason a person can act on unless it is an OpenAPI 3 document (`SpecUnreadable`).

What the document is then asked (operations, paths, references) is `specdocument`'s."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from billing_sandbox.contracts.deadline import Deadline, Overdue
from billing_sandbox.contracts.files import NotAFile, read_regular_file
from billing_sandbox.contracts.specdocument import OpenApiDocument, Operation, Parameter
from billing_sandbox.contracts.specreferences import Located
from billing_sandbox.contracts.urls import CredentialsInUrl, is_http, refuse_credentials
from billing_sandbox.spec.document import load_yaml

# What other modules take from here, wherever it is now defined.
__all__ = [
    "FETCH_TIMEOUT_SECONDS",
    "MAX_SPEC_BYTES",
    "Located",
    "OpenApiDocument",
    "Operation",
    "Parameter",
    "SpecUnreadable",
    "load_spec",
]

MAX_SPEC_BYTES = 20 * 1024 * 1024
FETCH_TIMEOUT_SECONDS = 10.0
MAX_REDIRECTS = 5


class SpecUnreadable(ValueError):
    """A spec that cannot be had or read: missing, unreachable, too large, not YAML or JSON, or
    not an OpenAPI 3 document. The message names the source and says why."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


def load_spec(source: str) -> OpenApiDocument:
    """The OpenAPI document at `source`: a file path or an http(s) URL, YAML or JSON."""
    if is_http(source):
        try:
            refuse_credentials(source, "download a spec that needs them and give the file")
        except CredentialsInUrl as refused:
            raise SpecUnreadable(refused.shown, refused.reason) from None
        raw = _fetch(source)
    else:
        raw = _read(source)
    document = _parse(source, raw)
    _require_openapi(source, document)
    return OpenApiDocument(source, document)


def _read(source: str) -> bytes:
    try:
        raw = read_regular_file(Path(source), MAX_SPEC_BYTES)
    except FileNotFoundError:
        raise SpecUnreadable(source, "no such file") from None
    except IsADirectoryError:
        raise SpecUnreadable(source, "is a directory, not a spec file") from None
    except NotAFile:
        raise SpecUnreadable(source, "not a file (a FIFO, a device or a socket)") from None
    except OSError as error:
        raise SpecUnreadable(source, f"cannot be read: {error.strerror or error}") from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecUnreadable(source, f"is larger than {MAX_SPEC_BYTES // (1024 * 1024)} MB")
    return raw


def _fetch(source: str) -> bytes:
    """The document at the URL, read whole within FETCH_TIMEOUT_SECONDS in all (redirects
    included): a server dripping it a byte at a time is cut off, not waited on."""
    seconds = FETCH_TIMEOUT_SECONDS
    overdue = f"unreachable: no whole answer within {seconds:g} s"
    with (
        httpx.Client(timeout=seconds, follow_redirects=True, max_redirects=MAX_REDIRECTS) as client,
        Deadline(client, seconds) as limit,
    ):
        try:
            with client.stream("GET", source, extensions=limit.extensions) as response:
                if not response.is_success:
                    raise SpecUnreadable(
                        source, f"answered HTTP {response.status_code} {response.reason_phrase}"
                    )
                raw = limit.read(response, MAX_SPEC_BYTES)
        except Overdue:
            raise SpecUnreadable(source, overdue) from None
        except httpx.TooManyRedirects:
            raise SpecUnreadable(source, f"redirects more than {MAX_REDIRECTS} times") from None
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            if limit.passed or isinstance(error, httpx.TimeoutException):
                raise SpecUnreadable(source, overdue) from None
            raise SpecUnreadable(source, f"unreachable: {error or type(error).__name__}") from None
    if raw is None:
        raise SpecUnreadable(source, f"is larger than {MAX_SPEC_BYTES // (1024 * 1024)} MB")
    return raw


def _parse(source: str, raw: bytes) -> Any:
    if raw.lstrip()[:1] == b"{":
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise SpecUnreadable(source, f"is not valid JSON: {error}") from None
    try:
        return load_yaml(raw)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(error, "problem", None) or error
        raise SpecUnreadable(source, f"is neither JSON nor YAML{where}: {problem}") from None
    except RecursionError:
        raise SpecUnreadable(source, "nests too deeply to read") from None


def _require_openapi(source: str, document: Any) -> None:
    if not isinstance(document, dict):
        raise SpecUnreadable(source, "is not an OpenAPI document (not a mapping at the top)")
    if "swagger" in document:
        version = document["swagger"]
        raise SpecUnreadable(
            source,
            f"is Swagger {version}, which the check does not read: convert it to OpenAPI 3 "
            "(for example with swagger2openapi)",
        )
    version = document.get("openapi")
    if not isinstance(version, str) or not re.fullmatch(r"3\.[01](\.\d+)?(-.*)?", version):
        raise SpecUnreadable(
            source,
            "is not an OpenAPI 3.0 or 3.1 document (its `openapi` field is "
            f"{'missing' if version is None else repr(version)})",
        )
    if not isinstance(document.get("paths", {}), dict):
        raise SpecUnreadable(source, "has a `paths` that is not a mapping")
