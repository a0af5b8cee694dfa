"""A value (a body, a parameter) fitted to the schema at its place in an OpenAPI document,
walking `$ref`s, `allOf`/`oneOf`/`anyOf`, `if`, objects and arrays by hand rather than with a
validator, so each problem names the place in the spec that refuses the value (the `enum`,
the `properties` a field is missing from), which is what a person fixing the drift needs."""

from __future__ import annotations

import re
from collections import deque
from typing import Any

from billing_sandbox.contracts.openapi import Located, OpenApiDocument
from billing_sandbox.contracts.schemakeywords import (
    local_keywords,
    local_validator,
    pattern_matches,
)
from billing_sandbox.contracts.schemavalues import (
    is_of_type,
    joined_or,
    json_type,
    same_json,
    show_option,
    show_value,
    with_article,
)

# How deep into a body the check goes, and how many schema steps one value may cost (a step
# fits one value to the schemas at its place; `oneOf` branches tried count too).
MAX_DEPTH = 48
MAX_STEPS = 100_000
# How many `oneOf`/`anyOf`/`not`/`if` trials may nest at one place of a value: a schema whose
# branch refers back to itself would otherwise try forever.
MAX_TRIAL_NESTING = 16

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_$-]+$")

Problem = tuple[str, str]  # (location in the spec, reason)


