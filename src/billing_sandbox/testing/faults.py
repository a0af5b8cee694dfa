"""Fault rules (`/_sandbox/faults`): add, list, remove, clear, and a rule for one `with` block."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, Unpack

from billing_sandbox.testing.http import Connection, SandboxError, segment


class FaultSpec(TypedDict, total=False):
    """A rule as `Faults.add` takes it: the effect, what it matches (all optional), and how
    often it fires. The sandbox checks it (`createFault`) and refuses a bad one."""

    # The wait: `delay_ms`, or `latency` as the control API spells it, e.g.
    # `{"kind": "lognormal", "medianMs": 200, "sigma": 0.5, "capMs": 2000}`.
    delay_ms: int
    latency: dict[str, Any]
    # The answer (one of these): a status in the vendor's envelope (429, 502, 503, 504 too),
    # headers then a closed connection, a reset before any byte, the real answer cut short,
    # a 2xx that is not JSON, the real answer dribbled over `dribble_ms`, or no answer at all.
    status: int
    drop: bool
    reset: bool
    truncate: bool
    malformed: bool
    dribble_ms: int
    timeout: bool
    # Carry the call out, then lose its answer (with drop, reset, timeout or status).
    after_commit: bool
    # The match: None of these matches every request.
    api: str
    operation_id: str
    method: str
    path: str  # the request's path, or the spec's template (`/billing-soas/{id}`)
    tenant: str
    # How often: drawn from the server's seed, at most `count` times (None: without end),
    # and for `for_seconds` from now on the tenant's clock (an outage window).
    probability: float
    count: int | None
    for_seconds: int


_MATCH = {"api": "api", "operation_id": "operationId", "method": "method", "path": "path",
          "tenant": "tenant"}  # fmt: skip
_EFFECT = {"status": "status", "delay_ms": "delayMs", "latency": "latency", "drop": "drop",
           "reset": "reset", "truncate": "truncate", "malformed": "malformed",
           "dribble_ms": "dribbleMs", "timeout": "timeout",
           "after_commit": "afterCommit"}  # fmt: skip
_HOW_OFTEN = {"probability": "probability", "count": "count", "for_seconds": "forSeconds"}


@dataclass(frozen=True)
class FaultRule:
    """A rule as the sandbox holds it: its id, match and effect (as the control API spells
    them), and how often it may fire and did."""

    id: str
    match: dict[str, str]
    effect: dict[str, Any]
    probability: float
    count: int | None
    fired: int
    # The end of its outage window (`for_seconds`), on the tenant's clock.
    until: datetime | None = None

    @classmethod
    def from_json(cls, rule: dict[str, Any]) -> FaultRule:
        until = None if rule.get("until") is None else datetime.fromisoformat(rule["until"])
        return cls(rule["id"], rule["match"], rule["effect"], rule["probability"],
                   rule["count"], rule["fired"], until)  # fmt: skip


class AddedRules:
    """The ids of the fault rules added through one server's clients (its own and its
    tenants'), in order, so that those added since a `mark()` can be removed: the pytest
    plugin removes a test's after it."""

    def __init__(self) -> None:
        self._order: dict[str, tuple[int, FaultRule]] = {}
        self._next = 0

    def mark(self) -> int:
        """A point in the order: `since(mark)` is what is added after it."""
        return self._next

    def since(self, mark: int) -> list[FaultRule]:
        """The rules added since `mark` and not removed through these clients, oldest first."""
        return [rule for place, rule in self._order.values() if place >= mark]

    def added(self, rule: FaultRule) -> None:
        self._order[rule.id] = (self._next, rule)
        self._next += 1

    def removed(self, rule_id: str) -> None:
        self._order.pop(rule_id, None)

    def cleared(self) -> None:
        self._order.clear()


