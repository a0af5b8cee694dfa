"""The served APIs as `conformance` sees them: spec, security schemes, operations, links."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from billing_sandbox.apis import VENDOR_APIS

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Methods that change nothing on the server, the only ones sent off loopback by default.
READ_ONLY_METHODS = frozenset({"GET"})


@dataclass(frozen=True)
class Api:
    """One vendor API as its descriptor states it (its business-rule answers are in
    answers.py, its security schemes in its spec)."""

    name: str
    title: str
    spec_file: str


# Built from the served APIs' own descriptors: a vendor fact is stated once.
APIS: dict[str, Api] = {api.name: Api(api.name, api.title, api.spec_file) for api in VENDOR_APIS}


def security_schemes(spec: Path) -> dict[str, str]:
    """The spec's security schemes, by name, each with its type (`http` or `apiKey`)."""
    document: dict[str, Any] = yaml.safe_load(spec.read_text(encoding="utf-8"))
    schemes = (document.get("components") or {}).get("securitySchemes") or {}
    return {name: str(scheme.get("type")) for name, scheme in schemes.items()}


@dataclass(frozen=True)
class Operation:
    """One operation of a spec: what the report names it by and what it may link to."""

    operation_id: str
    method: str
    path: str
    links_to: frozenset[str]

    @property
    def label(self) -> str:
        """The name schemathesis gives the operation in its events: `GET /path`."""
        return f"{self.method} {self.path}"


def load_operations(spec: Path) -> list[Operation]:
    """Every operation of the spec, in file order."""
    document: dict[str, Any] = yaml.safe_load(spec.read_text(encoding="utf-8"))
    found = []
    for path, item in (document.get("paths") or {}).items():
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            targets = {
                link["operationId"]
                for response in (operation.get("responses") or {}).values()
                for link in (response.get("links") or {}).values()
                if "operationId" in link
            }
            found.append(
                Operation(operation["operationId"], method.upper(), path, frozenset(targets))
            )
    return found


def has_links(operations: Iterable[Operation]) -> bool:
    """Whether any selected operation links to another selected one (stateful needs one)."""
    selected = list(operations)
    ids = {operation.operation_id for operation in selected}
    return any(operation.links_to & ids for operation in selected)
