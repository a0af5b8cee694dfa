"""What the core needs to know about one served API: its descriptor."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from starlette.requests import HTTPConnection

from billing_sandbox.call import Caller
from billing_sandbox.errors import ApiError

if TYPE_CHECKING:
    from billing_sandbox.proxy.record import Exchange
    from billing_sandbox.recordings import Notice
    from billing_sandbox.tenancy import Sandbox, Tenant


@dataclass(frozen=True)
class Api:
    """One API: its spec, its handlers, how it authenticates, renders errors and seeds a tenant."""

    name: str
    title: str
    spec_file: str
    handlers: ModuleType
    # The status and body this API answers an error with (its own envelope and status table).
    render_error: Callable[[ApiError], tuple[int, Any]]
    # Returns who the request's credentials name (None: an operator, who names no tenant), or
    # raises `Unauthenticated`/`Forbidden`. It sees the connection, not only its headers, because
    # the control API also looks at the client's address.
    authenticate: Callable[[HTTPConnection, Sandbox], Caller | None] | None = None
    # Builds and seeds this API's store for a new tenant.
    new_store: Callable[[Tenant], Any] | None = None
    # The reference records of a tenant's store that users need to make valid calls.
    reference: Callable[[Any], dict[str, Any]] | None = None
    # Snapshots: a store as plain JSON (every record, and what the store needs to continue
    # exactly), and a store rebuilt for a tenant from that JSON, which raises `BadRequest`
    # naming what is wrong with it.
    export_state: Callable[[Any], dict[str, Any]] | None = None
    import_state: Callable[[Tenant, Any], Any] | None = None
    # Recorded exchanges (`serve --recordings DIR`): the operations whose answers hold records,
    # and how a freshly seeded store takes those answers in (in recorded order, the last word
    # on a record winning); returns what it could not take, or took with a change, and why.
    recorded_operations: frozenset[str] = frozenset()
    load_recorded: Callable[[Any, Sequence[Exchange]], list[Notice]] | None = None
    # Express (under Feathers) routes `/billing-soas/` like `/billing-soas`, and the MYCURE
    # SDK always sends the slash; Starlette would answer it with a redirect instead.
    trailing_slash: bool = False
