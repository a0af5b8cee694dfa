"""An OpenAPI 3.0 or 3.1 document as `contract check` reads it: loaded from a file or a URL, its
local `$ref`s followed on demand, and its operations found by method and path.

Unlike `billing_sandbox.spec`, which compiles our own hand-written specs for serving, this reads
any vendor's document as published: 3.0 or 3.1, references whose names hold unescaped `/`,
servers whose URL carries a path prefix. Nothing is compiled up front, so a 2 MB vendor spec
costs only its parse, and a check pays for the operations its pact uses."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import orjson
import yaml

from billing_sandbox.contracts.deadline import Deadline, Overdue
from billing_sandbox.contracts.files import NotAFile, read_regular_file
from billing_sandbox.contracts.urls import CredentialsInUrl, is_http, refuse_credentials
from billing_sandbox.observe.redaction import is_secret
from billing_sandbox.spec.document import load_yaml

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
MAX_SPEC_BYTES = 20 * 1024 * 1024
FETCH_TIMEOUT_SECONDS = 10.0
MAX_REDIRECTS = 5
# A chain of references longer than this (a → b → c …) is taken for a cycle.
MAX_REF_HOPS = 32
# Header parameters OpenAPI says to ignore: the media types and the credentials are the HTTP
# client's business, described elsewhere (the request body, the security schemes).
IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})


class SpecUnreadable(ValueError):
    """A spec that cannot be had or read: missing, unreachable, too large, not YAML or JSON, or
    not an OpenAPI 3 document. The message names the source and says why."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


@dataclass(frozen=True)
class Located:
    """A part of the document and where it sits: `components.schemas.Charge.properties.id`."""

    value: Any = field(repr=False)
    location: str

    def at(self, *keys: str | int) -> Located:
        """The part under `keys` (None when absent), its location extended."""
        value = self.value
        for key in keys:
            if isinstance(value, dict):
                value = value[key] if key in value else value.get(_other_spelling(key))
            elif isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
                value = value[key]
            else:
                value = None
        return Located(value, ".".join([self.location, *(str(key) for key in keys)]))


def _other_spelling(key: str | int) -> str | int:
    """YAML reads an unquoted `200:` as a number: a status is looked up both ways."""
    if isinstance(key, int):
        return str(key)
    return int(key) if key.isdigit() else key


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
        hops = 0
        while isinstance(part.value, dict) and isinstance(part.value.get("$ref"), str):
            if hops >= MAX_REF_HOPS:
                return Located({}, part.location)
            part = self.target(part.value["$ref"]) or Located({}, part.location)
            hops += 1
        return part

    def target(self, reference: str) -> Located | None:
        """What a local reference (`#/components/schemas/Charge`) names, or None."""
        if not reference.startswith("#"):
            return None  # another file or a URL: not followed
        steps = [
            unquote(step).replace("~1", "/").replace("~0", "~")
            for step in reference[1:].split("/")[1:]
        ]
        node: Any = self.document
        where: list[str] = []
        index = 0
        while index < len(steps):
            if isinstance(node, list):
                if not steps[index].isdigit() or int(steps[index]) >= len(node):
                    return None
                node, index = node[int(steps[index])], index + 1
                where.append(steps[index - 1])
                continue
            if not isinstance(node, dict):
                return None
            # Some generators leave `/` unescaped in names (Candid's
            # `type_pre-encounter/organizationExternalProviders/v1:Page`): take the shortest
            # run of steps that is a key.
            for end in range(index + 1, len(steps) + 1):
                key = "/".join(steps[index:end])
                if key in node:
                    node, index = node[key], end
                    where.append(key)
                    break
            else:
                return None
        return Located(node, ".".join(where))

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
