"""The sandbox: what one server keeps for all its tenants (settings, specs, credentials, recordings,
the journal, fault rules, rate limits, the signing key) and the tenants it holds."""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from billing_sandbox.clock import Clock, SystemClock
from billing_sandbox.credentials import Credentials
from billing_sandbox.errors import ApiError, NotFound
from billing_sandbox.faults.rules import FaultRules
from billing_sandbox.observe.journal import Journal
from billing_sandbox.observe.metrics import Metrics
from billing_sandbox.observe.ratelimits import RateLimiter, parse_limits
from billing_sandbox.observe.stories import Stories
from billing_sandbox.observe.traffic import Traffic
from billing_sandbox.recordings import Recordings
from billing_sandbox.settings import Settings
from billing_sandbox.spec.document import Spec
from billing_sandbox.tenants.held import HeldTenants, Overflow
from billing_sandbox.tenants.memory import memory_cap
from billing_sandbox.tenants.renders import ValidatedBodies
from billing_sandbox.tenants.tenant import StoreKind, Tenant


class ChangeLog(Protocol):
    """Where a sandbox with a state file writes each change ahead of carrying it out (the
    write-ahead log, `state/changes.py`); `active` is False without one."""

    active: bool

    def append(self, record: dict[str, Any]) -> None:
        """Keep one record (raising `errors.StorageUnavailable` when it cannot)."""


class NoChangeLog:
    """A sandbox whose state lives in memory only: nothing is written ahead."""

    active = False

    def append(self, record: dict[str, Any]) -> None:
        return None


class Mounted(Protocol):
    """What an API's mount keeps for the whole server (MYCURE's socket hub), as the control
    API sees it."""

    def connected(self) -> dict[str, int]:
        """The sockets connected, by tenant."""