class SchemaFit:
    """Fits one value (a body, a parameter) to the schema at its place in the spec, and says
    where and why it does not fit.

    `sending`: the consumer sends the value (a request), so `required` fields must be there
    and a field fits when the schema declares it or explicitly lets extra fields in. Else the
    consumer expects it (a response): a pact's response body lists only what the consumer
    reads, so `required` is not asked, but every field it reads must be declared: a field the
    spec dropped breaks the consumer even where `additionalProperties` lets it through.
    """

    def __init__(self, spec: OpenApiDocument, *, sending: bool, subject: str) -> None:
        self.spec = spec
        self.sending = sending
        self.subject = subject
        self._steps = 0
        self._stopped = False

    def check(self, value: Any, schema: Located) -> list[Problem]:
        problems = self._fit(value, [schema], "$", 0, False, 0)
        if self._stopped:
            problems.append(
                (
                    schema.location,
                    f"{self.subject} is too large or too deep to check in full: the check "
                    f"stopped at depth {MAX_DEPTH} or after {MAX_STEPS} steps",
                )
            )
        return list(dict.fromkeys(problems))

    def _where(self, path: str) -> str:
        if self.subject.endswith("body"):
            return f"{self.subject} {path}"
        return f"{self.subject}{path[1:]}"

    def _fit(
        self, value: Any, nodes: list[Located], path: str, depth: int, trial: bool, nesting: int
    ) -> list[Problem]:
        """The problems of `value` (at `path`) against every schema in `nodes` (all must
        hold). `trial`: only whether it validates (a `oneOf` branch tried), so fields the
        schema does not list count only where `additionalProperties` is false."""
        if depth > MAX_DEPTH or self._steps >= MAX_STEPS:
            self._stopped = True
            return []
        self._steps += 1
        problems: list[Problem] = []
        atoms: list[Located] = []
        pending = deque(nodes)
        seen: set[int] = set()
        null_allowed = False
        while pending:
            node = pending.popleft()
            schema = node.value
            if schema is False:
                problems.append((node.location, f"{self._where(path)}: the spec allows no value"))
                continue
            if not isinstance(schema, dict) or id(schema) in seen:
                continue
            seen.add(id(schema))
            # OpenAPI 3.0: `nullable: true` adds null to what the schema (and whatever it
            # combines) takes.
            null_allowed = null_allowed or (value is None and schema.get("nullable") is True)
            if isinstance(schema.get("$ref"), str):
                pending.append(self.spec.resolve(node))
                siblings = {key: v for key, v in schema.items() if key != "$ref"}
                if siblings:  # 3.1: keywords beside a reference apply too
                    pending.append(Located(siblings, node.location))
                continue
            all_of = schema.get("allOf")
            pending.extend(node.at("allOf", i) for i in range(_length(all_of)))
            for keyword in ("anyOf", "oneOf"):
                if _length(schema.get(keyword)):
                    chosen, found = self._choose(value, node, keyword, path, depth, nesting)
                    pending.extend(chosen)
                    problems += found
            if "if" in schema and nesting < MAX_TRIAL_NESTING:
                holds = not self._fit(value, [node.at("if")], path, depth, True, nesting + 1)
                branch = "then" if holds else "else"
                if branch in schema:
                    pending.append(node.at(branch))
            atoms.append(node)
        if null_allowed:
            return []
        for atom in atoms:
            problems += self._local(value, atom, path, depth, nesting)
        if isinstance(value, dict):
            problems += self._object(value, atoms, path, depth, trial, nesting)
        elif isinstance(value, list):
            problems += self._array(value, atoms, path, depth, trial, nesting)
        return problems

    def _choose(
        self, value: Any, node: Located, keyword: str, path: str, depth: int, nesting: int
    ) -> tuple[list[Located], list[Problem]]:
        """The branches of a `oneOf`/`anyOf` the value is held to: those it fits (both are
        taken alike: a consumer is not broken by branches that overlap), else the closest one,
        whose problems then explain the miss."""
        branches = [node.at(keyword, index) for index in range(_length(node.value[keyword]))]
        plausible = [branch for branch in branches if self._admits_type(branch, value)]
        if not plausible:
            kinds = sorted({kind for branch in branches for kind in self._types(branch)})
            allowed = f" ({joined_or(kinds)})" if kinds else ""
            reason = (
                f"{self._where(path)}: {show_value(value)} is none of the shapes the spec allows"
            )
            return [], [(node.at(keyword).location, reason + allowed)]
        if len(plausible) == 1 or nesting >= MAX_TRIAL_NESTING:
            return plausible[:1], []
        trials = [
            (branch, self._fit(value, [branch], path, depth, True, nesting + 1))
            for branch in plausible
        ]
        fitting = [branch for branch, found in trials if not found]
        if fitting:
            return fitting, []
        return [min(trials, key=lambda trial: len(trial[1]))[0]], []

    def _types(self, branch: Located) -> set[str]:
        """The JSON types a schema names (empty: any), null included where it is nullable."""
        schema = self.spec.resolve(branch).value
        if not isinstance(schema, dict):
            return set()
        declared = schema.get("type")
        kinds = {declared} if isinstance(declared, str) else set(map(str, declared or []))
        if kinds and schema.get("nullable") is True:
            kinds.add("null")
        return kinds

    def _admits_type(self, branch: Located, value: Any) -> bool:
        kinds = self._types(branch)
        return not kinds or is_of_type(value, kinds)

    def _local(
        self, value: Any, atom: Located, path: str, depth: int, nesting: int
    ) -> list[Problem]:
        """What one schema asks of the value itself: type, enum, const, bounds and formats,
        `not`, and (when sending) the required fields."""
        schema = atom.value
        where = self._where(path)
        kinds = self._types(atom)
        if kinds and not is_of_type(value, kinds):
            shown = f"{show_value(value)} is {with_article(json_type(value))}"
            return [
                (
                    atom.at("type").location,
                    f"{where}: {shown}, not {joined_or(map(with_article, kinds))}",
                )
            ]
        problems: list[Problem] = []
        options = schema.get("enum")
        if isinstance(options, list) and not any(same_json(value, o) for o in options):
            listed = ", ".join(show_option(o) for o in options[:12])
            more = f" … ({len(options)} in all)" if len(options) > 12 else ""
            reason = f"{where}: {show_value(value)} is not one of {listed}{more} (the enum)"
            problems.append((atom.at("enum").location, reason))
        if "const" in schema and not same_json(value, schema["const"]):
            reason = (
                f"{where}: {show_value(value)} is not {show_option(schema['const'])} (the const)"
            )
            problems.append((atom.at("const").location, reason))
        validator = local_validator(local_keywords(schema, self.sending))
        if validator is not None:
            for error in validator.iter_errors(value):
                keyword = str(error.schema_path[0]) if error.schema_path else "type"
                message = error.message if len(error.message) <= 200 else error.message[:197]
                problems.append((atom.at(keyword).location, f"{where}: {message}"))
        ruled_out = "not" in schema and nesting < MAX_TRIAL_NESTING
        if ruled_out and not self._fit(value, [atom.at("not")], path, depth, True, nesting + 1):
            reason = f"{where}: {show_value(value)} is of a shape the spec rules out (not)"
            problems.append((atom.at("not").location, reason))
        if self.sending and isinstance(value, dict):
            problems += self._missing(value, atom, path)
        return problems

    def _missing(self, value: dict[str, Any], atom: Located, path: str) -> list[Problem]:
        required = atom.value.get("required")
        missing = []
        for name in required if isinstance(required, list) else []:
            if isinstance(name, str) and name not in value:
                field = self.spec.resolve(atom.at("properties", name)).value
                if not (isinstance(field, dict) and field.get("readOnly") is True):
                    missing.append(name)  # a read-only field comes back; it is never sent
        where = self._where(path)
        location = atom.at("required").location
        return [(location, f"{where}: required field {name} is not sent") for name in missing]

    def _object(
        self,
        value: dict[str, Any],
        atoms: list[Located],
        path: str,
        depth: int,
        trial: bool,
        nesting: int,
    ) -> list[Problem]:
        problems: list[Problem] = []
        # A free-form object (no field listed anywhere) declares none: its keys are data.
        lists_fields = any(_lists_fields(atom.value) for atom in atoms)
        for key, child in value.items():
            key = str(key)
            child_path = f"{path}.{key}" if _PLAIN_KEY.match(key) else f"{path}[{show_value(key)}]"
            nodes: list[Located] = []
            declared = False
            refused_by: Located | None = None
            for atom in atoms:
                schema = atom.value
                properties = schema.get("properties")
                if isinstance(properties, dict) and key in properties:
                    nodes.append(atom.at("properties", key))
                    declared = True
                    continue
                patterns = schema.get("patternProperties")
                by_pattern = [
                    atom.at("patternProperties", pattern)
                    for pattern in (patterns if isinstance(patterns, dict) else {})
                    if pattern_matches(str(pattern), key)
                ]
                if by_pattern:
                    nodes += by_pattern
                    declared = True
                    continue
                extra = schema.get("additionalProperties")
                if extra is False:
                    refused_by = refused_by or atom
                elif isinstance(extra, dict):
                    nodes.append(atom.at("additionalProperties"))
                    # A map's value schema declares its keys; `{}` lets anything through,
                    # which a consumer reading the field cannot count on.
                    declared = declared or bool(extra) or self.sending
                elif extra is True and self.sending:
                    declared = True
            if trial:
                if refused_by is not None and not declared:
                    reason = f"{self._where(child_path)}: not a field the spec allows"
                    problems.append((refused_by.at("additionalProperties").location, reason))
            elif lists_fields and not declared:
                problems.append((_fields_location(atoms), self._undeclared(child_path)))
            if nodes:
                problems += self._fit(child, nodes, child_path, depth + 1, trial, nesting)
        return problems

    def _undeclared(self, path: str) -> str:
        if self.sending:
            return f"the spec no longer declares {path} in the {self.subject}, which is sent"
        return f"the spec no longer declares {path}, which the consumer expects"

    def _array(
        self, value: list[Any], atoms: list[Located], path: str, depth: int, trial: bool,
        nesting: int,
    ) -> list[Problem]:  # fmt: skip
        problems: list[Problem] = []
        for index, item in enumerate(value):
            nodes: list[Located] = []
            for atom in atoms:
                prefix = atom.value.get("prefixItems")
                if isinstance(prefix, list) and index < len(prefix):
                    nodes.append(atom.at("prefixItems", index))
                elif isinstance(atom.value.get("items"), dict | bool):
                    nodes.append(atom.at("items"))
            if nodes:
                problems += self._fit(item, nodes, f"{path}[*]", depth + 1, trial, nesting)
            if self._stopped:
                break
        return problems


def _length(value: Any) -> int:
    return len(value) if isinstance(value, list) else 0


def _lists_fields(schema: dict[str, Any]) -> bool:
    return (
        bool(schema.get("properties"))
        or bool(schema.get("patternProperties"))
        or schema.get("additionalProperties") is False
    )


def _fields_location(atoms: list[Located]) -> str:
    """Where a field would be declared: the first `properties` among the schemas."""
    for atom in atoms:
        if isinstance(atom.value.get("properties"), dict) and atom.value["properties"]:
            return atom.at("properties").location
    return next((a.location for a in atoms if _lists_fields(a.value)), atoms[0].location)
