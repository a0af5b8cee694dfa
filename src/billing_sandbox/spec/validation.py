"""Compiled JSON Schema checks that explain failures as field-level issues a person can act on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonschema_rs

from billing_sandbox.errors import Issue, PathItem


class SchemaCheck:
    """One schema compiled once with jsonschema-rs (Draft 2020-12, formats checked)."""

    def __init__(self, schema: Mapping[str, Any], components: Mapping[str, Any]) -> None:
        # `$ref: '#/components/...'` inside the schema resolves against this root document,
        # which holds only the components the schema reaches: a validator keeps its own copy
        # of its root, and with every component in each of a server's 800 validators, they
        # held 390 MB (a process's resident set at start was 490 MB).
        root = {**schema, "components": reachable(schema, components)}
        self._root = root
        self._validator = jsonschema_rs.validator_for(root, validate_formats=True)

    def is_valid(self, instance: Any) -> bool:
        return bool(self._validator.is_valid(instance))

    def issues(self, instance: Any, location: str) -> list[Issue]:
        """Every problem with `instance`, each with its path from `location`."""
        # Most instances are valid: the yes-or-no check costs half of an empty error walk.
        if self._validator.is_valid(instance):
            return []
        found: list[Issue] = []
        for error in self._validator.iter_errors(instance):
            found.extend(_explain(error, location, self._root))
        return list(dict.fromkeys(found))


_COMPONENTS = "#/components/"


def reachable(schema: Mapping[str, Any], components: Mapping[str, Any]) -> dict[str, Any]:
    """The components `schema` refers to (`$ref: '#/components/<section>/<name>…'`), directly
    or through each other, each whole, by section; a reference to one that does not exist is
    left for the validator to refuse, as it would refuse it among all of them."""
    reached: dict[str, dict[str, Any]] = {}
    pending: list[Any] = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(_COMPONENTS):
                section, _, rest = ref[len(_COMPONENTS) :].partition("/")
                # A JSON pointer's escapes (`~1` is `/`, `~0` is `~`), in that order.
                name = rest.split("/", 1)[0].replace("~1", "/").replace("~0", "~")
                found = components.get(section, {})
                if name in found and name not in reached.setdefault(section, {}):
                    reached[section][name] = found[name]
                    pending.append(found[name])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return reached


# jsonschema-rs error kinds → the `type` pydantic reports for the same mistake.
_KINDS = {
    "Enum": "enum",
    "Constant": "literal_error",
    "Minimum": "greater_than_equal",
    "ExclusiveMinimum": "greater_than",
    "Maximum": "less_than_equal",
    "ExclusiveMaximum": "less_than",
    "MinLength": "string_too_short",
    "MaxLength": "string_too_long",
    "MinItems": "too_short",
    "MaxItems": "too_long",
    "Pattern": "string_pattern_mismatch",
}
_TYPE_KINDS = {
    "integer": "int_type",
    "number": "float_type",
    "string": "string_type",
    "boolean": "bool_type",
    "array": "list_type",
    "object": "dict_type",
}


def _kind(error: Any) -> str:
    name = type(error.kind).__name__
    if name == "Type":
        types = error.kind.as_dict().get("types") or [""]
        return _TYPE_KINDS.get(str(types[0]).lower(), "type_error")
    return _KINDS.get(name, "value_error")


# Beside a `pattern`, what the pattern asks for in words: a mismatch says it instead of
# quoting the pattern (which a person would have to read as a regular expression).
PATTERN_HINT = "x-sandbox-pattern-hint"


def _explain(error: Any, location: str, root: Mapping[str, Any]) -> list[Issue]:
    path = tuple(error.instance_path)
    kind = error.kind
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
        return [Issue(location, (*path, kind.property), "Field required", "missing")]
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties):
        # One issue per field, each naming it, as pydantic's `extra="forbid"` reports them.
        message = "is not a field this operation accepts"
        return [
            Issue(location, (*path, name), message, "extra_forbidden") for name in kind.unexpected
        ]
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.OneOfNotValid):
        return _explain_one_of(path, kind.context, location, root)
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Pattern):
        hint = _pattern_hint(root, tuple(error.schema_path)[:-1])
        if hint is not None:
            return [Issue(location, path, hint, _kind(error))]
    return [Issue(location, path, _plain(error.message), _kind(error))]


def _pattern_hint(root: Mapping[str, Any], where: tuple[PathItem, ...]) -> str | None:
    """The hint the schema at `where` (a path in the root, references already followed)
    gives for its pattern, if any."""
    hint = _node(root, where).get(PATTERN_HINT)
    return hint if isinstance(hint, str) else None


def _explain_one_of(
    path: tuple[PathItem, ...], branches: Any, location: str, root: Mapping[str, Any]
) -> list[Issue]:
    """A failed discriminated union: report the branch the discriminator chose, or the choices.

    Our specs pin each branch's discriminator with `const`, so the chosen branch is the one
    without a `const` failure directly under the union's own instance (of several, the one
    with the fewest failures). A branch with no discriminator of its own can bar the others'
    with a `false` schema.
    """
    keyed = _explain_keyed(path, branches, location, root)
    if keyed:
        return keyed
    depth = len(path) + 1
    discriminator: PathItem = "type"
    expected: list[str] = []
    chosen: list[Any] | None = None
    for branch in branches:
        pins = [
            e
            for e in branch
            if isinstance(e.kind, jsonschema_rs.ValidationErrorKind.Constant)
            and len(e.instance_path) == depth
        ]
        # A branch that forbids the discriminator (`strategy: false`) is ruled out by it too.
        barred = [
            e
            for e in branch
            if isinstance(e.kind, jsonschema_rs.ValidationErrorKind.FalseSchema)
            and len(e.instance_path) == depth
        ]
        if pins:
            expected.extend(str(e.kind.expected_value) for e in pins)
            discriminator = pins[0].instance_path[-1]
        elif barred:
            continue
        elif chosen is None or len(branch) < len(chosen):
            # Of the branches still in the running, the closest match explains best.
            chosen = list(branch)
    if chosen is not None:
        return [issue for e in chosen for issue in _explain(e, location, root)]
    if expected:
        choices = ", ".join(repr(value) for value in expected)
        message = f"must be one of {choices}"
        return [Issue(location, (*path, discriminator), message, "union_tag_invalid")]
    return [Issue(location, path, "does not match any of the allowed shapes", "union_tag_invalid")]


def _explain_keyed(
    path: tuple[PathItem, ...], branches: Any, location: str, root: Mapping[str, Any]
) -> list[Issue]:
    """A union whose branches each require a field of their own (`{freezeAt}`, or
    `{advanceSeconds}`, or `{resume}`), given none of them: one issue naming every choice
    (with its branch's `title`, if any), and the fields no branch accepts. Empty when the
    union is not of that kind."""
    choices: list[str] = []
    taken: set[str] = set()
    unexpected: set[str] | None = None
    kinds = (
        jsonschema_rs.ValidationErrorKind.Required,
        jsonschema_rs.ValidationErrorKind.AdditionalProperties,
    )
    for branch in branches:
        here = [e for e in branch if tuple(e.instance_path) == path]
        if len(here) < len(branch) or not all(isinstance(e.kind, kinds) for e in here):
            return []  # a branch fails on what was given (a tag's value, a field's): not this kind
        missing = [
            e for e in here if isinstance(e.kind, jsonschema_rs.ValidationErrorKind.Required)
        ]
        names = {e.kind.property for e in missing}
        if not missing or names & taken:
            return []  # a branch lacks nothing (only stray fields), or shares its key (a tag)
        taken |= names
        title = _node(root, tuple(missing[0].schema_path)[:-1]).get("title")
        choice = " and ".join(sorted(names))
        choices.append(f"{choice} ({title})" if isinstance(title, str) else choice)
        extra = {
            name
            for e in here
            if isinstance(e.kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties)
            for name in e.kind.unexpected
        }
        unexpected = extra if unexpected is None else unexpected & extra
    if not choices:
        return []
    listed = choices[0] if len(choices) == 1 else f"{', '.join(choices[:-1])} or {choices[-1]}"
    message = "is not a field this operation accepts"
    return [
        Issue(location, path, f"give one of {listed}", "missing"),
        *(
            Issue(location, (*path, name), message, "extra_forbidden")
            for name in sorted(unexpected or ())
        ),
    ]


def _node(root: Mapping[str, Any], where: tuple[PathItem, ...]) -> Mapping[str, Any]:
    """The schema at `where` (a path in the root, references already followed); empty when
    there is none."""
    node: Any = root
    for step in where:
        in_object = isinstance(node, Mapping) and step in node
        in_array = isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)
        if not (in_object or in_array):
            return {}
        node = node[step]
    return node if isinstance(node, Mapping) else {}


def _plain(message: str) -> str:
    """jsonschema-rs messages quote the instance first; keep them, they name the bad value."""
    return message if len(message) <= 300 else message[:297] + "..."
