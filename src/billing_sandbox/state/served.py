"""Every imported record served as its API would serve it, and checked against the spec."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import orjson

from billing_sandbox.errors import ApiError
from billing_sandbox.spec.document import Spec
from billing_sandbox.spec.validation import SchemaCheck
from billing_sandbox.state.problems import InvalidSnapshot, invalid, within
from billing_sandbox.tenants.tenant import Rendering

# What rendering a record that does not fit together raises (a record it names is missing, a
# value of a type the renderer cannot take, a lookup that answers 404): the snapshot's fault.
_RENDER_FAILURES = (
    KeyError, IndexError, TypeError, ValueError, AttributeError, ArithmeticError, ApiError,
)  # fmt: skip


def check_served(api_name: str, renderings: Sequence[Rendering], spec: Spec | None) -> None:
    """Raise `InvalidSnapshot` for the first record that cannot be served as its API serves
    it: rendering fails, the answer cannot be written as JSON, or it breaks the spec (types,
    formats, enums and the bounds the spec puts on numbers). What passes here cannot make a
    later read answer 500: those reads serve exactly these renderings."""
    for rendering in renderings:
        check = None if spec is None else _check(spec, rendering.schema)
        table = f"apis.{api_name}.{rendering.table}"
        for index, record in enumerate(rendering.records):
            path = f"{table}[{index}]"
            try:
                _check_one(record, rendering, check, path)
            except InvalidSnapshot as error:
                raise within(error, path, rendering.record_id(record)) from None


def _check_one(record: Any, rendering: Rendering, check: SchemaCheck | None, path: str) -> None:
    at = path if rendering.field is None else f"{path}.{rendering.field}"
    served = f"as {rendering.schema.rpartition('/')[2]} serves it"
    try:
        answer = rendering.answer(record)
    except _RENDER_FAILURES as error:
        problem = f"does not render {served} ({type(error).__name__}: {error})"
        raise invalid(at, problem) from None
    try:
        orjson.dumps(answer)
    except orjson.JSONEncodeError as error:
        raise invalid(at, f"{served}, holds what JSON cannot carry ({error})") from None
    if check is None or check.is_valid(answer):
        return
    issues = check.issues(answer, "body")
    if not issues:
        raise invalid(at, f"breaks the spec {served}")
    first = issues[0]
    field = f", field {first.field}" if first.path else ""
    raise invalid(at, f"breaks the spec {served}{field}: {first.message}")


@lru_cache(maxsize=128)
def _check(spec: Spec, schema: str) -> SchemaCheck:
    """The compiled check of an operation's success answer, or of a schema the spec names;
    compiled once per spec (a spec is never changed after loading)."""
    if schema.startswith("#/"):
        return SchemaCheck({"$ref": schema}, spec.document.get("components", {}))
    for operation in spec.operations:
        if operation.operation_id == schema:
            found = operation.response_checks.get(operation.success_status)
            if found is None:
                break
            return found
    raise KeyError(f"{spec.name} has no JSON answer for {schema!r}")  # a sandbox bug
