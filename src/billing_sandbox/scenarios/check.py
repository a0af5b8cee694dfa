"""check_scenario: every step against its spec, offline: the operation its METHOD and path reach,
and its path parameters, query and body against that operation's compiled checks. A value known
only when the scenario runs (an earlier answer's field) is left out of the check, alone."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from billing_sandbox.errors import Issue, PathItem
from billing_sandbox.scenarios import fakes, model
from billing_sandbox.scenarios.durations import parse_duration
from billing_sandbox.scenarios.model import CONTROL, Scenario
from billing_sandbox.scenarios.operations import Reached, closest, reach
from billing_sandbox.scenarios.problems import Problem, at
from billing_sandbox.scenarios.templates import (
    UNKNOWN,
    Node,
    PathTemplate,
    Reference,
    instant_problem,
)
from billing_sandbox.scenarios.vendors import spec_for
from billing_sandbox.spec.body import decode_json
from billing_sandbox.spec.document import JSON, Operation, Spec
from billing_sandbox.spec.params import coerce

# Control operations a scenario may not call: they reach past its tenant (every tenant, the
# journal, the server's fault rules, the state file), so undoing the scenario could not undo
# them; or they never end (a stream), or apply a scenario inside a scenario.
REFUSED_CONTROL = {
    "resetAll": "resets every tenant",
    "putState": "replaces every tenant",
    "saveState": "writes the server's state file",
    "clearRequests": "clears the whole journal",
    "clearFaults": "removes every fault rule, other tenants' too",
    "deleteFault": "removes a fault rule, which may be another's",
    "streamRequests": "never ends",
    "applyScenario": "applies a scenario within a scenario",
}
# What the check renders templates with, where it can: any instant, any tenant.
CHECK_NOW = datetime(2026, 1, 1, tzinfo=UTC)
CHECK_TENANT = "scenario-check.test"


def check_scenario(scenario: Scenario, specs: Mapping[str, Spec]) -> list[Problem]:
    """What is wrong with `scenario` against the specs (keyed by API name, `sandbox` for the
    control API, or by spec name): a path no operation serves, a control call a scenario may
    not make, a path parameter, query parameter or body its operation's schemas refuse. Empty
    when every step can be sent as written."""
    checker = _Checker(scenario, specs)
    for step in model.walk(scenario.steps):
        checker.step(step)
    return checker.problems


class _Stand:
    """Templates' values as a check sees them: the loop's first round, a fixed instant, real
    seeded draws, and answers unknown."""

    tenant = CHECK_TENANT

    def __init__(self, scenario: Scenario) -> None:
        self._scenario = scenario
        self._faker: Any = None

    def loop(self, name: str) -> int:
        return 0

    def reference(self, ref: Reference) -> Any:
        return UNKNOWN

    def now(self) -> datetime:
        return CHECK_NOW

    def fake(self, provider: str) -> Any:
        if self._faker is None:
            self._faker = fakes.seeded(f"{self._scenario.seed}:check:{self._scenario.name}")
        return fakes.draw(self._faker, provider)


class _Checker:
    def __init__(self, scenario: Scenario, specs: Mapping[str, Spec]) -> None:
        self.specs = specs
        self.stand = _Stand(scenario)
        self.problems: list[Problem] = []

    def step(self, step: model.Call | model.Control | model.Clock) -> None:
        if isinstance(step, model.Clock):
            self._clock(step)
            return
        api = step.api if isinstance(step, model.Call) else CONTROL
        field = "call" if isinstance(step, model.Call) else "control"
        spec = spec_for(self.specs, api)
        if spec is None:
            self._problem(f"{step.location}.{field}", f"this sandbox serves no {api} API")
            return
        request = step.request
        reached = reach(spec, request.method, request.path)
        if reached is None:
            self._unreached(step.location, field, api, spec, request)
            return
        if isinstance(step, model.Control):
            self._control(step, reached)
        self._path(step.location, field, request.path, reached)
        self._query(step.location, reached.operation, request.query)
        self._body(step.location, reached.operation, request.body)

    def _unreached(
        self, location: str, field: str, api: str, spec: Spec, request: model.Request
    ) -> None:
        near = closest(spec, request.method, request.path)
        hint = f" (the closest: {', '.join(near)})" if near else ""
        what = "the control API" if api == CONTROL else f"the {api} API"
        self._problem(
            f"{location}.{field}",
            f"no operation of {what} serves {request.method} {request.path.written}{hint}",
        )

    def _control(self, step: model.Control, reached: Reached) -> None:
        operation_id = reached.operation.operation_id
        if operation_id in REFUSED_CONTROL:
            self._problem(
                f"{step.location}.control",
                f"a scenario cannot call {operation_id}: it {REFUSED_CONTROL[operation_id]}, "
                "which undoing the scenario could not undo",
            )
        named = reached.literal.get("tenant")
        if named is not None:
            self._problem(
                f"{step.location}.control",
                f"names the tenant {named!r}: a scenario changes only the tenant it is applied "
                "to (write the path from after /_sandbox/tenants/{tenant}, or ${tenant})",
            )

    def _clock(self, step: model.Clock) -> None:
        if step.value is None:
            return
        value = step.value.render(self.stand)
        where = f"{step.location}.clock.{step.action}"
        if value is UNKNOWN:
            return
        if step.action == "advance":
            if isinstance(value, int) and not isinstance(value, bool):
                return
            try:
                parse_duration(str(value))
            except ValueError as error:
                self._problem(where, str(error))
        elif not isinstance(value, str) or instant_problem(value):
            self._problem(where, instant_problem(str(value)))

    def _path(self, location: str, field: str, path: PathTemplate, reached: Reached) -> None:
        operation = reached.operation
        check = operation.parameter_checks.get("path")
        if check is None:
            return
        texts, unknown = reached.parameters(path, self.stand)
        schemas = {p.name: p.schema for p in operation.by_location.get("path", ())}
        values = {name: coerce(text, schemas.get(name, {})) for name, text in texts.items()}
        values.update(dict.fromkeys(unknown, ""))
        for issue in check.issues(values, "path"):
            if issue.path[:1] and issue.path[0] in unknown:
                continue  # a value known only at run time
            name = at("", *issue.path)
            self._problem(f"{location}.{field}", f"the path parameter {name} {issue.message}")

    def _query(self, location: str, operation: Operation, query: Node | None) -> None:
        check = operation.parameter_checks.get("query")
        if check is None:
            return
        declared = operation.query_by_name
        values = dict(operation.query_defaults)
        unknown: list[tuple[PathItem, ...]] = []
        given = {} if query is None else query.render(self.stand)
        for name, value in given.items():
            param = declared.get(name)
            if param is None:
                continue  # not declared: the server ignores it, as real servers do
            if value is UNKNOWN or (isinstance(value, list) and UNKNOWN in value):
                unknown.append((name,))
                values[name] = None
            elif param.is_array:
                items = value if isinstance(value, list) else [value]
                schema = param.schema.get("items", {})
                values[name] = [coerce(as_sent(item), schema) for item in items]
            else:
                last = value[-1] if isinstance(value, list) and value else value
                values[name] = coerce(as_sent(last), param.schema)
        self._issues(f"{location}.query", check.issues(values, "query"), unknown)

    def _body(self, location: str, operation: Operation, body: Node | None) -> None:
        if body is None:
            if operation.body_required:
                self._problem(f"{location}.body", "is required: the operation takes a request body")
            return
        if not operation.body_checks:
            self._problem(f"{location}.body", "is not taken: the operation has no request body")
            return
        if JSON not in operation.body_checks:
            media = ", ".join(operation.body_checks)
            self._problem(f"{location}.body", f"is JSON, and the operation takes {media} only")
            return
        unknown: list[tuple[PathItem, ...]] = []
        known = _knowns(body.render(self.stand), (), unknown)
        # As the server reads it: a whole float (`5000.0`) is an integer.
        sent = decode_json(orjson.dumps(known))
        self._issues(f"{location}.body", operation.body_checks[JSON].issues(sent, "body"), unknown)

    def _issues(
        self, location: str, issues: list[Issue], unknown: list[tuple[PathItem, ...]]
    ) -> None:
        for issue in issues:
            if any(issue.path[: len(path)] == path for path in unknown):
                continue  # about a value known only at run time
            self._problem(at(location, *issue.path), issue.message)

    def _problem(self, location: str, message: str) -> None:
        self.problems.append(Problem(location, message))


def _knowns(value: Any, path: tuple[PathItem, ...], unknown: list[tuple[PathItem, ...]]) -> Any:
    """`value` with each UNKNOWN made null, and where each was noted."""
    if value is UNKNOWN:
        unknown.append(path)
        return None
    if isinstance(value, dict):
        return {key: _knowns(item, (*path, key), unknown) for key, item in value.items()}
    if isinstance(value, list):
        return [_knowns(item, (*path, index), unknown) for index, item in enumerate(value)]
    return value


def as_sent(value: Any) -> str:
    """A query value as it travels: text (`true`, not `True`; numbers as JSON writes them)."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()
