"""Scenario test helpers: scenarios written in a test, and the problems a refusal lists."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from billing_sandbox.scenarios import Scenario, ScenarioInvalid, load_scenario

PATIENT = "pat_sandbox_0001"  # Decoda's curated patient, in every tenant


def written(text: str) -> Scenario:
    """A scenario written in a test, indented as the test's own code."""
    return load_scenario(textwrap.dedent(text))


def document(
    *steps: dict[str, Any], apis: tuple[str, ...] = ("decoda",), **top: Any
) -> dict[str, Any]:
    return {"scenario": 1, "name": "test", "apis": list(apis), "steps": list(steps), **top}


def decoda(*steps: dict[str, Any], seed: int = 0) -> Scenario:
    """A Decoda scenario of `steps`."""
    return load_scenario(document(*steps, seed=seed))


def refusal(source: Any) -> dict[str, str]:
    """The problems loading `source` is refused with, as {location: message}."""
    with pytest.raises(ScenarioInvalid) as refused:
        load_scenario(source)
    return {problem.location: problem.message for problem in refused.value.problems}
