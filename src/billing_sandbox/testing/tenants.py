"""A tenant of a running sandbox: credentials for the three APIs, and its control API."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from billing_sandbox.testing.clock import Clock
from billing_sandbox.testing.control import SandboxControl, TenantControl
from billing_sandbox.testing.faults import AddedRules, Faults
from billing_sandbox.testing.journal import Journal
from billing_sandbox.testing.ratelimits import RateLimits
from billing_sandbox.testing.scenarios import ScenarioSource

# A tenant id is also the MYCURE organisation, an email domain: lower case (MYCURE lowercases
# emails, so an upper-case id would split one tenant in two), no `@`, `/` or spaces.
_TENANT_ID = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?")


@dataclass(frozen=True)
class SandboxTenant:
    """One tenant of a running sandbox, with credentials for all three APIs.

    `id` is at once the Candid client id, the Decoda `TENANT` and the MYCURE organisation
    (the domain of `mycure_email`), so the three APIs' data of one tenant live together and
    the control API (`faults`, `clock`, `journal`, `snapshot()`, `reset()`, `reference()`)
    reaches all of it. Secrets, keys and passwords can be anything non-empty, as the sandbox
    accepts any unless it runs in strict mode (a credentials file), where only the logins
    listed there get in.
    """

    id: str
    base_url: str
    # Any credentials open a sandbox that has no credentials file: these are made up.
    candid_client_secret: str = "sandbox-secret"  # noqa: S105
    decoda_api_key: str = "sandbox-api-key"
    mycure_password: str = "sandbox-password"  # noqa: S105
    # For the control API, when the sandbox was started with a control token.
    control_token: str = field(default="", repr=False)
    # Where the fault rules added through this tenant are noted (its server's, when it made
    # the tenant), so the pytest plugin can remove a test's rules after it.
    added_rules: AddedRules | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _TENANT_ID.fullmatch(self.id):
            raise ValueError(f"a tenant id is lower-case letters, digits, '.' and '-': {self.id!r}")

    @cached_property
    def control(self) -> TenantControl:
        """The control API for this tenant (the attributes below are its short forms)."""
        control = SandboxControl(self.base_url, self.control_token, added_rules=self.added_rules)
        return control.tenant(self.id)

    @property
    def faults(self) -> Faults:
        """Fault rules that match this tenant's requests only."""
        return self.control.faults

    @property
    def rate_limits(self) -> RateLimits:
        """This tenant's rate limits: `set(decoda=(5, 10))`, `set(decoda=None)`, `get()`."""
        return self.control.rate_limits

    @property
    def clock(self) -> Clock:
        """This tenant's clock: `freeze(at)`, `advance(seconds)`, `resume()`, `now()`."""
        return self.control.clock

    @property
    def journal(self) -> Journal:
        """This tenant's requests in the journal: `query(…)`, `wait_for(…)`, `clear()`."""
        return self.control.journal

    def snapshot(self) -> AbstractContextManager[dict[str, Any]]:
        """`with tenant.snapshot():` exports the tenant, and restores it when the block ends."""
        return self.control.snapshot()

    def export_state(self) -> dict[str, Any]:
        """The tenant as one JSON document (`GET /_sandbox/tenants/{id}/state`)."""
        return self.control.export_state()

    def import_state(self, snapshot: Mapping[str, Any]) -> Any:
        """Replace the tenant with a snapshot `export_state` made."""
        return self.control.import_state(snapshot)

    def reset(self) -> None:
        """Forget this tenant's records in all three APIs; it is re-seeded on its next call."""
        self.control.reset()

    def reference(self, api: str) -> dict[str, Any]:
        """The records this tenant was seeded with in `api` (candid, decoda, mycure)."""
        return self.control.reference(api)

    def apply_scenario(self, source: ScenarioSource) -> dict[str, Any]:
        """Apply a scenario to this tenant, through the control API (so on a shared sandbox
        too): a pack's name (`"decoda-overdue-clinic"`), a scenario file's path (YAML or
        JSON, read here) or a scenario as a mapping. Its steps add to what the tenant
        holds; a step that fails undoes them all and raises `SandboxError` naming it."""
        return self.control.apply_scenario(source)

    def pacts(self, consumer: str = "consumer") -> list[dict[str, Any]]:
        """The calls this tenant made, from the sandbox's journal, as Pact v4 files: one per
        provider it called (`candid-write-offs`, `decoda-billing`, `mycure-billing-soas`),
        the scenarios applied to it as provider states. Empty when it made no call."""
        return self.control.pacts(consumer)

    @property
    def candid_client_id(self) -> str:
        return self.id

    @property
    def decoda_headers(self) -> dict[str, str]:
        """The `TENANT` and `API-KEY` headers Decoda expects on every call."""
        return {"TENANT": self.id, "API-KEY": self.decoda_api_key}

    @property
    def mycure_email(self) -> str:
        return f"tester@{self.id}"

    @property
    def mycure_organisation(self) -> str:
        return self.id

    def candid_token(self) -> str:
        """A fresh Candid bearer token, from `POST /api/auth/v2/token`."""
        body = {"client_id": self.candid_client_id, "client_secret": self.candid_client_secret}
        answer = self.control.server.connection.call("POST", "/api/auth/v2/token", json=body)
        return str(answer["access_token"])

    def candid_headers(self) -> dict[str, str]:
        """`Authorization: Bearer …` with a fresh Candid token (one call to the sandbox)."""
        return {"Authorization": f"Bearer {self.candid_token()}"}

    def mycure_token(self) -> str:
        """A fresh MYCURE access token: a local sign-in, which creates the account if needed."""
        body = {"strategy": "local", "email": self.mycure_email, "password": self.mycure_password}
        answer = self.control.server.connection.call("POST", "/authentication", json=body)
        return str(answer["accessToken"])

    def mycure_headers(self) -> dict[str, str]:
        """`Authorization: Bearer …` with a fresh MYCURE token (one call to the sandbox)."""
        return {"Authorization": f"Bearer {self.mycure_token()}"}


# What the `sandbox_tenant_factory` fixture is: a name in, that test's tenant of that name out.
SandboxTenantFactory = Callable[[str], SandboxTenant]


def tenant_id(node_id: str, name: str = "") -> str:
    """A tenant id for the test `node_id` (and a `name` within it): readable, and unique.

    The readable part is the test's name; the hash of the whole node id keeps tests of the
    same name in different files (or xdist workers sharing one sandbox) apart. The same test
    gets the same id on every run, so its seeded data is the same on every run too.
    """
    readable = "-".join(part for part in (node_id.rpartition("::")[2], name) if part)
    slug = re.sub(r"[^a-z0-9]+", "-", readable.lower()).strip("-")[:40].strip("-") or "test"
    digest = hashlib.sha256(f"{node_id}\0{name}".encode()).hexdigest()[:8]
    # `.test` is reserved for testing (RFC 2606): the id is a MYCURE email domain as well.
    return f"{slug}-{digest}.test"
