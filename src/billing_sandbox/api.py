"""What the core knows of one served API (its descriptor), and what a handler receives (a Call)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Generic, TypeVar

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Scope

from billing_sandbox.asgi.headers import header
from billing_sandbox.credentials import Section
from billing_sandbox.errors import ApiError
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.spec.body import RAW_BODY
from billing_sandbox.tenants.renders import FRESH, RenderSource
from billing_sandbox.tenants.tenant import StoreKind, Tenant

StoreT = TypeVar("StoreT")


@dataclass(frozen=True)
class Caller:
    """Who the credentials name: the tenant, and within it the account, where an API has one."""

    tenant_id: str
    principal: str | None = None


@dataclass(frozen=True)
class Mount:
    """An ASGI app an API serves beside its routes, under `path` (a socket endpoint). `app` is
    called once per server with its sandbox, so what it keeps lives and dies with the server."""

    path: str
    app: Callable[[Sandbox], ASGIApp]


@dataclass(frozen=True)
class Api:
    """One API: its spec, its handlers, how it authenticates and renders errors, and how a
    tenant keeps its records."""

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
    # How this API's section of a `--credentials` file (strict mode) reads.
    credentials: Section | None = None
    # The API's per-tenant store: seeding, snapshots, recordings, reference records, hooks.
    store: StoreKind | None = None
    # The API's own sandbox-only actions (Decoda's ACH return), served under the control
    # API's spec: handlers named for its operations, like `handlers`.
    control: ModuleType | None = None
    # A first call, as the start banner and the root page (`GET /`) show it: the path to begin
    # at, and how to sign in (lines in which `{base}` stands for the server's base URL).
    entry: str = ""
    start: tuple[str, ...] = ()
    # The same first calls as copyable curl commands (the dashboard's overview shows them).
    first_calls: tuple[str, ...] = ()
    # The sandbox's own control API, not a vendor's: it is neither faulted nor journaled, and
    # its bodies (whole snapshots) may be as large as `max_state_bytes`.
    operator: bool = False
    # Express (under Feathers) routes `/billing-soas/` like `/billing-soas`, and the MYCURE
    # SDK always sends the slash; Starlette would answer it with a redirect instead.
    trailing_slash: bool = False
    # An endpoint beyond the spec's routes (MYCURE's Socket.IO events), mounted beside them.
    mount: Mount | None = None
    # The statuses the infrastructure in front of the service answers, in plain text, rather
    # than the service in its envelope (a gateway's 502 and 504; Candid answers 503 itself).
    edge_statuses: frozenset[int] = frozenset({502, 503, 504})
    # Rate-limit headers the vendor documents: `X-RateLimit-Limit`, `-Remaining`, `-Reset`
    # on every answer while a limit applies (Decoda's).
    rate_limit_headers: bool = False


# Not frozen: a frozen dataclass sets each of its twelve fields through `object.__setattr__`,
# which made building a Call cost more than most handlers; handlers only read it.
@dataclass(slots=True)
class Call(Generic[StoreT]):
    """One request after authentication and validation: typed parameters, the JSON body, and
    the store of the caller's tenant for this API (None where a call names no tenant)."""

    sandbox: Sandbox
    tenant_id: str | None
    store: StoreT
    path: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    # The account behind the credentials (MYCURE's uid, which stamps `createdBy`).
    principal: str | None = None
    # Where a handler renders records: kept bytes for a read, afresh for a write.
    renders: RenderSource = FRESH
    # The request's ASGI scope, for what few operations need, read when asked (below).
    scope: Scope = field(default_factory=dict)

    @property
    def raw_query(self) -> str:
        """The undecoded query string, for APIs whose query syntax is richer than OpenAPI's
        parameter styles can describe (MYCURE's Feathers queries: `type[$in][0]=a`)."""
        query: bytes = self.scope.get("query_string", b"")
        return query.decode("latin-1")

    @property
    def raw_body(self) -> bytes:
        """The undecoded body, for a snapshot, whose numbers must come back exactly as written
        (`body` reads a whole `5.0` as `5`, as pydantic does for the vendors' int fields)."""
        raw: bytes = self.scope.get(RAW_BODY, b"")
        return raw

    @property
    def accept(self) -> str:
        """The `Accept` header, for an operation that answers in more than one media type
        (OpenAPI ignores `Accept` declared as a parameter)."""
        return header(self.scope, b"accept") or ""

    @property
    def tenant(self) -> Tenant:
        if self.tenant_id is None:
            raise RuntimeError("this operation is not authenticated, so it has no tenant")
        return self.sandbox.tenant(self.tenant_id)
