"""What the core needs to know about one served API: its descriptor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers

from billing_sandbox.call import Caller
from billing_sandbox.errors import ApiError

if TYPE_CHECKING:
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
    # Returns who the request's credentials name, or raises `Unauthenticated`.
    authenticate: Callable[[Headers, Sandbox], Caller] | None = None
    # Builds and seeds this API's store for a new tenant.
    new_store: Callable[[Tenant], Any] | None = None
    # The reference records of a tenant's store that users need to make valid calls.
    reference: Callable[[Any], dict[str, Any]] | None = None
    # Express (under Feathers) routes `/billing-soas/` like `/billing-soas`, and the MYCURE
    # SDK always sends the slash; Starlette would answer it with a redirect instead.
    trailing_slash: bool = False
