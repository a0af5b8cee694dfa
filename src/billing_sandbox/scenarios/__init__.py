"""Scenarios: named stories of vendor API calls, checked against the specs, applied atomically."""

from billing_sandbox.scenarios.apply import Applied, Applier
from billing_sandbox.scenarios.catalogue import catalogue
from billing_sandbox.scenarios.check import check_scenario
from billing_sandbox.scenarios.format import load_scenario
from billing_sandbox.scenarios.model import Scenario
from billing_sandbox.scenarios.problems import Problem, ScenarioInvalid, StepFailed
from billing_sandbox.scenarios.shipped import SCHEMA_PATH

__all__ = [
    "SCHEMA_PATH",
    "Applied",
    "Applier",
    "Problem",
    "Scenario",
    "ScenarioInvalid",
    "StepFailed",
    "catalogue",
    "check_scenario",
    "load_scenario",
]
