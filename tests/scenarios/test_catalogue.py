"""The shipped packs, the catalogue of packs by name, and the JSON Schema as editors use it."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson

from billing_sandbox.scenarios import SCHEMA_PATH, catalogue, load_scenario
from billing_sandbox.scenarios.shipped import PACKAGED, SHIPPED_DIR

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = (
    "scenario: 1\nname: {name}\napis: [decoda]\nsteps: [{{call: GET /billing/charge/list}}]\n"
)


def test_the_schema_is_the_checkouts_and_a_2020_12_schema() -> None:
    assert SCHEMA_PATH == ROOT / "scenarios" / "scenario.schema.json"
    schema = orjson.loads(SCHEMA_PATH.read_bytes())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"]
    jsonschema_rs.meta.validate(schema)


def _described(node: Any, path: str = "") -> list[str]:
    """The fields in the schema's `properties` that have no description."""
    missing: list[str] = []
    if isinstance(node, dict):
        for name, field in node.get("properties", {}).items():
            if "description" not in field and "$ref" not in field:
                missing.append(f"{path}.{name}")
        for key, value in node.items():
            missing += _described(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            missing += _described(value, f"{path}[{index}]")
    return missing


def test_every_field_is_described_for_editors() -> None:
    assert _described(orjson.loads(SCHEMA_PATH.read_bytes())) == []


def test_an_editor_checking_a_pack_with_the_schema_alone_finds_it_valid() -> None:
    validator = jsonschema_rs.validator_for(orjson.loads(SCHEMA_PATH.read_bytes()))
    packs = catalogue()
    for path in packs.values():
        assert validator.is_valid(load_scenario(path).document), path


def test_the_schema_refuses_what_the_loader_refuses() -> None:
    validator = jsonschema_rs.validator_for(orjson.loads(SCHEMA_PATH.read_bytes()))
    good = {"scenario": 1, "name": "a", "apis": ["decoda"], "steps": [{"call": "GET /x"}]}
    assert validator.is_valid(good)
    for bad_step in (
        {"cal": "GET /x"},
        {"call": "GET /x", "control": "GET /y"},
        {"repeat": 0, "steps": [{"call": "GET /x"}]},
    ):
        assert not validator.is_valid({**good, "steps": [bad_step]}), bad_step


def test_the_shipped_packs_come_first_and_load() -> None:
    packs = catalogue()
    assert packs and all(path.parent == SHIPPED_DIR for path in packs.values())
    assert "scenario.schema" not in packs
    for name, path in packs.items():
        assert load_scenario(path).name == name, "a pack's file is named for the pack"


def test_a_folder_adds_packs_after_the_shipped_and_may_replace_one(tmp_path: Path) -> None:
    shipped = list(catalogue())
    (tmp_path / "zz-ours.yaml").write_text(SCENARIO.format(name="zz-ours"))
    (tmp_path / f"{shipped[0]}.yml").write_text(SCENARIO.format(name=shipped[0]))
    (tmp_path / "notes.txt").write_text("not a pack")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "deep.yaml").write_text(SCENARIO.format(name="deep"))
    packs = catalogue([tmp_path, tmp_path / "missing"])
    assert list(packs)[: len(shipped) - 1] == shipped[1:]
    assert list(packs)[-2:] == [shipped[0], "zz-ours"]
    assert packs[shipped[0]] == tmp_path / f"{shipped[0]}.yml"
    assert "deep" not in packs and "notes" not in packs


def test_the_wheel_carries_the_packs_where_they_are_looked_for() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wheel = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert wheel["scenarios"] == f"billing_sandbox/{PACKAGED}"
    assert "/scenarios" in pyproject["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]
