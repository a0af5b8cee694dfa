"""For tests: a sandbox served in-process, tenants with credentials, the control API's client."""

from billing_sandbox.testing.clock import Clock, ClockState
from billing_sandbox.testing.control import SandboxControl, TenantControl
from billing_sandbox.testing.faults import AddedRules, FaultRule, Faults, FaultSpec
from billing_sandbox.testing.http import SandboxError
from billing_sandbox.testing.journal import (
    Journal,
    JournalEntry,
    JournalFilters,
    JournalPage,
    JournalTimeout,
)
from billing_sandbox.testing.scenarios import ScenarioSource
from billing_sandbox.testing.server import SandboxServer, serve
from billing_sandbox.testing.tenants import SandboxTenant, SandboxTenantFactory, tenant_id

__all__ = [
    "AddedRules",
    "Clock",
    "ClockState",
    "FaultRule",
    "FaultSpec",
    "Faults",
    "Journal",
    "JournalEntry",
    "JournalFilters",
    "JournalPage",
    "JournalTimeout",
    "SandboxControl",
    "SandboxError",
    "SandboxServer",
    "SandboxTenant",
    "SandboxTenantFactory",
    "ScenarioSource",
    "TenantControl",
    "serve",
    "tenant_id",
]
