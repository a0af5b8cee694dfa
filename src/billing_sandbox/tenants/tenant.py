"""What a tenant is: one lazily seeded store per API, its own clock, seeded randomness and
rendered answers; and what the core knows of each API's store (`StoreKind`)."""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from faker import Faker

from billing_sandbox.clock import Clock, TenantClock
from billing_sandbox.faults.rules import FaultRules
from billing_sandbox.recordings import Exchange, Notice, Recordings
from billing_sandbox.settings import Settings
from billing_sandbox.tenants.renders import Growth, Renders


class Served(NamedTuple):
    """One kind of a store's records, in the store's order, and how its API renders one."""

    records: Collection[Any]
    render: Callable[[Any], Any]
    # When a record was made, as a key that sorts (newest first sorts by it); None where the
    # records do not say, and the store's order is the order they were made in.
    made: Callable[[Any], Any] | None = None


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
    # Steps beyond the spec's operations that fault rules meet, as (operationId, method, path
    # template) each (Decoda's `settleInstallment`): a rule naming one can fire.
    fault_steps: tuple[tuple[str, str, str], ...] = ()
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
        growth: Growth | None = None,
    ):
        """`growth`: told the bytes its renderings keep, for the server's memory cap."""
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
        self.renders = Renders(own_render_bytes(settings), settings.max_cached_renders, growth)

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


def own_render_bytes(settings: Settings) -> int:
    """What one tenant may keep of its renderings: its own bound, and never more than all
    tenants together may (`max_render_memory`), which the tenant in use is never made to give
    up for the others."""
    if settings.max_render_memory:
        return min(settings.max_render_bytes, settings.max_render_memory)
    return settings.max_render_bytes


def tried(
    recordings: Recordings, settings: Settings, kinds: Mapping[str, StoreKind], clock: Clock
) -> Recordings:
    """The recordings, tried once on a throwaway tenant, with what could not be taken added to
    their notices: said at start, not met on some tenant's first request."""
    trial = Tenant("recordings-check", settings, kinds, clock, recordings)
    said = [item for name in recordings.by_api for item in trial.seeded_store(name)[1]]
    return replace(recordings, notices=(*recordings.notices, *said))
