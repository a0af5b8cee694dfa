"""`contract check`: which interactions of a pact break under an OpenAPI document, found without
calling anything. Drift detection from the consumer's side: run it against a newer spec the
vendor publishes, and each finding names the interaction, the place in the spec and why.

What breaks a call: no operation answers it; a path or query value the spec no longer takes; a
required parameter or body it does not send; a field it sends or expects that the spec no
longer declares; a status the spec no longer answers; an example value the schema refuses (an
enum narrowed). Examples are validated as they are: a matching rule loosens what a verifier
compares, but the value the consumer showed must still be one the provider may send."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from billing_sandbox.contracts.journal import CutBody
from billing_sandbox.contracts.model import Interaction, Pact, Request, Response
from billing_sandbox.contracts.openapi import Located, OpenApiDocument, Operation
from billing_sandbox.contracts.parameters import (
    JSON_MEDIA,
    header_problems,
    parse_typed,
    path_problems,
    primary_type,
    query_problems,
)
from billing_sandbox.contracts.schemafit import (
    MAX_DEPTH,
    MAX_STEPS,
    MAX_TRIAL_NESTING,
    Problem,
    SchemaFit,
)
from billing_sandbox.contracts.schemavalues import joined_or

# What other modules take from here, wherever it is now defined.
__all__ = [
    "MAX_DEPTH",
    "MAX_FINDINGS_PER_INTERACTION",
    "MAX_STEPS",
    "MAX_TRIAL_NESTING",
    "Finding",
    "Problem",
    "check_interaction",
    "check_pact",
]

# Findings kept per interaction: past this, one more says how many were left out.
MAX_FINDINGS_PER_INTERACTION = 20
_FORM_MEDIA = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Finding:
    """One way an interaction breaks under the spec: `location` is the place in the spec, a
    dotted path such as `components.schemas.Charge.properties.status` or `paths` when no
    operation answers; `reason` says why in words."""

    interaction: Interaction
    location: str
    reason: str


def check_pact(pact: Pact, spec: OpenApiDocument) -> list[Finding]:
    """Every finding for every interaction of `pact`, in the pact's order."""
    return [finding for each in pact.interactions for finding in check_interaction(each, spec)]


def check_interaction(interaction: Interaction, spec: OpenApiDocument) -> list[Finding]:
    """How one interaction breaks under `spec`; empty when it does not."""
    problems = list(dict.fromkeys(_problems(interaction, spec)))
    kept = problems[:MAX_FINDINGS_PER_INTERACTION]
    findings = [Finding(interaction, location, reason) for location, reason in kept]
    left_out = len(problems) - len(kept)
    if left_out:
        reason = f"{left_out} more finding{'s' if left_out > 1 else ''} left out"
        findings.append(Finding(interaction, kept[-1][0], reason))
    return findings


def _problems(interaction: Interaction, spec: OpenApiDocument) -> list[Problem]:
    request = interaction.request
    found = spec.match(request.method, request.path)
    if found is None:
        return [_unanswered(request, spec)]
    operation = found.operation
    return [
        *path_problems(spec, operation, found.path_values),
        *query_problems(spec, operation, request.query),
        *header_problems(spec, operation, request.headers),
        *_request_body_problems(spec, operation, request),
        *_response_problems(spec, operation, interaction.response),
    ]


def _unanswered(request: Request, spec: OpenApiDocument) -> Problem:
    call = f"{request.method} {request.path}"
    templates = spec.templates_matching(request.path)
    if not templates:
        return ("paths", f"no operation answers {call}")
    template, methods = next(iter(templates.items()))
    return (
        f"paths.{template}",
        f"no operation answers {call} (the spec has {joined_or(methods)} there)",
    )


