"""The sandbox (tenants by id) and a tenant (one lazily seeded store per API)."""

from __future__ import annotations

import logging
import random
import secrets
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from faker import Faker

from billing_sandbox.clock import Clock, SystemClock, TenantClock
from billing_sandbox.control.faults import FaultRules
from billing_sandbox.control.journal import Journal
from billing_sandbox.control.ratelimits import RateLimiter, parse_limits
from billing_sandbox.credentials import Credentials, Section, load
from billing_sandbox.errors import NotFound
from billing_sandbox.recordings import Exchange, Loadable, Notice, Recordings, read_recordings
from billing_sandbox.renders import Renders, ValidatedBodies
from billing_sandbox.settings import Settings
from billing_sandbox.spec.document import Spec

log = logging.getLogger("billing_sandbox")


# One kind of a store's records, in the store's order, and how its API renders one record.
Served = tuple[Collection[Any], Callable[[Any], Any]]


@dataclass(frozen=True)
class Rendering:
    """One way an API serves a kind of its records, so that an import checks every record as
    a call would answer with it (`state/served.py`)."""

    # The snapshot table the records come from, in its order (`charges`: `apis.decoda.charges`).
    table: str
    records: Collection[Any]
    record_id: Callable[[Any], str]
    # What the answer must meet: an operation's success answer (`getCharge`), or a schema of
    # the spec (`#/components/schemas/ItemTiny`) for what is served only inside other answers.
    schema: str
    answer: Callable[[Any], Any]
    # Set when the answer is one field of the record (a bound the spec puts on it): its name.
    field: str | None = None


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
    # The store's outbox of events to deliver (an `events.courier.Outbox`), None without one.
    outbox: Callable[[Any], Any] | None = None
    # Its records by kind, and how the API renders one (the dashboard's Records page): counted
    # without rendering, rendered only for the page shown.
    served_records: Callable[[Any], dict[str, Served]] | None = None
    # Every way the API serves each kind of record the store holds: an imported store is
    # rendered so, and checked against the spec, before it replaces anything.
    renderings: Callable[[Any], Sequence[Rendering]] | None = None
    # A change the store makes outside the API's own operations (MYCURE's account, made by a
    # sign-in over REST or a socket), carried out again from the write-ahead log by name.
    replay_action: Callable[[Any, str, Mapping[str, Any]], None] | None = None


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
        # A tenant nobody has written to is rebuilt byte for byte from its seed, so the
        # sandbox may drop it at any time; one with writes is spilled to disk instead.
        self.written = False
        # Its records' renderings, for reads; forgotten on any write to the tenant.
        self.renders = Renders(settings.max_cached_renders)

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
        self.renders.clear()

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
        # S311: ids must repeat for the same seed; none of them guards anything.
        return random.Random(f"{self._stream(api_name)}:ids")  # noqa: S311


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


class Overflow(Protocol):
    """Where the sandbox keeps tenants with writes that do not fit in memory (`state/spill.py`)."""

    def spill(self, tenant: Tenant) -> None:
        """Write the tenant out (atomically); raises `OSError` when it cannot."""

    def reload(self, tenant_id: str) -> Tenant | None:
        """The spilled tenant, or None when it was never spilled; raises an `ApiError`
        naming the problem when its file is missing or cannot be read."""

    def forget(self, tenant_id: str | None = None) -> None:
        """Remove one spilled tenant (or all)."""

    def spilled(self) -> list[str]:
        """The ids of the spilled tenants."""

    def read(self, tenant_id: str) -> Any:
        """A spilled tenant's snapshot (its export when it was spilled)."""

    def close(self) -> None:
        """The server stops: spilled tenants may go, unless kept where the user chose."""