class Faults:
    """The sandbox's fault rules. Scoped to a tenant, it fills the tenant into every rule it
    adds, and lists and clears only the rules of that tenant. With `added`, it notes the
    rules it adds there (see `remove_added`)."""

    def __init__(
        self, connection: Connection, tenant: str | None = None, added: AddedRules | None = None
    ) -> None:
        self._connection = connection
        self.tenant = tenant
        self._added = added

    def add(self, **rule: Unpack[FaultSpec]) -> FaultRule:
        """Add a rule: `add(operation_id="createCharge", status=503, count=1)`; an outage,
        `add(status=503, for_seconds=30)`; a lost answer, `add(operation_id="createCharge",
        drop=True, after_commit=True, count=1)`."""
        added = FaultRule.from_json(
            self._connection.control("POST", "/faults", json=self._body(rule))
        )
        if self._added is not None:
            self._added.added(added)
        return added

    def rules(self) -> list[FaultRule]:
        """The rules, in the order they apply, with how often each fired."""
        rules = [
            FaultRule.from_json(r) for r in self._connection.control("GET", "/faults")["faults"]
        ]
        return [r for r in rules if self.tenant is None or r.match.get("tenant") == self.tenant]

    def remove(self, rule: FaultRule | str) -> FaultRule:
        """Remove one rule (a `SandboxError` naming 404 when there is none of that id)."""
        rule_id = rule.id if isinstance(rule, FaultRule) else rule
        removed = FaultRule.from_json(
            self._connection.control("DELETE", f"/faults/{segment(rule_id)}")
        )
        if self._added is not None:
            self._added.removed(rule_id)
        return removed

    def clear(self) -> int:
        """Remove every rule (of the tenant, when scoped); how many were removed."""
        if self.tenant is None:
            cleared: int = self._connection.control("DELETE", "/faults")["cleared"]
            if self._added is not None:
                self._added.cleared()
            return cleared
        return sum(self._discard(rule.id) for rule in self.rules())

    def remove_added(self, since: int = 0) -> int:
        """Remove the rules added through these clients since `AddedRules.mark()` gave
        `since`, and only those, whichever tenant they match; how many were still there."""
        added = [] if self._added is None else self._added.since(since)
        if not added:
            return 0  # no call at all for a test that added none
        held = {rule["id"]: rule for rule in self._connection.control("GET", "/faults")["faults"]}
        found = 0
        for rule in reversed(added):
            there = held.get(rule.id)
            # The same id with another match or effect is someone else's rule: a sandbox
            # that restarted numbers its rules from 1 again.
            if there is not None and (there["match"], there["effect"]) == (rule.match, rule.effect):
                found += self._discard(rule.id)
            elif self._added is not None:
                self._added.removed(rule.id)
        return found

    @contextmanager
    def injected(self, **rule: Unpack[FaultSpec]) -> Iterator[FaultRule]:
        """A rule for the `with` block: added on entry, removed on exit, also when the block
        raises or the rule is already gone (cleared, say)."""
        added = self.add(**rule)
        try:
            yield added
        finally:
            self._discard(added.id)

    def _discard(self, rule_id: str) -> bool:
        """Remove a rule if it is still there; whether it was."""
        try:
            self.remove(rule_id)
        except SandboxError as error:
            if error.status != 404:
                raise
            if self._added is not None:
                self._added.removed(rule_id)
            return False
        return True

    def _body(self, rule: FaultSpec) -> dict[str, Any]:
        unknown = set(rule) - {*_MATCH, *_EFFECT, *_HOW_OFTEN}
        if unknown:
            raise TypeError(f"a fault rule has no {', '.join(sorted(unknown))}")
        given: dict[str, Any] = dict(rule)
        if self.tenant is not None:
            given.setdefault("tenant", self.tenant)
            if given["tenant"] != self.tenant:
                raise ValueError(
                    f"the fault rules of tenant {self.tenant!r} match that tenant only"
                )
        body: dict[str, Any] = {
            "match": {name: given[key] for key, name in _MATCH.items() if key in given},
            # Flags are true or absent: the sandbox takes no `"drop": false`.
            "effect": {
                name: given[key]
                for key, name in _EFFECT.items()
                if key in given and given[key] is not False
            },
        }
        body.update({name: given[key] for key, name in _HOW_OFTEN.items() if key in given})
        return body
