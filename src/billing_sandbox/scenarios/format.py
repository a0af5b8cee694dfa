"""load_scenario: a file's format, its schema, its names and references, its templates and its
size, every problem found with its place, before anything runs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from billing_sandbox.scenarios import model, schema
from billing_sandbox.scenarios.check import check_scenario
from billing_sandbox.scenarios.durations import MAX_SECONDS, parse_duration
from billing_sandbox.scenarios.model import Scenario, Step
from billing_sandbox.scenarios.parsing import (
    Errors,
    Scope,
    TemplateError,
    compile_path,
    compile_string,
    compile_value,
)
from billing_sandbox.scenarios.problems import Problem, at, refused
from billing_sandbox.scenarios.reading import read
from billing_sandbox.scenarios.templates import Node, Static, instant_problem
from billing_sandbox.spec.document import Spec

# The most requests one scenario may send, repeats unrolled.
MAX_REQUESTS = 100_000
DEFAULT_LOOP_VARIABLE = "i"


def load_scenario(
    source: str | bytes | Path | Mapping[str, Any], specs: Mapping[str, Spec] | None = None
) -> Scenario:
    """The scenario `source` holds (a file's Path, its text as str or bytes, or its data),
    checked against its format: the schema, step names (unique, not reserved), references
    (to earlier named steps only), templates, and its size. Raises ScenarioInvalid listing
    every problem, each with its location (`steps[2].steps[0].body.patientId`); OSError
    when a Path cannot be read. The vendors' specs are `check_scenario`'s to apply; given
    `specs`, it applies them too, so that a file's every problem is listed at once."""
    document = read(source)
    problems = schema.top_problems(document)
    steps = document.get("steps")
    if isinstance(steps, list):
        problems += _shape_problems(steps, "steps")
    refused(problems)
    builder = _Builder(document)
    scenario = builder.scenario()
    problems = builder.problems
    if specs is not None:
        # Not again where the file is wrong already (a template that could not be read).
        placed = [problem.location for problem in problems]
        problems += [
            problem
            for problem in check_scenario(scenario, specs)
            if not any(_within(problem.location, location) for location in placed)
        ]
    refused(sorted(problems, key=lambda problem: _place(problem.location)))
    return scenario


def _within(location: str, outer: str) -> bool:
    return location == outer or location.startswith((outer + ".", outer + "["))


def _place(location: str) -> list[tuple[int, int | str]]:
    """A location as a key that sorts it in the file's order (`steps[10]` after `steps[9]`)."""
    return [
        (0, int(index)) if index else (1, name)
        for index, name in re.findall(r"\[(-?\d+)\]|([^.\[\]]+)", location)
    ]


def _shape_problems(steps: list[Any], location: str) -> list[Problem]:
    """Each step's kind and fields, against the schema, a repeat's steps too."""
    problems: list[Problem] = []
    for index, step in enumerate(steps):
        where = f"{location}[{index}]"
        kind, wrong = schema.step_kind(step, where)
        problems += wrong
        if kind is None:
            continue
        problems += schema.step_problems(step, kind, where)
        inner = step.get("steps")
        if kind == "repeat" and isinstance(inner, list):
            problems += _shape_problems(inner, f"{where}.steps")
    return problems


class _Builder:
    """Builds the model of a document whose shape the schema has passed, noting problems."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.problems: list[Problem] = []
        self.apis: tuple[str, ...] = tuple(document["apis"])
        # Every named step of the file and where it is (the first, for a name used twice).
        self.names: dict[str, str] = {}
        self._collect_names(document["steps"], "steps", ())
        # The named steps passed so far, in order (what a template may refer to).
        self.earlier: dict[str, str] = {}

    def scenario(self) -> Scenario:
        steps = self._steps(self.document["steps"], "steps", ())
        size = model.expanded(steps)
        if size > MAX_REQUESTS:
            self._too_many(steps, size)
        return Scenario(
            name=self.document["name"],
            description=self.document.get("description", ""),
            apis=self.apis,
            seed=self.document.get("seed", 0),
            steps=steps,
            document=self.document,
            size=size,
        )

    # ---- names ----

    def _collect_names(self, steps: list[Any], location: str, loop_vars: tuple[str, ...]) -> None:
        for index, step in enumerate(steps):
            where = f"{location}[{index}]"
            if "repeat" in step:
                var = step.get("as", DEFAULT_LOOP_VARIABLE)
                if var in loop_vars:
                    self._problem(
                        f"{where}.as",
                        f"{var!r} is already the loop variable of a repeat around this one: "
                        "name this one's with as:",
                    )
                self._collect_names(step["steps"], f"{where}.steps", (*loop_vars, var))
                continue
            name = step.get("name")
            if name is None:
                continue
            if name in self.names:
                self._problem(f"{where}.name", f"the name {name!r} is taken by {self.names[name]}")
            else:
                self.names[name] = where

    # ---- steps ----

    def _steps(
        self, steps: list[Any], location: str, loop_vars: tuple[str, ...]
    ) -> tuple[Step, ...]:
        built: list[Step] = []
        for index, raw in enumerate(steps):
            where = f"{location}[{index}]"
            name = raw.get("name")
            if name is not None and name in loop_vars:
                self._problem(
                    f"{where}.name", f"{name!r} is also the loop variable of a repeat around it"
                )
            scope = Scope(loop_vars, dict(self.earlier), self.names, name)
            if "repeat" in raw:
                built.append(self._repeat(raw, where, loop_vars))
            elif "call" in raw:
                built.append(self._call(raw, where, scope))
            elif "control" in raw:
                built.append(self._control(raw, where, scope))
            else:
                built.append(self._clock(raw, where, scope))
            if name is not None and self.names.get(name) == where:
                self.earlier[name] = where
        return tuple(built)

    def _repeat(
        self, raw: Mapping[str, Any], where: str, loop_vars: tuple[str, ...]
    ) -> model.Repeat:
        var = raw.get("as", DEFAULT_LOOP_VARIABLE)
        if var in self.names:
            self._problem(
                f"{where}.as",
                f"the loop variable {var!r} is also a step's name ({self.names[var]})",
            )
        steps = self._steps(raw["steps"], f"{where}.steps", (*loop_vars, var))
        return model.Repeat(where, raw["repeat"], var, steps)

    def _call(self, raw: Mapping[str, Any], where: str, scope: Scope) -> model.Call:
        api = raw.get("api")
        if api is None and len(self.apis) == 1:
            api = self.apis[0]
        elif api is None:
            self._problem(
                f"{where}.api",
                f"is required: the scenario calls more than one API ({', '.join(self.apis)})",
            )
            api = self.apis[0]
        elif api not in self.apis:
            self._problem(
                f"{where}.api",
                f"{api!r} is not one of the scenario's apis ({', '.join(self.apis)})",
            )
        method, path = raw["call"].split(" ", 1)
        return model.Call.of(
            where, raw.get("name"), api, self._request(raw, where, "call", method, path, scope)
        )

    def _control(self, raw: Mapping[str, Any], where: str, scope: Scope) -> model.Control:
        method, path = raw["control"].split(" ", 1)
        if not (path == model.CONTROL_PREFIX or path.startswith(model.CONTROL_PREFIX + "/")):
            path = model.TENANT_PREFIX + path
        return model.Control.of(
            where, raw.get("name"), self._request(raw, where, "control", method, path, scope)
        )

    def _request(
        self, raw: Mapping[str, Any], where: str, field: str, method: str, path: str, scope: Scope
    ) -> model.Request:
        try:
            compiled = compile_path(path, scope)
        except TemplateError as error:
            self._problem(f"{where}.{field}", str(error))
            compiled = compile_path("/", Scope())
        return model.Request(
            method,
            compiled,
            self._value(raw, where, "query", scope),
            self._value(raw, where, "body", scope),
        )

    def _value(self, raw: Mapping[str, Any], where: str, field: str, scope: Scope) -> Node | None:
        if field not in raw:
            return None
        errors: Errors = []
        node = compile_value(raw[field], scope, errors)
        self._errors(f"{where}.{field}", errors)
        return node

    def _clock(self, raw: Mapping[str, Any], where: str, scope: Scope) -> model.Clock:
        (action, given), *_ = raw["clock"].items()
        location = f"{where}.clock.{action}"
        if action == "resume":
            return model.Clock.of(where, raw.get("name"), action, None)
        if isinstance(given, int):
            if given > MAX_SECONDS:
                self._problem(location, f"is more than a century ({MAX_SECONDS} seconds)")
            return model.Clock.of(where, raw.get("name"), action, Static(given))
        try:
            node = compile_string(given, scope)
        except TemplateError as error:
            self._problem(location, str(error))
            return model.Clock.of(where, raw.get("name"), action, None)
        if isinstance(node, Static):
            node = self._clock_value(action, str(node.value), location)
        return model.Clock.of(where, raw.get("name"), action, node)

    def _clock_value(self, action: str, text: str, location: str) -> Static:
        """A clock step's value written without templates, read now (not at each run)."""
        if action == "advance":
            try:
                return Static(parse_duration(text))
            except ValueError as error:
                self._problem(location, str(error))
                return Static(0)
        if not instant_problem(text):
            return Static(text)
        self._problem(location, instant_problem(text))
        return Static(text)

    # ---- problems ----

    def _too_many(self, steps: tuple[Step, ...], size: int) -> None:
        largest = max(
            (step for step in steps if isinstance(step, model.Repeat)),
            key=lambda step: step.count * model.expanded(step.steps),
        )
        sends = largest.count * model.expanded(largest.steps)
        self._problem(
            f"{largest.location}.repeat",
            f"the scenario sends {size} requests with its repeats unrolled; "
            f"at most {MAX_REQUESTS} (this repeat sends {sends})",
        )

    def _errors(self, location: str, errors: Errors) -> None:
        for path, message in errors:
            self._problem(at(location, *path), message)

    def _problem(self, location: str, message: str) -> None:
        self.problems.append(Problem(location, message))
