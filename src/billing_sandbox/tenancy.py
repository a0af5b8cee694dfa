"""The sandbox (tenants by id) and a tenant (one lazily seeded store per API)."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from faker import Faker

from billing_sandbox.clock import Clock, SystemClock, TenantClock
from billing_sandbox.control.faults import FaultRules
from billing_sandbox.control.journal import Journal
from billing_sandbox.credentials import Credentials, Section, load
from billing_sandbox.errors import NotFound
from billing_sandbox.recordings import Exchange, Loadable, Notice, Recordings, read_recordings
from billing_sandbox.settings import Settings
from billing_sandbox.spec.document import Spec


@dataclass(frozen=True)
class StoreKind:
    """How a tenant keeps one API's records: all the core knows of a vendor's store."""

    # Builds and seeds the store for a new tenant.
    new_store: Callable[[Tenant], Any]
    # Snapshots: a store as plain JSON (every record, and what the store needs to continue
    # exactly), and a store rebuilt for a tenant from that JSON, which raises `BadRequest`
    # naming what is wrong with it.
    export_state: Callable[[Any], dict[str, Any]]
    import_state: Callable[[Tenant, Any], Any]
    # The reference records of a store that users need to make valid calls.
    reference: Callable[[Any], dict[str, Any]]
    # Recorded exchanges (`serve --recordings DIR`): the operations whose answers hold records,
    # and how a freshly seeded store takes those answers in (in recorded order, the last word
    # on a record winning); returns what it could not take, or took with a change, and why.
    recorded_operations: frozenset[str] = frozenset()
    load_recorded: Callable[[Any, Sequence[Exchange]], list[Notice]] | None = None
    # What falls due when the tenant's clock moves (Decoda's installments): called with the
    # store, the tenant id and the fault rules; returns the ids of the records it settled.
    on_clock_moved: Callable[[Any, str, FaultRules], list[str]] | None = None


class Tenant:
    """One tenant's world: a store per API, each built and seeded on first use."""

    def __init__(
        self,
        tenant_id: str,
        settings: Settings,
        kinds: Mapping[str, StoreKind],
        clock: Clock,
        recordings: Recordings | None = None,
    ):
        self.id = tenant_id
        self.settings = settings
        # The tenant's own time (frozen or advanced by the control API) over the server's.
        self.clock = TenantClock(clock)
        self._kinds = kinds
        self._recordings = recordings or Recordings()
        self._stores: dict[str, Any] = {}

    def store(self, api_name: str) -> Any:
        if api_name not in self._stores:
            self._stores[api_name] = self.seeded_store(api_name)[0]
        return self._stores[api_name]

    def seeded_store(self, api_name: str) -> tuple[Any, list[Notice]]:
        """A new store of this API: its seed, then the recorded answers over it (and what of
        those it could not take)."""
        kind = self._kinds.get(api_name)
        if kind is None:
            raise KeyError(f"API {api_name!r} keeps no per-tenant state")
        store = kind.new_store(self)
        recorded = self._recordings.of(api_name)
        if not recorded or kind.load_recorded is None:
            return store, []
        return store, kind.load_recorded(store, recorded)

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
        kinds: Mapping[str, StoreKind],
        specs: Mapping[str, Spec],
        clock: Clock | None = None,
        about: Mapping[str, Any] | None = None,
        credential_sections: Mapping[str, Section] | None = None,
    ):
        """`kinds`: the store of each vendor API, by API name; `specs`: every served API's
        spec (the control API's too), by API name; `about`: what the server serves, as JSON
        (the root page and the answer to an unknown path show it); `credential_sections`: how
        each API's section of a credentials file reads."""
        self.settings = settings
        self.about: Mapping[str, Any] = about or {}
        self.clock: Clock = clock or SystemClock()
        self.kinds = dict(kinds)
        self._spec_of_api = dict(specs)
        # By the spec's own name (its file's stem), as `/_sandbox/openapi/{name}` names it.
        self.specs = {spec.name: spec for spec in specs.values()}
        # Strict mode: the only credentials each API accepts. None accepts any (the default).
        self.credentials: Credentials | None = (
            load(settings.credentials_file, credential_sections or {})
            if settings.credentials_file is not None
            else None
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
        return Tenant(tenant_id, self.settings, self.kinds, self.clock, self.recordings)

    def _read_recordings(self) -> Recordings:
        """The recordings directory's usable exchanges, tried once on a throwaway tenant so
        that what cannot be loaded is said at start, not met on some tenant's first request."""
        directory = self.settings.recordings_dir
        if directory is None:
            return Recordings()
        loadable = {
            name: Loadable(kind.recorded_operations, self._spec_of_api[name])
            for name, kind in self.kinds.items()
            if kind.load_recorded is not None
        }
        found = read_recordings(directory, self.kinds.keys(), loadable)
        trial = Tenant("recordings-check", self.settings, self.kinds, self.clock, found)
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
