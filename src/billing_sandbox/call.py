"""What a handler receives: a parsed, validated call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from billing_sandbox.tenancy import Sandbox, Tenant


@dataclass(frozen=True)
class Call:
    """One request after authentication and validation: typed parameters and the JSON body."""

    sandbox: Sandbox
    tenant_id: str | None
    path: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, Any] = field(default_factory=dict)
    body: Any = None

    @property
    def tenant(self) -> Tenant:
        if self.tenant_id is None:
            raise RuntimeError("this operation is not authenticated, so it has no tenant")
        return self.sandbox.tenant(self.tenant_id)
