"""Load a hand-written OpenAPI 3.1 document once and compile what each operation needs."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import orjson
import yaml

from billing_sandbox.observe.redaction import is_secret
from billing_sandbox.spec.validation import SchemaCheck

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Methods that change nothing, unless the operation says otherwise (`x-sandbox-changes-state`).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

# libyaml's loader when PyYAML was built with it (8 times faster: specs load at every app start).
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str | bytes) -> Any:
    """YAML read with the safe loader only (libyaml's when present): it builds plain data and
    never an object the text names."""
    return yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506 (a safe loader: see its definition)


@dataclass(frozen=True)
class Parameter:
    """A path, query or header parameter and how to turn its text into a typed value."""

    name: str
    location: str
    required: bool
    schema: dict[str, Any]

    # Cached: asked of every declared parameter of every request.
    @cached_property
    def is_array(self) -> bool:
        return self.schema.get("type") == "array"

    @cached_property
    def as_text(self) -> bool:
        """Whether its value is the text sent, unconverted (`params.coerce` leaves it)."""
        return self.schema.get("type") not in ("integer", "number", "boolean")

    @cached_property
    def default(self) -> Any:
        return self.schema.get("default")


@dataclass(frozen=True)
class Operation:
    """One operation of a spec, with its validators compiled."""

    operation_id: str
    method: str
    path: str
    parameters: tuple[Parameter, ...]
    # None: the location's parameters take any value they can arrive as (see `_needs_check`).
    parameter_checks: dict[str, SchemaCheck | None]
    body_checks: dict[str, SchemaCheck]
    body_required: bool
    response_checks: dict[int, SchemaCheck | None]
    secured: bool
    # Whether a call may change a tenant: every unsafe method, and a GET with an effect (the
    # vendor's own design, marked `x-sandbox-changes-state: true` in our spec).
    changes_state: bool = True
    # Whether an answer may carry a credential (a field named like one: an issued token, a
    # webhook's signing secret): the journal keeps such answers redacted.
    answers_secrets: bool = False
    # Whether its body may be as large as a snapshot of the sandbox (`x-sandbox-large-body`:
    # snapshots, and scenarios given whole); every other body is a record's size at most.
    large_body: bool = False

    @cached_property
    def success_status(self) -> int:
        return min(status for status in self.response_checks if 200 <= status < 300)

    @cached_property
    def by_location(self) -> dict[str, tuple[Parameter, ...]]:
        """Parameters grouped by where they travel; a location with none is absent."""
        grouped: dict[str, tuple[Parameter, ...]] = {}
        for param in self.parameters:
            grouped[param.location] = (*grouped.get(param.location, ()), param)
        return grouped

    @cached_property
    def query_by_name(self) -> dict[str, Parameter]:
        return {param.name: param for param in self.by_location.get("query", ())}

    @cached_property
    def query_defaults(self) -> dict[str, Any]:
        """The query parameters a request that leaves them out gets anyway."""
        return {name: p.default for name, p in self.query_by_name.items() if p.default is not None}


# What a path parameter declared as a plain string may also say: a route matches only a
# segment of one character or more.
_ALWAYS_MET = ({"type": "string"}, {"type": "string", "minLength": 1})


def _needs_check(path_schema: dict[str, Any]) -> bool:
    """Whether a path parameter's value can break its schema. Path segments are never empty
    and a string-typed one is passed on as text, so a plain string schema always holds: not
    not checking it spares every by-id read a call into the validator."""
    return path_schema not in _ALWAYS_MET


class Spec:
    """A parsed spec file: its raw document, its bytes for serving, and its operations."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.stem
        self.raw_yaml = path.read_bytes()
        self.document: dict[str, Any] = load_yaml(self.raw_yaml)
        self._components = self.document.get("components", {})
        self.operations = tuple(self._operations())

    @cached_property
    def as_json(self) -> bytes:
        return orjson.dumps(self.document)

    def _operations(self) -> list[Operation]:
        default_security = self.document.get("security", [])
        found = []
        for path, item in self.document.get("paths", {}).items():
            shared = [self._resolve(p) for p in item.get("parameters", [])]
            for method in HTTP_METHODS:
                if method in item:
                    found.append(
                        self._operation(path, method, item[method], shared, default_security)
                    )
        return found

    def _operation(
        self,
        path: str,
        method: str,
        op: dict[str, Any],
        shared: list[dict[str, Any]],
        default_security: list[Any],
    ) -> Operation:
        own = [self._resolve(p) for p in op.get("parameters", [])]
        by_key = {(p["name"], p["in"]): p for p in [*shared, *own]}
        parameters = tuple(
            Parameter(p["name"], p["in"], bool(p.get("required", False)), p.get("schema", {}))
            for p in by_key.values()
        )
        body = self._resolve(op.get("requestBody", {}))
        responses = {
            int(status): self._check(self._json_schema(self._resolve(response)))
            for status, response in op.get("responses", {}).items()
        }
        security = op.get("security", default_security)
        return Operation(
            operation_id=op["operationId"],
            method=method.upper(),
            path=path,
            parameters=parameters,
            parameter_checks={
                location: self._parameter_check(
                    location, [p for p in parameters if p.location == location]
                )
                for location in ("path", "query", "header")
            },
            body_checks={
                media: SchemaCheck(content.get("schema", {}), self._components)
                for media, content in body.get("content", {}).items()
            },
            body_required=bool(body.get("required", False)),
            response_checks=responses,
            secured=any(requirement for requirement in security),
            changes_state=method.upper() not in SAFE_METHODS
            or bool(op.get("x-sandbox-changes-state", False)),
            answers_secrets=any(
                self._names_a_secret(self._resolve(response))
                for response in op.get("responses", {}).values()
            ),
            large_body=bool(op.get("x-sandbox-large-body", False)),
        )

    def _names_a_secret(self, node: Any, seen: frozenset[str] = frozenset()) -> bool:
        """Whether a schema (any part of it, references followed) has a property named like a
        credential."""
        if isinstance(node, list):
            return any(self._names_a_secret(item, seen) for item in node)
        if not isinstance(node, dict):
            return False
        reference = node.get("$ref")
        if isinstance(reference, str):
            return reference not in seen and self._names_a_secret(
                self._resolve({"$ref": reference}), seen | {reference}
            )
        properties = node.get("properties")
        if isinstance(properties, dict) and any(is_secret(name) for name in properties):
            return True
        return any(self._names_a_secret(value, seen) for value in node.values())

    def _parameter_check(self, location: str, parameters: list[Parameter]) -> SchemaCheck | None:
        if location == "path" and not any(_needs_check(p.schema) for p in parameters):
            return None
        schema = {
            "type": "object",
            "properties": {p.name: p.schema for p in parameters},
            "required": [p.name for p in parameters if p.required],
        }
        return SchemaCheck(schema, self._components)

    def _check(self, schema: dict[str, Any] | None) -> SchemaCheck | None:
        return None if schema is None else SchemaCheck(schema, self._components)

    @staticmethod
    def _json_schema(response: dict[str, Any]) -> dict[str, Any] | None:
        content = response.get("content", {})
        return content[JSON].get("schema", {}) if JSON in content else None

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        """Follow a local `$ref` (parameters, request bodies and responses may be shared)."""
        while "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node


def load_spec(path: Path) -> Spec:
    """The spec at `path`, parsed and compiled once per version of the file: every app (and
    every test's app) of a process shares it. A spec is never changed after loading."""
    stat = path.stat()
    return _load(path.resolve(), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=32)
def _load(path: Path, mtime_ns: int, size: int) -> Spec:
    # mtime and size are part of the key so that an edited spec is read again.
    return Spec(path)
