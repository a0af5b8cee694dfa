"""The three APIs as `conformance` sees them: spec, operations, links, documented refusals."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Methods that change nothing on the server, the only ones sent off loopback by default.
READ_ONLY_METHODS = frozenset({"GET"})


@dataclass(frozen=True)
class Api:
    """One vendor API: its spec file, its security schemes, and its documented refusals."""

    name: str
    title: str
    spec_file: str
    # The names under `components.securitySchemes` that carry the credentials.
    schemes: tuple[str, ...]
    # Statuses a schema-valid request may still get, by operationId, beyond schemathesis'
    # defaults (2xx, 401, 403, 404, 409): the refusals the spec documents for the *state* of
    # the records named (see docs/fidelity.md and tests/conformance/*.toml).
    refusals: tuple[tuple[str, tuple[str, ...]], ...] = ()


APIS: dict[str, Api] = {
    "candid": Api(
        "candid",
        "Candid Health write-offs v1",
        "candid-write-offs.yaml",
        ("BearerAuth",),
        (
            # A page token the server did not issue.
            ("getWriteOffs", ("422",)),
            # Reverting twice, reverting a reversal, or on the wrong path.
            ("revertWriteOff", ("422",)),
            ("revertEraOriginatedInsuranceBalanceAdjustment", ("422",)),
        ),
    ),
    "decoda": Api(
        "decoda",
        "Decoda Health billing",
        "decoda-billing.yaml",
        ("Tenant", "ApiKey"),
        (
            # One of two optional ids is needed (a spec cannot say "one of two").
            ("getChargeTimeline", ("400",)),
            # Statuses that disagree with the numbers, amounts beyond what is owed, ...
            ("createChargeV1", ("422",)),
            ("createCharge", ("422",)),
            ("adjustChargeV1", ("422",)),
            ("createAdjustment", ("422",)),
            ("createCashSettledPayment", ("422",)),
            ("createWriteOff", ("422",)),
            ("refundPayment", ("422",)),
            ("createPaymentPlanWithCharges", ("422",)),
            ("cancelPaymentPlan", ("422",)),
            ("archiveCharge", ("422",)),
        ),
    ),
    "mycure": Api(
        "mycure",
        "MYCURE billing statements of account",
        "mycure-billing-soas.yaml",
        ("BearerAuth",),
        (
            # A customer of another kind than `type` names.
            ("createBillingSoa", ("400",)),
            # A finalized statement takes no change; only finalized ones can be deleted.
            ("patchBillingSoa", ("400",)),
            ("removeBillingSoa", ("400",)),
        ),
    ),
}


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
