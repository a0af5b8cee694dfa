"""Scenarios from the test's side: what `POST /_sandbox/tenants/{t}/scenarios` is sent for a
pack's name, a scenario file or a scenario held as a mapping (read here, so that a sandbox
on another machine applies a file of this one)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union

import yaml

# What names a pack (`decoda-overdue-clinic`); any other text names a file.
_PACK_NAME = re.compile(r"[a-z0-9-]+")

# A pack's name, a scenario file's path, or a scenario itself.
ScenarioSource = Union[str, "os.PathLike[str]", Mapping[str, Any]]


class _Loader(yaml.SafeLoader):
    """YAML as JSON reads it: a date or a time written bare stays the text it is (the sandbox
    reads the file the same way), so that the scenario travels as JSON."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def is_pack_name(source: ScenarioSource) -> bool:
    return isinstance(source, str) and _PACK_NAME.fullmatch(source) is not None


def scenario_request(source: ScenarioSource) -> dict[str, Any]:
    """The body that applies `source`: `{"name": …}` for a pack's name (lower-case letters,
    digits and `-`), else `{"scenario": …}` with the file read (YAML or JSON) or the mapping
    as it is. A file that cannot be read or is not one mapping is a ValueError saying so."""
    if isinstance(source, Mapping):
        return {"scenario": dict(source)}
    if is_pack_name(source):
        return {"name": source}
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read the scenario file {str(path)!r}: {error}") from None
    try:
        scenario = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not YAML or JSON: {error}") from None
    if not isinstance(scenario, dict):
        raise ValueError(f"{path}: a scenario file holds one mapping (scenario: 1, name: …)")
    return {"scenario": scenario}
