"""The tenants one server holds: each built on first use, kept in least-recently-used order up to
a cap, spilled (when it has writes) or dropped (when its seed rebuilds it) past the cap or when
the server's memory passes its own cap, and reset by forgetting it."""

from __future__ import annotations

import gc
import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from billing_sandbox.observe.metrics import Metrics
from billing_sandbox.tenants.memory import TENANT_ESTIMATE, Growth, MemoryCap, release_freed
from billing_sandbox.tenants.tenant import Tenant

log = logging.getLogger("billing_sandbox")

# A relief spills at most this many tenants (each a file written, 15-40 ms), so the request
# that meets the cap waits well under a second; the next use goes on while memory is over.
RELIEF_SPILLS = 16


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
    spilled to the overflow and loaded back on its next use, answering exactly as before.

    With a `memory` cap, the server's memory is looked at every so often as tenants are used
    (`MemoryCap.due`); past it, every tenant's kept renderings go first (the cheapest to make
    again), then the least recently used tenants, as past `cap` (`relieve`).

    With a `render_budget`, the tenants' kept renderings together stay about within it: once
    they may be past it, the least recently used tenants' are forgotten (`_bound_renders`)."""

    def __init__(
        self,
        cap: int,
        new_tenant: Callable[[str], Tenant],
        overflow: Overflow | None = None,
        memory: MemoryCap | None = None,
        metrics: Metrics | None = None,
        render_budget: int = 0,
    ) -> None:
        """`metrics`: where spills, reloads and evictions are counted (None counts nothing);
        `render_budget`: the bytes all tenants' kept renderings may hold together (0: no bound
        but each tenant's own)."""
        self.cap = max(cap, 1)
        self.new_tenant = new_tenant
        self.overflow = overflow
        self.memory = memory
        self.metrics = metrics
        # What the tenants grew by since the memory cap last looked (their renderings tell it).
        self.growth = Growth()
        self.render_budget = render_budget
        # How much more may be kept before the renderings are counted again: the budget less
        # what they held at the last count (no bound: more than can ever be kept).
        self._render_headroom = render_budget or sys.maxsize
        # Least recently used first; `_pristine` holds the ids of those nobody has written to.
        self._tenants: OrderedDict[str, Tenant] = OrderedDict()
        self._pristine: OrderedDict[str, None] = OrderedDict()

    def get(self, tenant_id: str) -> Tenant:
        """The tenant, from memory, from the overflow it was spilled to, or seeded anew."""
        memory = self.memory
        if memory is not None and memory.due(self.growth):
            self.relieve(keep=tenant_id)
        if self.growth.rendered > self._render_headroom:
            self._bound_renders(keep=tenant_id)
        tenant = self._tenants.get(tenant_id)
        if tenant is not None:
            self._tenants.move_to_end(tenant_id)
            if not tenant.written:
                self._pristine.move_to_end(tenant_id)
            return tenant
        reloaded = None if self.overflow is None else self.overflow.reload(tenant_id)
        if reloaded is not None and self.metrics is not None:
            self.metrics.count("tenant_reloads")
        tenant = reloaded or self.new_tenant(tenant_id)
        self.growth.grown += TENANT_ESTIMATE
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

    def relieve(self, keep: str | None = None) -> None:
        """With a memory cap that memory has reached (`MemoryCap.over`): drop every tenant's kept
        renderings; then, if memory is still over the cap's target, drop or spill the least
        recently used tenants as past `cap` (never `keep`, the one a request is using), as many
        as hold it over by the tenants' average share of it. Writes are spilled, never lost.
        Still over, the next use of a tenant goes on; nothing handed back, the cap waits for
        memory to grow (`MemoryCap.stuck_at`)."""
        memory = self.memory
        if memory is None:
            return
        resident = memory.resident()
        if not memory.over(resident):
            return
        found, began = resident, time.perf_counter()
        for tenant in self._tenants.values():
            tenant.renders.clear()
        release_freed()
        resident = memory.resident()
        dropped = spilled = 0
        handed_back = True
        if resident > memory.target and len(self._tenants) > 1:
            held = len(self._tenants)
            share = max((resident - memory.base) // held, 1)
            going = min(held - 1, -(-(resident - memory.target) // share))
            dropped, spilled = self._evict(keep, held - going, RELIEF_SPILLS, reason="memory")
            gc.collect()  # a dropped store may hold cycles: its memory goes only with them
            release_freed()
            before, resident = resident, memory.resident()
            handed_back = resident < before
        if resident > memory.high:
            if handed_back and dropped + spilled:
                memory.look_soon()  # some came back, not enough: the next use goes on
            else:
                memory.stuck_at = resident  # letting more go would hand back no more
        log.warning(
            "memory at %.1f MB (cap %.1f MB): kept renderings dropped, %d tenants dropped "
            "and %d spilled (%d held) in %.2f s; now %.1f MB",
            found / 1e6, memory.cap / 1e6, dropped, spilled, len(self._tenants),
            time.perf_counter() - began, resident / 1e6,
        )  # fmt: skip

    def _bound_renders(self, keep: str) -> None:
        """The renderings kept since they were last counted may have taken all of them past
        `render_budget`: count them, and past it, forget the least recently used tenants'
        (never `keep`'s, the tenant a request is using) until they hold three quarters of it,
        so that the next count is not due at once. A sum over the tenants held, made only when
        the renderings may be over; never on a request that keeps nothing new."""
        budget = self.render_budget
        held = sum(tenant.renders.size for tenant in self._tenants.values())
        if held > budget:
            for tenant_id, tenant in self._tenants.items():
                if held <= budget * 3 // 4:
                    break
                if tenant_id != keep and tenant.renders.size:
                    held -= tenant.renders.size
                    tenant.renders.clear()
        self.growth.rendered = 0
        self._render_headroom = max(budget - held, 0)

    def _evict(
        self,
        keep: str | None,
        limit: int | None = None,
        spills: int | None = None,
        reason: str = "cap",
    ) -> tuple[int, int]:
        """Drop or spill the least recently used tenants past `limit` (by default the cap;
        pristine ones first), never `keep`, the one a request is using, spilling at most
        `spills`: how many were dropped and how many spilled. `reason`: which cap made room
        (`cap` or `memory`), as the evictions' counter says it."""
        limit = self.cap if limit is None else limit
        dropped = spilled = 0
        while len(self._tenants) > limit:
            victim = next((t for t in self._pristine if t != keep), None)
            if victim is None:
                victim = next((t for t in self._tenants if t != keep), None)
            if victim is None:
                break
            tenant = self._tenants[victim]
            if tenant.written:
                if self.overflow is None or spilled == spills:
                    break  # nowhere to spill to: writes are never dropped
                try:
                    self.overflow.spill(tenant)
                except OSError as error:
                    # Kept in memory: a full disk must cost memory, never a tenant's writes.
                    log.error("could not spill tenant %r: %s", victim, error)
                    break
                spilled += 1
            else:
                dropped += 1
            del self._tenants[victim]
            self._pristine.pop(victim, None)
        metrics = self.metrics
        if metrics is not None and dropped + spilled:
            metrics.count("tenant_evictions", reason, amount=dropped + spilled)
            if spilled:
                metrics.count("tenant_spills", amount=spilled)
        return dropped, spilled

    def _forget(self, tenant_id: str) -> None:
        self._tenants.pop(tenant_id, None)
        self._pristine.pop(tenant_id, None)
        if self.overflow is not None:
            self.overflow.forget(tenant_id)
