"""The tenants one server holds: each built on first use, kept in least-recently-used order up to
a cap, spilled (when it has writes) or dropped (when its seed rebuilds it) past the cap, and
reset by forgetting it."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from billing_sandbox.tenants.tenant import Tenant

log = logging.getLogger("billing_sandbox")


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


class HeldTenants:
    """The tenants in memory, by id, least recently used first.

    At most `cap` are held. Past that, the least recently used tenant nobody has written to is
    dropped (its seed rebuilds it); when every tenant has writes, the least recently used is
    spilled to the overflow and loaded back on its next use, answering exactly as before."""

    def __init__(
        self, cap: int, new_tenant: Callable[[str], Tenant], overflow: Overflow | None = None
    ) -> None:
        self.cap = max(cap, 1)
        self.new_tenant = new_tenant
        self.overflow = overflow
        # Least recently used first; `_pristine` holds the ids of those nobody has written to.
        self._tenants: OrderedDict[str, Tenant] = OrderedDict()
        self._pristine: OrderedDict[str, None] = OrderedDict()

    def get(self, tenant_id: str) -> Tenant:
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

    def in_memory(self) -> dict[str, Tenant]:
        """The tenants in memory, by id (`spilled()` names the others with writes)."""
        return dict(self._tenants)

    def spilled(self) -> list[str]:
        """The tenants with writes that are spilled, not in memory."""
        if self.overflow is None:
            return []
        return [
            tenant_id for tenant_id in self.overflow.spilled() if tenant_id not in self._tenants
        ]

    def replace(self, tenants: dict[str, Tenant], everyone: bool = False) -> None:
        """Put restored tenants in place in one step; with `everyone`, forget all others
        (spilled ones too). Restored tenants count as written: their records are not a seed's."""
        if everyone:
            self.reset()
        for tenant in tenants.values():
            self._forget(tenant.id)
            tenant.written = True
        for tenant in tenants.values():
            self._hold(tenant)

    def reset(self, tenant_id: str | None = None) -> None:
        """Forget one tenant (or all), spilled or not; the next use re-seeds it identically."""
        if tenant_id is not None:
            self._forget(tenant_id)
            return
        self._tenants.clear()
        self._pristine.clear()
        if self.overflow is not None:
            self.overflow.forget()

    def _hold(self, tenant: Tenant) -> None:
        self._tenants[tenant.id] = tenant
        self._tenants.move_to_end(tenant.id)
        if not tenant.written:
            self._pristine[tenant.id] = None
        self._evict(keep=tenant.id)

    def _evict(self, keep: str) -> None:
        """Drop or spill the least recently used tenants past the cap (pristine ones first),
        never `keep`, the one a request is using."""
        while len(self._tenants) > self.cap:
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

    def _forget(self, tenant_id: str) -> None:
        self._tenants.pop(tenant_id, None)
        self._pristine.pop(tenant_id, None)
        if self.overflow is not None:
            self.overflow.forget(tenant_id)
