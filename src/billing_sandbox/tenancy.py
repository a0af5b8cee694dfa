"""The sandbox (tenants by id) and a tenant (one lazily seeded store per API)."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from faker import Faker

from billing_sandbox.api import Api
from billing_sandbox.clock import Clock, SystemClock, TenantClock
from billing_sandbox.credentials import Credentials, load
from billing_sandbox.errors import NotFound
from billing_sandbox.faults import FaultRules
from billing_sandbox.journal import Journal
from billing_sandbox.recordings import Notice, Recordings, read_recordings
from billing_sandbox.settings import Settings
from billing_sandbox.spec import Spec


class Tenant:
    """One tenant's world: a store per API, each built and seeded on first use."""

    def __init__(
        self,
        tenant_id: str,
        settings: Settings,
        apis: dict[str, Api],
        clock: Clock,
        recordings: Recordings | None = None,
    ):
        self.id = tenant_id
        self.settings = settings
        # The tenant's own time (frozen or advanced by the control API) over the server's.
        self.clock = TenantClock(clock)
        self._apis = apis
        self._recordings = recordings or Recordings()
        self._stores: dict[str, Any] = {}

    def store(self, api_name: str) -> Any:
        if api_name not in self._stores:
            self._stores[api_name] = self.seeded_store(api_name)[0]
        return self._stores[api_name]

    def seeded_store(self, api_name: str) -> tuple[Any, list[Notice]]:
        """A new store of this API: its seed, then the recorded answers over it (and what of
        those it could not take)."""
        api = self._apis[api_name]
        if api.new_store is None:
            raise KeyError(f"API {api_name!r} keeps no per-tenant state")
        store = api.new_store(self)
        recorded = self._recordings.of(api_name)
        if not recorded or api.load_recorded is None:
            return store, []
        return store, api.load_recorded(store, recorded)

    def built_stores(self) -> dict[str, Any]:
        """The stores built so far, by API name (what a snapshot of the tenant holds)."""
        return dict(self._stores)

    def adopt(self, api_name: str, store: Any) -> None:
        """Use a store restored from a snapshot instead of seeding one."""
        self._stores[api_name] = store

    def _stream(self, api_name: str) -> str:
        # Each API draws from its own stream, so adding data to one API never shifts another's.
        return f"{self.settings.seed}:{self.id}:{api_name}"

    def faker(self, api_name: str) -> Faker:
        """A Faker seeded for this tenant and API (never the class-level `Faker.seed`)."""
        fake = Faker("en_US")
        fake.seed_instance(self._stream(api_name))
        return fake

    def random(self, api_name: str) -> random.Random:
        """The seeded source of ids for records this API creates at run time."""
        return random.Random(f"{self._stream(api_name)}:ids")


class Sandbox:
    """All tenants of one server; a tenant is built on first use and reset by dropping it."""

    def __init__(
        self,
        settings: Settings,
        apis: Iterable[Api],
        specs: Iterable[Spec],
        clock: Clock | None = None,
    ):
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.apis = {api.name: api for api in apis}
        self.specs = {spec.name: spec for spec in specs}
        # Strict mode: the only credentials each API accepts. None accepts any (the default).
        self.credentials: Credentials | None = (
            load(settings.credentials_file) if settings.credentials_file is not None else None
        )
        self._tenants: dict[str, Tenant] = {}
        self.recordings = self._read_recordings()
        self.journal = Journal(settings.journal_size, settings.journal_body_bytes)
        # Fault probabilities draw from the seed, so a run with the same rules repeats.
        self.faults = FaultRules(random.Random(f"{settings.seed}:faults"))

    def spec(self, name: str) -> Spec:
        if name not in self.specs:
            raise NotFound("spec", name)
        return self.specs[name]

    def tenant(self, tenant_id: str) -> Tenant:
        if tenant_id not in self._tenants:
            self._tenants[tenant_id] = self.new_tenant(tenant_id)
        return self._tenants[tenant_id]

    def tenants(self) -> dict[str, Tenant]:
        """The tenants built so far, by id."""
        return dict(self._tenants)

    def new_tenant(self, tenant_id: str) -> Tenant:
        """A tenant that is not (yet) part of the sandbox: a snapshot is restored into one."""
        return Tenant(tenant_id, self.settings, self.apis, self.clock, self.recordings)

    def _read_recordings(self) -> Recordings:
        """The recordings directory's usable exchanges, tried once on a throwaway tenant so
        that what cannot be loaded is said at start, not met on some tenant's first request."""
        directory = self.settings.recordings_dir
        if directory is None:
            return Recordings()
        found = read_recordings(directory, self.apis, self.specs)
        trial = Tenant("recordings-check", self.settings, self.apis, self.clock, found)
        said = [item for name in found.by_api for item in trial.seeded_store(name)[1]]
        return replace(found, notices=(*found.notices, *said))

    def replace(self, tenants: dict[str, Tenant], everyone: bool = False) -> None:
        """Put restored tenants in place in one step; with `everyone`, forget all others."""
        if everyone:
            self._tenants.clear()
        self._tenants.update(tenants)

    def reset(self, tenant_id: str | None = None) -> None:
        """Forget one tenant (or all); the next request re-seeds it identically."""
        if tenant_id is None:
            self._tenants.clear()
        else:
            self._tenants.pop(tenant_id, None)