def _request_body_problems(
    spec: OpenApiDocument, operation: Operation, request: Request
) -> list[Problem]:
    body = spec.resolve(operation.definition.at("requestBody"))
    if not request.has_body:
        if isinstance(body.value, dict) and body.value.get("required") is True:
            return [(body.location, "the spec requires a request body, which is not sent")]
        return []
    if not isinstance(body.value, dict):
        return [(operation.location, "the spec takes no request body, but one is sent")]
    media, content = _pick_media(body.at("content"), request.headers, request.body)
    if content is None:
        return [(body.at("content").location, _no_media(media, body.at("content"), "request"))]
    if isinstance(request.body, CutBody) or content.at("schema").value is None:
        return []
    value = request.body
    if media == _FORM_MEDIA:
        value = _form_fields(spec, value, content.at("schema"))
    elif not JSON_MEDIA.match(media):
        return []
    fit = SchemaFit(spec, sending=True, subject="request body")
    return fit.check(value, content.at("schema"))


def _response_problems(
    spec: OpenApiDocument, operation: Operation, response: Response
) -> list[Problem]:
    responses = operation.definition.at("responses")
    status_key = _status_key(responses.value, response.status)
    if status_key is None:
        declared = ", ".join(str(key) for key in (responses.value or {}))
        return [
            (
                responses.location,
                f"the spec declares no {response.status} response for {operation.label}"
                + (f" (it declares {declared})" if declared else ""),
            )
        ]
    answer = spec.resolve(responses.at(status_key))
    if not response.has_body or isinstance(response.body, CutBody):
        return []
    contents = answer.at("content")
    if not isinstance(contents.value, dict) or not contents.value:
        return [
            (
                answer.location,
                f"the spec declares no body for the {response.status} response, "
                "but the consumer expects one",
            )
        ]
    media, content = _pick_media(contents, response.headers, response.body)
    if content is None:
        return [(contents.location, _no_media(media, contents, f"{response.status} response"))]
    if not JSON_MEDIA.match(media) or content.at("schema").value is None:
        return []
    fit = SchemaFit(spec, sending=False, subject="response body")
    return fit.check(response.body, content.at("schema"))


def _status_key(responses: Any, status: int) -> str | int | None:
    """The response a status falls under: exact, a range (`2XX`), or `default`."""
    if not isinstance(responses, dict):
        return None
    for key in (str(status), status):
        if key in responses:
            return key
    for key in responses:
        if str(key).upper() == f"{status // 100}XX":
            return key  # type: ignore[no-any-return]
    return "default" if "default" in responses else None


def _pick_media(
    contents: Located, headers: dict[str, str], body: Any
) -> tuple[str, Located | None]:
    """The media type the interaction uses and the spec's entry for it (None: not accepted).
    Without a Content-Type, a text body goes to a text media type the spec lists, anything
    else to JSON, as a Pact file leaves it."""
    declared = contents.value if isinstance(contents.value, dict) else {}
    sent = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    if sent is not None:
        media = sent.split(";", 1)[0].strip().lower()
        for key in (media, media.split("/", 1)[0] + "/*", "*/*"):
            if key in declared:
                return media, contents.at(key)
        # A JSON body is read alike whichever JSON media type names it (`application/json`
        # sent, `application/problem+json` declared).
        if JSON_MEDIA.match(media):
            for key in declared:
                if JSON_MEDIA.match(str(key)):
                    return str(key), contents.at(key)
        return media, None
    json_keys = [key for key in declared if JSON_MEDIA.match(str(key))]
    other_keys = [key for key in declared if not JSON_MEDIA.match(str(key))]
    if isinstance(body, str) and other_keys:
        return str(other_keys[0]), contents.at(other_keys[0])
    if json_keys:
        return str(json_keys[0]), contents.at(json_keys[0])
    return "application/json", None


def _no_media(media: str, contents: Located, what: str) -> str:
    declared = [str(key) for key in contents.value or {}]
    takes = f" (it has {joined_or(declared)})" if declared else ""
    return f"the spec has no {media} body for the {what}{takes}"


def _form_fields(spec: OpenApiDocument, body: Any, schema: Located) -> Any:
    """A form body as the object its schema describes: fields typed as the schema says."""
    if not isinstance(body, str):
        return body
    properties = spec.resolve(schema).value
    properties = properties.get("properties") if isinstance(properties, dict) else None
    fields: dict[str, Any] = {}
    for name, text in parse_qsl(body, keep_blank_values=True):
        field_schema = properties.get(name) if isinstance(properties, dict) else None
        kind = primary_type(spec, Located(field_schema, "")) if field_schema else None
        fields[name] = parse_typed(text, kind)
    return fields
