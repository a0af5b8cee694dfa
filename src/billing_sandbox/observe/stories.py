"""The story of each tenant as the journal cannot tell it: when it was reset and which
scenarios were applied to it. A pact exported from the journal names those scenarios as its
interactions' provider states, leaves out the journaled calls that were the scenarios' own
steps (a provider state, not calls the consumer made), and starts a new story at a reset."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

# Bounds, so that a server applying scenarios for ever keeps a bounded memory: the tenants
# remembered (least recently applied forgotten first) and the applications kept for each.
_TENANTS = 10_000
_PER_TENANT = 100
# What a flattened answer keeps: values a Pact ProviderState generator may name.
_VALUES = 2_000
_DEPTH = 8


@dataclass(frozen=True)
class AppliedScenario:
    """One scenario applied to a tenant: its name, the journal's sequence numbers its own steps
    took (`first_seq` < seq ≤ `last_seq`), and the values its named steps answered, flattened
    (`{"charge.id": "ch_…"}`)."""

    name: str
    first_seq: int
    last_seq: int
    values: dict[str, Any]


class Stories:
    """Per tenant, its resets and the scenarios applied to it, in the journal's order: a call's
    provider states are the scenarios applied since the tenant's last reset before it."""

    def __init__(self) -> None:
        self._applied: OrderedDict[str, list[AppliedScenario]] = OrderedDict()
        # The journal's sequence number at each reset, by tenant (None: every tenant).
        self._resets: OrderedDict[str | None, list[int]] = OrderedDict()
        # Where each tenant's story is known from, once its oldest applications fell out.
        self._forgotten: OrderedDict[str, int] = OrderedDict()

    def applied(self, tenant: str, scenario: AppliedScenario) -> None:
        kept = self._applied.get(tenant, [])
        if len(kept) >= _PER_TENANT:
            # The oldest falls out: the calls before its end can no longer be told apart
            # from its steps, so a pact leaves them out (`forgotten_through`).
            self._forgotten[tenant] = max(self._forgotten.pop(tenant, 0), kept[0].last_seq)
            while len(self._forgotten) > _TENANTS:
                self._forgotten.popitem(last=False)
        _append(self._applied, tenant, scenario)

    def forgotten_through(self, tenant: str) -> int:
        """The journal's sequence number up to which the tenant's story is no longer known
        whole (0: it all is)."""
        return self._forgotten.get(tenant, 0)

    def reset(self, tenant: str | None, seq: int) -> None:
        """The tenant (or every tenant) was reset when the journal was at `seq`."""
        _append(self._resets, tenant, seq)

    def chapter(self, tenant: str, seq: int) -> tuple[int, list[AppliedScenario]]:
        """For the tenant's call `seq`: where its chapter began (the sequence number of the
        last reset before it, 0 if none) and the scenarios applied in that chapter before it."""
        began = max(
            (at for key in (tenant, None) for at in self._resets.get(key, ()) if at < seq),
            default=0,
        )
        return began, [
            a for a in self._applied.get(tenant, ()) if a.first_seq >= began and a.last_seq < seq
        ]

    def scenario_step(self, tenant: str, seq: int) -> bool:
        """Whether the tenant's call `seq` was a step of a scenario applied to it."""
        return any(a.first_seq < seq <= a.last_seq for a in self._applied.get(tenant, ()))


def _append(kept: OrderedDict[Any, list[Any]], key: Any, item: Any) -> None:
    items = kept.pop(key, [])
    items.append(item)
    kept[key] = items[-_PER_TENANT:]
    while len(kept) > _TENANTS:
        kept.popitem(last=False)


def flattened(named: dict[str, Any]) -> dict[str, Any]:
    """The scalar values of each named step's answer by dotted path (`charge.id`,
    `charges.0.id`): the names a pact's `${…}` expressions use."""
    found: dict[str, Any] = {}

    def walk(prefix: str, node: Any, depth: int) -> None:
        if len(found) >= _VALUES or depth > _DEPTH:
            return
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}", value, depth + 1)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(f"{prefix}.{index}", value, depth + 1)
        elif node is not None:
            found[prefix] = node

    for name, answer in named.items():
        walk(name, answer, 0)
    return found
