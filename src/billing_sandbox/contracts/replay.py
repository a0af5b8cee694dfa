"""The request a verification sends for one interaction: the pact's example, with the values a
story learnt substituted, its generators run, and our credentials in place of the pact's own.

Pacts carry the values of the run that recorded them: ids a provider made then, and credentials
that are stale or redacted. A replay sends what this run needs instead, exactly where the pact
says (generators) or where the recorded value stands whole (substitutions).

What goes into it is found elsewhere: the values a story learnt in `substitutions`, the
generators' values in `generators`; the answer to expect back is `expectedresponse`'s."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from billing_sandbox.contracts.expectedresponse import expected_response
from billing_sandbox.contracts.generators import CannotPrepare, Generating, generate_in_body
from billing_sandbox.contracts.model import Interaction, Request
from billing_sandbox.contracts.momentformat import format_moment
from billing_sandbox.contracts.substitutions import learn, substituted

# What other modules take from here, wherever it is now defined.
__all__ = [
    "CannotPrepare",
    "PreparedRequest",
    "Signing",
    "expected_response",
    "format_moment",
    "learn",
    "prepare",
    "signing_for",
    "substituted",
]

# Header names a client sets from the request itself: a pact's recorded ones would be wrong.
_TRANSPORT_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
# Characters a path keeps as they are when it is put on the wire; others are percent-encoded
# (a `?` or `#` in a pact's path is part of the path, not a query or a fragment).
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


@dataclass(frozen=True)
class Signing:
    """How this run signs requests of one API: the credentials' headers and query values, and
    the header names that carry credentials (lower case), whose pact values are dropped."""

    headers: dict[str, str] = field(default_factory=dict, repr=False)
    query: dict[str, str] = field(default_factory=dict, repr=False)
    credential_headers: frozenset[str] = frozenset({"authorization"})


def signing_for(spec: Path, values: Mapping[str, str]) -> Signing:
    """How to sign requests with `values` (by security-scheme name, as `conformance`'s
    sign-in gives them), by the schemes of `spec`: an http bearer scheme is
    `Authorization: Bearer <value>`, an apiKey one the header (or query value) it names.

    Every credential header the spec names is dropped from a pact's requests, given a value
    here or not: a pact's own are stale or redacted."""
    document = yaml.safe_load(spec.read_text(encoding="utf-8"))
    components = document.get("components") if isinstance(document, dict) else None
    schemes = (components or {}).get("securitySchemes") or {}
    headers: dict[str, str] = {}
    query: dict[str, str] = {}
    credential_headers = {"authorization"}
    for name, scheme in schemes.items():
        if not isinstance(scheme, dict):
            continue
        kind, value = scheme.get("type"), values.get(name)
        if kind == "apiKey" and scheme.get("in") == "header":
            credential_headers.add(str(scheme.get("name", "")).lower())
        if value is None:
            continue
        if kind == "http":
            prefix = "Bearer" if str(scheme.get("scheme", "")).lower() == "bearer" else "Basic"
            headers["Authorization"] = f"{prefix} {value}"
        elif kind == "apiKey" and scheme.get("in") == "header":
            headers[str(scheme["name"])] = value
        elif kind == "apiKey" and scheme.get("in") == "query":
            query[str(scheme["name"])] = value
    return Signing(headers, query, frozenset(credential_headers))


@dataclass(frozen=True)
class PreparedRequest:
    """What goes on the wire (the path already percent-encoded), and what was noted on the way:
    generators left at their example, and why."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    content: bytes | None
    notes: tuple[str, ...] = ()


def prepare(
    interaction: Interaction,
    signing: Signing,
    substitutions: Mapping[str, str],
    state_values: Mapping[str, Any] | None,
) -> PreparedRequest:
    """The request to send for `interaction`.

    `substitutions` maps values the pact recorded to those this run answered (exact equality);
    `state_values` are what the provider-state setups answered, or None when no state could be
    set (the target is not a sandbox): ProviderState generators then keep their examples.
    Raises CannotPrepare when a generator names a value no setup answered.
    """
    request = interaction.request
    notes: list[str] = []
    # Our credentials replace any the pact's query holds, as they do its headers (below).
    query: dict[str, list[str]] = {
        name: substituted(values, substitutions)
        for name, values in request.query.items()
        if name not in signing.query
    }
    headers = {name: substituted(value, substitutions) for name, value in request.headers.items()}
    body = substituted(request.body, substitutions)
    path = "/".join(substitutions.get(part, part) for part in request.path.split("/"))

    run = Generating(state_values, notes)
    for where, generator in request.generators.get("path", {}).items():
        path = str(run(generator, path, f"path{where}"))
    for name, generator in request.generators.get("query", {}).items():
        if name in query:
            query[name] = [str(run(generator, v, f"query {name}")) for v in query[name]]
    for name, generator in request.generators.get("header", {}).items():
        known = next((h for h in headers if h.lower() == name.lower()), name)
        headers[known] = str(run(generator, headers.get(known, ""), f"header {name}"))
    for where, generator in request.generators.get("body", {}).items():
        body = generate_in_body(body, where, generator, run, notes)

    return PreparedRequest(
        method=request.method,
        path=quote(path if path.startswith("/") else "/" + path, safe=_PATH_SAFE),
        query=[*((n, v) for n, values in query.items() for v in values), *signing.query.items()],
        headers=_typed(_signed(headers, signing), request, body),
        content=_content(request, body),
        notes=tuple(notes),
    )


def _signed(headers: Mapping[str, str], signing: Signing) -> dict[str, str]:
    """The pact's headers without its credentials and transport headers, then ours."""
    dropped = signing.credential_headers | _TRANSPORT_HEADERS
    kept = {name: value for name, value in headers.items() if name.lower() not in dropped}
    return {**kept, **signing.headers}


def _content(request: Request, body: Any) -> bytes | None:
    """The body's bytes: a string is the body's text, as Pact reads one (the reader has
    parsed every JSON text it could); anything else is JSON."""
    if not request.has_body:
        return None
    return body.encode() if isinstance(body, str) else json.dumps(body).encode()


def _typed(headers: dict[str, str], request: Request, body: Any) -> dict[str, str]:
    """`headers`, saying the body is JSON when it is and the pact said nothing: a provider
    reads a body by its Content-Type."""
    if not request.has_body or isinstance(body, str):
        return headers
    if any(name.lower() == "content-type" for name in headers):
        return headers
    return {**headers, "Content-Type": "application/json"}