class Sandbox:
    """All tenants of one server; a tenant is built on first use and reset by dropping it.

    At most `settings.max_tenants` are held in memory. Past that, the least recently used
    tenant nobody has written to is dropped (its seed rebuilds it); when every tenant has
    writes, the least recently used is spilled to the overflow and loaded back on its next
    request, answering exactly as before."""

    def __init__(
        self,
        settings: Settings,
        kinds: Mapping[str, StoreKind],
        specs: Mapping[str, Spec],
        clock: Clock | None = None,
        about: Mapping[str, Any] | None = None,
        credential_sections: Mapping[str, Section] | None = None,
        overflow: Callable[[Sandbox], Overflow] | None = None,
    ):
        """`kinds`: the store of each vendor API, by API name; `specs`: every served API's
        spec (the control API's too), by API name; `about`: what the server serves, as JSON
        (the root page and the answer to an unknown path show it); `credential_sections`: how
        each API's section of a credentials file reads; `overflow`: makes where tenants with
        writes are spilled (without one, they are kept in memory past the cap)."""
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
        # Strict mode: the only credentials each API accepts. None accepts any (the default).
        self.credentials: Credentials | None = (
            load(settings.credentials_file, credential_sections or {})
            if settings.credentials_file is not None
            else None
        )
        # Least recently used first; `_pristine` holds the ids of those nobody has written to.
        self._tenants: OrderedDict[str, Tenant] = OrderedDict()
        self._pristine: OrderedDict[str, None] = OrderedDict()
        self.overflow: Overflow | None = None if overflow is None else overflow(self)
        self.recordings = self._read_recordings()
        self.journal = Journal(settings.journal_size, settings.journal_body_bytes)
        # Fault probabilities draw from the seed, so a run with the same rules repeats.
        self.faults = FaultRules(random.Random(f"{settings.seed}:faults"))  # noqa: S311
        # Bodies already checked against their spec (response validation checks each once).
        self.validated = ValidatedBodies()
        # Off unless `rate_limits` (or the control API, per tenant) sets one.
        self.limits = RateLimiter(parse_limits(settings.rate_limits, self.kinds))
        # What an API's mount keeps for the whole server (MYCURE's socket hub), by API name.
        self.mounted: dict[str, Mounted] = {}
        # Whether the server is stopping (`serve` says), so that a stream ends on its own.
        self.stopping: Callable[[], bool] = lambda: False

    def spec(self, name: str) -> Spec:
        if name not in self.specs:
            raise NotFound("spec", name)
        return self.specs[name]

    def api_spec(self, api_name: str) -> Spec | None:
        """The spec an API serves (by the API's name), if it serves one."""
        return self._spec_of_api.get(api_name)

    def tenant(self, tenant_id: str) -> Tenant:
        """The tenant, from memory, from the overflow it was spilled to, or seeded anew."""
        tenant = self._tenants.get(tenant_id)
        if tenant is not None:
            self._tenants.move_to_end(tenant_id)
            if not tenant.written:
                self._pristine.move_to_end(tenant_id)
            return tenant
        reloaded = None if self.overflow is None else self.overflow.reload(tenant_id)
        tenant = reloaded or self.new_tenant(tenant_id)
        self._hold(tenant)
        return tenant

    def held(self, tenant_id: str) -> Tenant | None:
        """The tenant if it is in memory, without counting as a use (nor loading or seeding it)."""
        return self._tenants.get(tenant_id)

    def mark_written(self, tenant_id: str) -> None:
        """The tenant now holds writes: it is spilled, never dropped, when memory runs short.
        A tenant not in memory (just reset) is left alone."""
        tenant = self._tenants.get(tenant_id)
        if tenant is not None and not tenant.written:
            tenant.written = True
            self._pristine.pop(tenant_id, None)

    def tenants(self) -> dict[str, Tenant]:
        """The tenants in memory, by id (`spilled()` names the others with writes)."""
        return dict(self._tenants)

    def spilled(self) -> list[str]:
        """The tenants with writes that are spilled, not in memory."""
        if self.overflow is None:
            return []
        return [
            tenant_id for tenant_id in self.overflow.spilled() if tenant_id not in self._tenants
        ]

    def _hold(self, tenant: Tenant) -> None:
        self._tenants[tenant.id] = tenant
        self._tenants.move_to_end(tenant.id)
        if not tenant.written:
            self._pristine[tenant.id] = None
        self._evict(keep=tenant.id)

    def _evict(self, keep: str) -> None:
        """Drop or spill the least recently used tenants past the cap (pristine ones first),
        never `keep`, the one a request is using."""
        while len(self._tenants) > max(self.settings.max_tenants, 1):
            victim = next((t for t in self._pristine if t != keep), None)
            if victim is None:
                victim = next((t for t in self._tenants if t != keep), None)
            if victim is None:
                return
            tenant = self._tenants[victim]
            if tenant.written:
                if self.overflow is None:
                    return  # nowhere to spill to: writes are never dropped
                try:
                    self.overflow.spill(tenant)
                except OSError as error:
                    # Kept in memory: a full disk must cost memory, never a tenant's writes.
                    log.error("could not spill tenant %r: %s", victim, error)
                    return
            del self._tenants[victim]
            self._pristine.pop(victim, None)

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
        """Put restored tenants in place in one step; with `everyone`, forget all others
        (spilled ones too). Restored tenants count as written: their records are not a seed's."""
        if everyone:
            self._tenants.clear()
            self._pristine.clear()
            if self.overflow is not None:
                self.overflow.forget()
        for tenant in tenants.values():
            self._forget(tenant.id)
            tenant.written = True
        for tenant in tenants.values():
            self._hold(tenant)

    def reset(self, tenant_id: str | None = None) -> None:
        """Forget one tenant (or all), spilled or not; the next request re-seeds it identically."""
        if tenant_id is None:
            self._tenants.clear()
            self._pristine.clear()
            if self.overflow is not None:
                self.overflow.forget()
        else:
            self._forget(tenant_id)

    def _forget(self, tenant_id: str) -> None:
        self._tenants.pop(tenant_id, None)
        self._pristine.pop(tenant_id, None)
        if self.overflow is not None:
            self.overflow.forget(tenant_id)
