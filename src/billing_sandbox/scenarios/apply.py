"""The Applier: a scenario's steps sent through the app in process, as the APIs' clients send them,
for one tenant, all or nothing (the tenant's snapshot is put back when a step fails)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp

from billing_sandbox.scenarios import model
from billing_sandbox.scenarios.check import check_scenario
from billing_sandbox.scenarios.inprocess import InProcess
from billing_sandbox.scenarios.model import Scenario, Step
from billing_sandbox.scenarios.problems import ScenarioInvalid, StepFailed
from billing_sandbox.scenarios.run import Run
from billing_sandbox.scenarios.vendors import bundled_specs
from billing_sandbox.settings import bundled
from billing_sandbox.spec.document import Spec


@dataclass(frozen=True)
class Applied:
    """A scenario applied: to which tenant, how many steps ran, and the latest answer of each
    named step."""

    tenant: str
    scenario: str
    steps: int
    named: dict[str, Any] = field(repr=False)
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "scenario": self.scenario,
            "steps": self.steps,
            "named": self.named,
            "seconds": round(self.seconds, 3),
        }


class Applier:
    """Applies scenarios to tenants of `app` (the sandbox's whole ASGI app), through its own
    routes, in process. `control_token`: the sandbox's, when it has one (the control API then
    asks every caller for it). `specs`: what each step is checked against before anything runs
    (by API name, or as `Sandbox.specs` keys them); the bundled specs by default."""

    def __init__(
        self,
        app: ASGIApp,
        control_token: str | None = None,
        *,
        specs: Mapping[str, Spec] | None = None,
    ) -> None:
        self.app = app
        self.control_token = control_token
        self._specs = specs

    @property
    def specs(self) -> Mapping[str, Spec]:
        if self._specs is None:
            self._specs = bundled_specs(bundled("openapi"))
        return self._specs

    async def apply(self, scenario: Scenario, tenant: str) -> Applied:
        """Run `scenario`'s steps for `tenant`, in order. Raises ScenarioInvalid (before
        anything ran) when a step does not fit its spec; StepFailed when one is refused, the
        tenant then put back as it was (its state, and the fault rules and rate limits the
        scenario set)."""
        problems = check_scenario(scenario, self.specs)
        if problems:
            raise ScenarioInvalid(problems)
        started = time.perf_counter()
        headers = {"Authorization": f"Bearer {self.control_token}"} if self.control_token else {}
        run = Run(InProcess(self.app), scenario, tenant, headers)
        snapshot = await run.snapshot()
        try:
            await _steps(run, scenario.steps)
        except BaseException as error:
            restored = await run.restore(snapshot)
            if isinstance(error, StepFailed):
                error.rolled_back = restored
            raise
        return Applied(tenant, scenario.name, run.index, run.results, time.perf_counter() - started)


async def _steps(run: Run, steps: tuple[Step, ...]) -> None:
    for step in steps:
        if isinstance(step, model.Repeat):
            for round_ in range(step.count):
                run.loop_vars[step.var] = round_
                await _steps(run, step.steps)
            del run.loop_vars[step.var]
        else:
            await run.step(step)
