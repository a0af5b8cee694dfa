"""The client of a running sandbox's control API (`/_sandbox`), whole or for one tenant."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from billing_sandbox.testing.clock import Clock
from billing_sandbox.testing.faults import AddedRules, Faults
from billing_sandbox.testing.http import TIMEOUT_SECONDS, Connection, SandboxError, segment
from billing_sandbox.testing.journal import Journal
from billing_sandbox.testing.ratelimits import RateLimits
from billing_sandbox.testing.scenarios import ScenarioSource, scenario_request


class SandboxControl:
    """The control API of the sandbox at `url`, sending `control_token` when it is set:
    `faults` and `journal` of the whole server, each tenant's `clock`, snapshots, resets and
    reference data. `tenant(id)` gives the same, scoped to one tenant. With `added_rules`,
    the fault rules added through it (and its tenants) are noted there."""

    def __init__(
        self,
        url: str,
        control_token: str = "",
        timeout: float = TIMEOUT_SECONDS,
        added_rules: AddedRules | None = None,
    ):
        self.connection = Connection(url, control_token, timeout)
        self.added_rules = added_rules
        self.faults = Faults(self.connection, added=added_rules)
        self.journal = Journal(self.connection)

    @property
    def url(self) -> str:
        return self.connection.url

    def tenant(self, tenant: str) -> TenantControl:
        """The control API for `tenant` only: its faults, journal, clock and state."""
        return TenantControl(self, tenant)

    def health(self) -> dict[str, Any]:
        """`GET /_sandbox/health`: status, version and the APIs served."""
        health: dict[str, Any] = self.connection.control("GET", "/health")
        return health

    def reset(self, tenant: str | None = None) -> None:
        """Forget one tenant's records (or every tenant's); each is re-seeded on next use."""
        path = "/reset" if tenant is None else f"/tenants/{segment(tenant)}/reset"
        self.connection.control("POST", path)

    def reference(self, tenant: str, api: str) -> dict[str, Any]:
        """The records `tenant` was seeded with in `api` (candid, decoda, mycure), to make
        valid calls with."""
        path = f"/tenants/{segment(tenant)}/reference/{segment(api)}"
        reference: dict[str, Any] = self.connection.control("GET", path)
        return reference

    def clock(self, tenant: str) -> Clock:
        """`tenant`'s clock."""
        return Clock(self.connection, tenant)

    def export_state(self, tenant: str | None = None) -> dict[str, Any]:
        """A snapshot of one tenant (or of every tenant), as one JSON document."""
        state: dict[str, Any] = self.connection.control("GET", _state_path(tenant))
        return state

    def import_state(self, snapshot: Mapping[str, Any], tenant: str | None = None) -> Any:
        """Replace one tenant (or every tenant) with a snapshot `export_state` made; the
        sandbox's answer names the tenants restored and their APIs."""
        return self.connection.control("PUT", _state_path(tenant), json=dict(snapshot))

    def scenarios(self) -> list[dict[str, Any]]:
        """The scenario packs the sandbox can apply: name, description, apis, steps, source."""
        listed: dict[str, Any] = self.connection.control("GET", "/scenarios")
        return list(listed["scenarios"])

    def apply_scenario(self, tenant: str, source: ScenarioSource) -> dict[str, Any]:
        """Apply a pack (by name), a scenario file (YAML or JSON, read here) or a scenario
        (a mapping) to `tenant`: what was applied (the steps run, what named steps were
        answered). A scenario refused, or a step that failed, is a `SandboxError` whose
        message names the problem or the step (`body` has the rest); the tenant is as
        it was."""
        path = f"/tenants/{segment(tenant)}/scenarios"
        applied: dict[str, Any] = self.connection.control(
            "POST", path, json=scenario_request(source)
        )
        return applied

    def pacts(self, tenant: str, consumer: str) -> list[dict[str, Any]]:
        """`tenant`'s calls as Pact v4 files, one per provider it called (none when the
        journal holds no call of it)."""
        path = f"/tenants/{segment(tenant)}/pact"
        try:
            made: dict[str, Any] = self.connection.control(
                "GET", path, params={"consumer": consumer}
            )
        except SandboxError as error:
            if error.status == 404:
                return []
            raise
        return list(made["pacts"])

    @contextmanager
    def snapshot(self, tenant: str | None = None) -> Iterator[dict[str, Any]]:
        """Export one tenant (or every tenant) on entry and restore it on exit, also when the
        block raises: what the block writes is undone."""
        saved = self.export_state(tenant)
        try:
            yield saved
        finally:
            self.import_state(saved, tenant)


class TenantControl:
    """The control API for one tenant, filled in on every call: `faults` that match only
    it, its `journal`, its `clock`, snapshots, reset and reference data."""

    def __init__(self, server: SandboxControl, tenant: str) -> None:
        self.server = server
        self.id = tenant
        self.faults = Faults(server.connection, tenant, server.added_rules)
        self.journal = Journal(server.connection, tenant)
        self.clock = Clock(server.connection, tenant)
        self.rate_limits = RateLimits(server.connection, tenant)

    def reset(self) -> None:
        """Forget the tenant's records in all three APIs; it is re-seeded on next use."""
        self.server.reset(self.id)

    def reference(self, api: str) -> dict[str, Any]:
        """The records the tenant was seeded with in `api` (candid, decoda, mycure)."""
        return self.server.reference(self.id, api)

    def export_state(self) -> dict[str, Any]:
        """A snapshot of the tenant: its clock and every API's records."""
        return self.server.export_state(self.id)

    def import_state(self, snapshot: Mapping[str, Any]) -> Any:
        """Replace the tenant with a snapshot of it (`export_state`)."""
        return self.server.import_state(snapshot, self.id)

    def snapshot(self) -> AbstractContextManager[dict[str, Any]]:
        """Export the tenant on entry, restore it on exit: what the block writes is undone."""
        return self.server.snapshot(self.id)

    def apply_scenario(self, source: ScenarioSource) -> dict[str, Any]:
        """Apply a pack (by name), a scenario file or a scenario (a mapping) to the tenant."""
        return self.server.apply_scenario(self.id, source)

    def pacts(self, consumer: str) -> list[dict[str, Any]]:
        """The tenant's calls as Pact v4 files, one per provider it called."""
        return self.server.pacts(self.id, consumer)


def _state_path(tenant: str | None) -> str:
    return "/state" if tenant is None else f"/tenants/{segment(tenant)}/state"
