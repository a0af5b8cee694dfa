"""Scenarios from the test's side: what `POST /_sandbox/tenants/{t}/scenarios` is sent for a
pack's name, a scenario file or a scenario held as a mapping (read here, so that a sandbox
on another machine applies a file of this one)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union

# What names a pack (`decoda-overdue-clinic`); any other text names a file.
_PACK_NAME = re.compile(r"[a-z0-9-]+")

# A pack's name, a scenario file's path, or a scenario itself.
ScenarioSource = Union[str, "os.PathLike[str]", Mapping[str, Any]]


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
    scenario = _json(text, path) if path.suffix == ".json" else _yaml(text, path)
    if not isinstance(scenario, dict):
        raise ValueError(f"{path}: a scenario file holds one mapping (scenario: 1, name: …)")
    return {"scenario": scenario}


def _json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise ValueError(f"{path}: not JSON: {error}") from None


def _yaml(text: str, path: Path) -> Any:
    """YAML as JSON reads it: a date or a time written bare stays the text it is (the sandbox
    reads the file the same way), so that the scenario travels as JSON. PyYAML is imported
    here: the client runs in projects that install the plugin without its dependencies."""
    try:
        import yaml
    except ImportError:
        raise ValueError(
            f"{path}: reading a YAML scenario needs PyYAML in this environment "
            "(pip install pyyaml); a JSON file, a pack's name or a mapping needs nothing"
        ) from None

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, rule) for tag, rule in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    try:
        return yaml.load(text, Loader=Loader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not YAML or JSON: {error}") from None
