"""A loaded OpenAPI 3.0 or 3.1 document as `contract check` queries it: its operations, the one
a request's method and path reach, and the parameters that carry credentials.

Unlike `billing_sandbox.spec`, which compiles our own hand-written specs for serving, this reads
any vendor's document as published (references are followed by `specreferences`, servers whose
URL carries a path prefix are allowed for). Nothing is compiled up front, so a 2 MB vendor spec
costs only its parse, and a check pays for the operations its pact uses."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import unquote, urlsplit

from billing_sandbox.contracts import specreferences
from billing_sandbox.contracts.specreferences import Located
from billing_sandbox.observe.redaction import is_secret

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Header parameters OpenAPI says to ignore: the media types and the credentials are the HTTP
# client's business, described elsewhere (the request body, the security schemes).
IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})


@dataclass(frozen=True)
class Parameter:
    """A parameter of an operation (its path item's and its own merged), references followed."""

    name: str
    where: str  # path, query, header or cookie
    required: bool
    definition: Located

    @property
    def schema(self) -> Located:
        return self.definition.at("schema")


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    template: str  # the path as the spec writes it: /billing/charge/get/{id}
    definition: Located  # its location: paths./billing/charge/get/{id}.get
    parameters: tuple[Parameter, ...]

    @property
    def location(self) -> str:
        return self.definition.location

    @property
    def label(self) -> str:
        return f"{self.method} {self.template}"


@dataclass(frozen=True)
class PathMatch:
    """The operation that answers a request, and the path parameters' values (decoded)."""

    operation: Operation
    path_values: dict[str, str]


@dataclass(frozen=True)
class _Template:
    """A path template as a pattern: `{name}` matches one segment, or part of one."""

    template: str
    pattern: re.Pattern[str]
    names: tuple[str, ...]
    # One entry a segment, 1 when literal: of several templates that match, the one with
    # literal segments further left wins, as OpenAPI asks (`/charges/list` before `/{id}`).
    literalness: tuple[int, ...]

    @classmethod
    def of(cls, template: str) -> _Template:
        names: list[str] = []
        pieces: list[str] = []
        literalness: list[int] = []
        for segment in template.split("/"):
            parts = re.split(r"\{([^{}/]+)\}", segment)
            literalness.append(1 if len(parts) == 1 else 0)
            piece = ""
            for index, part in enumerate(parts):
                if index % 2:
                    names.append(part)
                    piece += "([^/]+)"
                else:
                    piece += re.escape(part)
            pieces.append(piece)
        return cls(template, re.compile("/".join(pieces)), tuple(names), tuple(literalness))

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return {
            name: unquote(value) for name, value in zip(self.names, found.groups(), strict=True)
        }


class OpenApiDocument:
    """A loaded OpenAPI 3.0 or 3.1 document."""

    def __init__(self, source: str, document: dict[str, Any]) -> None:
        self.source = source
        self.document = document
        self.version = str(document.get("openapi", ""))
        info = document.get("info")
        self.title = str(info.get("title", "")) if isinstance(info, dict) else ""

    # ---------- references ----------

    def resolve(self, part: Located) -> Located:
        """`part` with its `$ref` chain followed to a node that is not a bare reference. A
        reference that leads nowhere (outside the document, a missing name, a cycle) comes back
        as an empty schema, which admits anything: the check cannot say more there."""
        return specreferences.resolve(self.document, part)

    def target(self, reference: str) -> Located | None:
        """What a local reference (`#/components/schemas/Charge`) names, or None."""
        return specreferences.target(self.document, reference)

    # ---------- operations ----------

    @cached_property
    def operations(self) -> tuple[Operation, ...]:
        found: list[Operation] = []
        paths = self.document.get("paths")
        for template, raw_item in (paths if isinstance(paths, dict) else {}).items():
            if not isinstance(template, str) or not template.startswith("/"):
                continue  # `x-` extensions
            item = self.resolve(Located(raw_item, f"paths.{template}"))
            if not isinstance(item.value, dict):
                continue
            shared = self._parameters(item.at("parameters"))
            for method in HTTP_METHODS:
                operation = item.at(method)
                if isinstance(operation.value, dict):
                    own = self._parameters(operation.at("parameters"))
                    merged = {(p.name, p.where): p for p in [*shared, *own]}
                    found.append(
                        Operation(method.upper(), template, operation, tuple(merged.values()))
                    )
        return tuple(found)

    def _parameters(self, listed: Located) -> list[Parameter]:
        found = []
        for index in range(len(listed.value) if isinstance(listed.value, list) else 0):
            parameter = self.resolve(listed.at(index))
            value = parameter.value
            if isinstance(value, dict) and isinstance(value.get("name"), str):
                where = str(value.get("in", ""))
                required = where == "path" or value.get("required") is True
                found.append(Parameter(value["name"], where, required, parameter))
        return found

    @cached_property
    def _templates(self) -> dict[str, _Template]:
        return {op.template: _Template.of(op.template) for op in self.operations}

    @cached_property
    def server_prefixes(self) -> tuple[str, ...]:
        """The paths of the servers' URLs (`https://api.example.com/api/v1` → `/api/v1`), longest
        first: a request path may carry one in front of the spec's paths."""
        prefixes: set[str] = set()
        servers = self.document.get("servers")
        for server in servers if isinstance(servers, list) else []:
            if not isinstance(server, dict) or not isinstance(server.get("url"), str):
                continue
            url = server["url"]
            variables = server.get("variables")
            for name, variable in (variables if isinstance(variables, dict) else {}).items():
                if isinstance(variable, dict) and "default" in variable:
                    url = url.replace("{" + str(name) + "}", str(variable["default"]))
            path = urlsplit(url).path.rstrip("/")
            if path.startswith("/") and "{" not in path:
                prefixes.add(path)
        return tuple(sorted(prefixes, key=len, reverse=True))

    def _candidates(self, path: str) -> list[str]:
        """The request path as sent, then without a server prefix, then without a trailing
        slash (an Express server, as MYCURE's, answers both)."""
        paths = [path or "/"]
        for prefix in self.server_prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                paths.append(path[len(prefix) :] or "/")
        paths += [p.rstrip("/") for p in paths if len(p) > 1 and p.endswith("/")]
        return list(dict.fromkeys(paths))

    def match(self, method: str, path: str) -> PathMatch | None:
        """The operation that answers `method path`: of the templates that match the path and
        have the method, the most literal one."""
        method = method.upper()
        for candidate in self._candidates(path):
            best: tuple[tuple[int, ...], PathMatch] | None = None
            for operation in self.operations:
                if operation.method != method:
                    continue
                template = self._templates[operation.template]
                values = template.match(candidate)
                if values is not None and (best is None or template.literalness > best[0]):
                    best = (template.literalness, PathMatch(operation, values))
            if best is not None:
                return best[1]
        return None

    def templates_matching(self, path: str) -> dict[str, list[str]]:
        """The templates that match `path` whatever the method, each with its methods."""
        found: dict[str, list[str]] = {}
        for candidate in self._candidates(path):
            for operation in self.operations:
                if self._templates[operation.template].match(candidate) is not None:
                    found.setdefault(operation.template, []).append(operation.method)
        return found

    # ---------- credentials ----------

    @cached_property
    def credential_parameters(self) -> frozenset[tuple[str, str]]:
        """The `(in, name)` of every parameter the security schemes send (header names lower
        case): credentials are the HTTP client's business, not a parameter a pact must list."""
        found: set[tuple[str, str]] = {("header", name) for name in IGNORED_HEADERS}
        components = self.document.get("components")
        schemes = components.get("securitySchemes") if isinstance(components, dict) else None
        for raw in (schemes if isinstance(schemes, dict) else {}).values():
            scheme = self.resolve(Located(raw, "")).value
            if not isinstance(scheme, dict):
                continue
            if scheme.get("type") == "apiKey" and isinstance(scheme.get("name"), str):
                where = str(scheme.get("in", ""))
                name = scheme["name"].lower() if where == "header" else scheme["name"]
                found.add((where, name))
        return frozenset(found)

    def is_credential(self, where: str, name: str) -> bool:
        """Whether a parameter carries a credential: a security scheme's, or one named like a
        credential (Decoda's published specs list `API-KEY` as a plain header parameter)."""
        key = name.lower() if where == "header" else name
        return (where, key) in self.credential_parameters or is_secret(name)
