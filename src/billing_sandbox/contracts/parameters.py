"""An interaction's path, query and header values fitted to the operation's parameters. They
travel as text, so each is first read as its schema's type asks (`7` as an integer, a list
as repeated or delimited values, as the parameter's style says) and then fitted like a body."""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

from billing_sandbox.contracts.openapi import Located, OpenApiDocument, Operation, Parameter
from billing_sandbox.contracts.schemafit import Problem, SchemaFit

# The media types whose content is read as JSON: a parameter's `content` here, bodies in check.
JSON_MEDIA = re.compile(r"^application/(?:[\w.+-]*\+)?json$|^\*/\*$")
_INTEGER_TEXT = re.compile(r"^-?\d{1,40}$")


def path_problems(
    spec: OpenApiDocument, operation: Operation, values: dict[str, str]
) -> list[Problem]:
    problems: list[Problem] = []
    for parameter in operation.parameters:
        if parameter.where == "path" and parameter.name in values:
            subject = f"path parameter {parameter.name}"
            text = values[parameter.name]
            problems += _fit_texts(spec, parameter, [text], subject)
    return problems


def query_problems(
    spec: OpenApiDocument, operation: Operation, query: dict[str, list[str]]
) -> list[Problem]:
    problems: list[Problem] = []
    declared = {p.name: p for p in operation.parameters if p.where == "query"}
    for name, parameter in declared.items():
        subject = f"query parameter {name}"
        if parameter.definition.value.get("style") == "deepObject":
            fields = _deep_object(name, query)
            if fields is not None:
                problems += SchemaFit(spec, sending=True, subject=subject).check(
                    fields, parameter.schema
                )
            elif parameter.required and not spec.is_credential(parameter.where, parameter.name):
                problems.append((parameter.definition.location, f"required {subject} is not sent"))
            continue
        if name in query:
            problems += _fit_texts(spec, parameter, query[name], subject)
        elif parameter.required and not spec.is_credential(parameter.where, parameter.name):
            problems.append((parameter.definition.location, f"required {subject} is not sent"))
    for name in query:
        base = name.split("[", 1)[0]
        if name in declared or base in declared:
            continue  # `base[...]`: a deep object, or a bracket form the spec describes in prose
        if spec.is_credential("query", name):
            continue
        problems.append(
            (
                f"{operation.location}.parameters",
                f"the spec does not declare query parameter {name}, which the consumer sends",
            )
        )
    return problems


def _deep_object(name: str, query: dict[str, list[str]]) -> dict[str, str] | None:
    """`name[key]=value` pairs as `{key: value}` (the last value of each); None when none."""
    fields = {
        sent[len(name) + 1 : sent.index("]")]: values[-1]
        for sent, values in query.items()
        if sent.startswith(name + "[") and "]" in sent and values
    }
    return fields or None


def header_problems(
    spec: OpenApiDocument, operation: Operation, headers: dict[str, str]
) -> list[Problem]:
    """Header values that break their schema, and required headers not sent. A request that
    lists no headers at all says nothing about them (a journal does not record them; many
    pacts leave them to the verifier), so required ones are looked for only when it lists
    some. Credentials are never asked for: they are the client's business."""
    sent = {name.lower(): value for name, value in headers.items()}
    problems: list[Problem] = []
    for parameter in operation.parameters:
        if parameter.where != "header" or spec.is_credential(parameter.where, parameter.name):
            continue
        subject = f"header {parameter.name}"
        value = sent.get(parameter.name.lower())
        if value is not None:
            problems += _fit_texts(spec, parameter, [value], subject)
        elif parameter.required and sent:
            problems.append((parameter.definition.location, f"required {subject} is not sent"))
    return problems


def _fit_texts(
    spec: OpenApiDocument, parameter: Parameter, texts: list[str], subject: str
) -> list[Problem]:
    """Fit a parameter's values, as sent (text), to its schema: converted to the schema's type
    first (`7` to an integer), arrays as repeated values or delimited, as its style says."""
    definition = parameter.definition.value
    fit = SchemaFit(spec, sending=True, subject=subject)
    schema = parameter.schema
    if schema.value is None:
        return _fit_content(spec, parameter, texts, fit)
    kind = primary_type(spec, schema)
    if kind == "array":
        items = spec.resolve(schema).at("items")
        item_kind = primary_type(spec, items)
        style = definition.get("style", "form" if parameter.where == "query" else "simple")
        explode = definition.get("explode", style == "form")
        values = texts
        if not explode:
            separator = {"spaceDelimited": " ", "pipeDelimited": "|"}.get(str(style), ",")
            values = [part for text in texts for part in text.split(separator)]
        return fit.check([parse_typed(value, item_kind) for value in values], schema)
    return [problem for text in texts for problem in fit.check(parse_typed(text, kind), schema)]


def _fit_content(
    spec: OpenApiDocument, parameter: Parameter, texts: list[str], fit: SchemaFit
) -> list[Problem]:
    """A parameter described by `content` (JSON in a query value) rather than a schema."""
    content = parameter.definition.at("content")
    if not isinstance(content.value, dict):
        return []
    for media in content.value:
        if JSON_MEDIA.match(str(media)):
            problems: list[Problem] = []
            for text in texts:
                try:
                    value = orjson.loads(text)
                except orjson.JSONDecodeError:
                    problems.append((content.at(media).location, f"{fit.subject} is not JSON"))
                    continue
                problems += fit.check(value, content.at(media, "schema"))
            return problems
    return []


def parse_typed(text: str, kind: str | None) -> Any:
    """A parameter's text as the schema's type asks; left as text when it is not one (the
    schema then says so)."""
    if kind == "integer" and _INTEGER_TEXT.match(text):
        return int(text)
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            return text
        return number if math.isfinite(number) else text
    if kind == "boolean" and text in ("true", "false"):
        return text == "true"
    return text


def primary_type(spec: OpenApiDocument, schema: Located, hops: int = 0) -> str | None:
    """The one type a parameter's schema names, looking through references and combinations."""
    node = spec.resolve(schema).value
    if not isinstance(node, dict) or hops > 8:
        return None
    declared = node.get("type")
    if isinstance(declared, str):
        return declared
    if isinstance(declared, list):
        return next((str(t) for t in declared if t != "null"), None)
    for keyword in ("allOf", "oneOf", "anyOf"):
        branches = node.get(keyword)
        for branch in branches if isinstance(branches, list) else []:
            found = primary_type(spec, Located(branch, ""), hops + 1)
            if found not in (None, "null"):
                return found
    return None