class ScenarioRefusal(ApiError):
    """A scenario that was not applied: a status, a message, and the JSON fields the control
    API answers beside them (`details`: where a scenario is wrong, which step failed)."""

    def __init__(self, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details: dict[str, Any] = dict(details or {})


class UnknownScenario(ScenarioRefusal):
    """No pack of that name (404); `details["available"]` names those there are."""

    status = 404


class ScenarioInvalid(ScenarioRefusal):
    """A scenario refused before anything ran (422); `details["problems"]`: each problem's
    location in the file and message."""

    status = 422


class StepFailed(ScenarioRefusal):
    """A step the vendor (or the control API) refused (422), every step before it undone;
    `details`: its index, name and place in the file, its request and the answer it got."""

    status = 422


class ScenarioService(Protocol):
    """The scenarios a server applies (the shipped packs and `--scenarios-dir`), as the control
    API sees them. The app sets it (`create_app`): a scenario's steps go through the app."""

    def listed(self) -> list[dict[str, Any]]:
        """Each pack as JSON: name, description, apis, steps, source."""

    async def apply(
        self, tenant: str, name: str | None, scenario: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """Apply the pack `name`, or the `scenario` given whole, to `tenant`: what was done,
        as JSON; raises a `ScenarioRefusal` (and leaves the tenant as it was)."""


class NoScenarios:
    """A sandbox no app wired scenarios into: none to list, none to apply."""

    def listed(self) -> list[dict[str, Any]]:
        return []

    async def apply(
        self, tenant: str, name: str | None, scenario: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        raise UnknownScenario("this sandbox applies no scenarios", {"available": []})


class Sandbox:
    """One server's services, and its tenants (`held`: built on first use, reset by dropping).

    Everything read from files (specs, credentials, recordings) is read by `create_app` and
    handed in; the sandbox itself reads nothing."""

    def __init__(
        self,
        settings: Settings,
        kinds: Mapping[str, StoreKind],
        specs: Mapping[str, Spec],
        clock: Clock | None = None,
        about: Mapping[str, Any] | None = None,
        credentials: Credentials | None = None,
        recordings: Recordings | None = None,
        overflow: Callable[[Sandbox], Overflow] | None = None,
    ):
        """`kinds`: the store of each vendor API, by API name; `specs`: every served API's
        spec (the control API's too), by API name; `about`: what the server serves, as JSON,
        `{base}` standing for the base URL (the root page and the answer to an unknown path
        show it, each at its own); `credentials`: strict mode's
        only accepted credentials (None accepts any); `recordings`: exchanges laid over every
        tenant's seed; `overflow`: makes where tenants with writes are spilled (without one,
        they are kept in memory past the cap)."""
        self.settings = settings
        # The write-ahead log, when a state file keeps the sandbox's state (set by the app).
        self.changes: ChangeLog = NoChangeLog()
        # What bearer tokens are signed with: the configured secret, or one of this server's
        # own that nobody else knows (a state file keeps it, so tokens outlive a restart).
        self.signing_secret: str = settings.secret or secrets.token_urlsafe(32)
        self.about: Mapping[str, Any] = about or {}
        self.clock: Clock = clock or SystemClock()
        self.kinds = dict(kinds)
        self._spec_of_api = dict(specs)
        # By the spec's own name (its file's stem), as `/_sandbox/openapi/{name}` names it.
        self.specs = {spec.name: spec for spec in specs.values()}
        self.credentials = credentials
        self.recordings = recordings or Recordings()
        # What `GET /_sandbox/metrics` exposes; None when metrics are off. Made before the
        # tenants, which count their spills and evictions in it (its gauges read later).
        self.metrics: Metrics | None = None
        if settings.metrics:
            self.metrics = Metrics(settings.shard, str(self.about.get("version", "")))
        self.held_tenants = HeldTenants(
            settings.max_tenants,
            self.new_tenant,
            memory=memory_cap(settings),
            metrics=self.metrics,
            render_budget=settings.max_render_memory,
        )
        self.held_tenants.overflow = None if overflow is None else overflow(self)
        self.journal = Journal(settings.journal_size, settings.journal_body_bytes)
        # Each tenant's resets and the scenarios applied to it: a pact's provider states.
        self.stories = Stories()
        # Fault probabilities draw from the seed, so a run with the same rules repeats.
        self.faults = FaultRules(random.Random(f"{settings.seed}:faults"))  # noqa: S311
        # Bodies already checked against their spec (response validation checks each once).
        self.validated = ValidatedBodies()
        # Off unless `rate_limits` (or the control API, per tenant) sets one.
        self.limits = RateLimiter(parse_limits(settings.rate_limits, self.kinds))
        # What an API's mount keeps for the whole server (MYCURE's socket hub), by API name.
        self.mounted: dict[str, Mounted] = {}
        # The scenario packs and their applying (set by the app, which they go through).
        self.scenarios: ScenarioService = NoScenarios()
        # Whether the server is stopping (`serve` says), so that a stream ends on its own.
        self.stopping: Callable[[], bool] = lambda: False
        if self.metrics is not None:
            self._watch(self.metrics)
        # The last minutes of it, second by second, for the dashboard's charts.
        self.traffic: Traffic | None = None if self.metrics is None else Traffic(self.metrics)

    def _watch(self, metrics: Metrics) -> None:
        """The gauges read when Prometheus scrapes: what the server holds now."""
        metrics.watch(
            "tenants_held", "Tenants in memory.", lambda: len(self.held_tenants.in_memory())
        )
        metrics.watch(
            "tenants_spilled", "Tenants with writes spilled to disk.", lambda: len(self.spilled())
        )
        metrics.watch("journal_entries", "Requests the journal keeps.", lambda: len(self.journal))
        metrics.watch(
            "sockets_connected",
            "Signed-in realtime sockets (MYCURE's Socket.IO), by API.",
            lambda: {(name,): sum(m.connected().values()) for name, m in self.mounted.items()},
            labels=("api",),
        )

    def spec(self, name: str) -> Spec:
        if name not in self.specs:
            raise NotFound("spec", name)
        return self.specs[name]

    def api_spec(self, api_name: str) -> Spec | None:
        """The spec an API serves (by the API's name), if it serves one."""
        return self._spec_of_api.get(api_name)

    def new_tenant(self, tenant_id: str) -> Tenant:
        """A tenant that is not (yet) part of the sandbox: a snapshot is restored into one."""
        growth = self.held_tenants.growth
        return Tenant(tenant_id, self.settings, self.kinds, self.clock, self.recordings, growth)

    # The tenants, as every caller names them (`HeldTenants` keeps them).

    @property
    def overflow(self) -> Overflow | None:
        return self.held_tenants.overflow

    def tenant(self, tenant_id: str) -> Tenant:
        """The tenant, from memory, from the overflow it was spilled to, or seeded anew."""
        return self.held_tenants.get(tenant_id)

    def held(self, tenant_id: str) -> Tenant | None:
        """The tenant if it is in memory, without counting as a use."""
        return self.held_tenants.held(tenant_id)

    def mark_written(self, tenant_id: str) -> None:
        self.held_tenants.mark_written(tenant_id)

    def tenants(self) -> dict[str, Tenant]:
        """The tenants in memory, by id (`spilled()` names the others with writes)."""
        return self.held_tenants.in_memory()

    def spilled(self) -> list[str]:
        return self.held_tenants.spilled()

    def replace(self, tenants: dict[str, Tenant], everyone: bool = False) -> None:
        self.held_tenants.replace(tenants, everyone)

    def reset(self, tenant_id: str | None = None) -> None:
        self.held_tenants.reset(tenant_id)
        self.stories.reset(tenant_id, self.journal.last_seq)
