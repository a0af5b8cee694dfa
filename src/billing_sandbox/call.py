"""What a handler receives: a parsed, validated call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from billing_sandbox.tenancy import Sandbox, Tenant


@dataclass(frozen=True)
class Caller:
    """Who the credentials name: the tenant, and within it the account, where an API has one."""

    tenant_id: str
    principal: str | None = None


@dataclass(frozen=True)
class Call:
    """One request after authentication and validation: typed parameters and the JSON body."""

    sandbox: Sandbox
    tenant_id: str | None
    path: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    # The undecoded query string, for APIs whose query syntax is richer than OpenAPI's
    # parameter styles can describe (MYCURE's Feathers queries: `type[$in][0]=a`).
    raw_query: str = ""
    # The undecoded body, for a snapshot, whose numbers must come back exactly as written
    # (`body` reads a whole `5.0` as `5`, as pydantic does for the vendors' int fields).
    raw_body: bytes = b""
    # The account behind the credentials (MYCURE's uid, which stamps `createdBy`).
    principal: str | None = None

    @property
    def tenant(self) -> Tenant:
        if self.tenant_id is None:
            raise RuntimeError("this operation is not authenticated, so it has no tenant")
        return self.sandbox.tenant(self.tenant_id)
