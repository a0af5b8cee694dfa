"""Reading a scenario's text (YAML or JSON) into plain JSON data, bounded, each problem placed."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import yaml

from billing_sandbox.scenarios.problems import Problem, ScenarioInvalid, at

# A scenario is data a person writes (or a recording): far below these. They bound what a
# file (or an inline scenario) costs before anything walks it: YAML's aliases can make a
# small file name a huge tree, and every check below walks the tree.
MAX_BYTES = 16 * 1024 * 1024
MAX_VALUES = 2_000_000
MAX_DEPTH = 100
_LARGEST = 2**63

_BASE: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BASE):  # type: ignore[valid-type,misc]
    """YAML as JSON would read it: a bare date stays the text it is (a body's `dateOfBirth:
    1986-12-09` is sent as written), and a key given twice is a problem, not a silent choice."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key if isinstance(key, str) else id(key_node))
        return super().construct_mapping(node, deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read(source: str | bytes | Path | Mapping[str, Any]) -> dict[str, Any]:
    """The scenario `source` holds: a file (a Path: OSError when it cannot be read), its text
    (str or bytes, YAML or JSON), or its data. ScenarioInvalid when it is not one mapping of
    JSON values within the bounds."""
    if isinstance(source, Mapping):
        problems = json_problems(source)
        if problems:
            raise ScenarioInvalid(problems)
        # A copy: the caller's mapping may change later; the scenario's values may not.
        copied: dict[str, Any] = orjson.loads(orjson.dumps(source))
        return copied
    if isinstance(source, Path):
        if source.stat().st_size > MAX_BYTES:
            raise ScenarioInvalid([Problem("(file)", f"is larger than {MAX_BYTES} bytes")])
        source = source.read_bytes()
    if len(source) > MAX_BYTES:
        raise ScenarioInvalid([Problem("(file)", f"is larger than {MAX_BYTES} bytes")])
    document = _parse(source)
    if not isinstance(document, dict):
        hint = (
            " (a str is read as the scenario's text; pass a Path to read a file)"
            if isinstance(document, str) and "\n" not in document.strip()
            else ""
        )
        raise ScenarioInvalid(
            [Problem("(file)", f"a scenario is one mapping (scenario: 1, name: ...){hint}")]
        )
    problems = json_problems(document)
    if problems:
        raise ScenarioInvalid(problems)
    return document


def _parse(text: str | bytes) -> Any:
    if text.lstrip()[:1] in ("{", b"{"):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # YAML's flow style looks like JSON too: let YAML read it, and say what is wrong
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 (a safe loader: see its definition)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise ScenarioInvalid([Problem(where, f"is not YAML: {error.problem or error}")]) from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ScenarioInvalid([Problem("(file)", f"is not YAML or JSON: {error}")]) from None


def json_problems(document: Any) -> list[Problem]:
    """Where `document` holds what JSON cannot (a key that is not text, bytes, a set, a number
    JSON cannot carry), or is too large or too deep; walked without recursion."""
    problems: list[Problem] = []
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    values = 0
    while stack and len(problems) < 20:
        value, path = stack.pop()
        values += 1
        if values > MAX_VALUES:
            return [Problem("(file)", f"holds more than {MAX_VALUES} values")]
        if len(path) > MAX_DEPTH:
            return [Problem(at("", *path[:8]) + "...", f"nests more than {MAX_DEPTH} levels deep")]
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str):
                    stack.append((item, (*path, key)))
                else:
                    problems.append(
                        Problem(at("", *path) or "(file)", f"the key {key!r} is not text")
                    )
        elif isinstance(value, list):
            stack.extend((item, (*path, index)) for index, item in enumerate(value))
        elif isinstance(value, bool) or value is None or isinstance(value, str):
            continue
        elif isinstance(value, int):
            if not -_LARGEST <= value < _LARGEST:
                problems.append(Problem(at("", *path), "is a number too large for JSON's 64 bits"))
        elif isinstance(value, float):
            if not math.isfinite(value):
                problems.append(Problem(at("", *path), "is not a number JSON can carry"))
        else:
            problems.append(
                Problem(at("", *path) or "(file)", f"is not JSON ({type(value).__name__})")
            )
    return sorted(problems, key=lambda problem: problem.location)
