"""Injected faults: per request (`Prefer: code=503`, `Prefer: delay=250`) and per rule."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

from billing_sandbox.errors import (
    ApiError,
    BadRequest,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    SandboxBug,
    Unauthenticated,
    Unprocessable,
    UnsupportedMediaType,
)


class InjectedFault(ApiError):
    """A status the client asked for; rendered in the API's envelope like any other error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class DropConnection(Exception):
    """Raised after the response has started, so the server closes the connection mid-answer."""


def injected_error(status: int, message: str) -> ApiError:
    """An error of the class each API already renders for `status`, so the injected answer has
    the same envelope as a real one (Candid's `errorName`, Feathers' `name`, …)."""
    match status:
        case 400:
            return BadRequest(message)
        case 401:
            return Unauthenticated(message)
        case 403:
            return Forbidden(message)
        case 404:
            return NotFound("record", "requested with Prefer: code=404")
        case 405:
            return MethodNotAllowed("this method (Prefer: code=405)", ())
        case 415:
            return UnsupportedMediaType(message)
        case 422:
            return Unprocessable(message)
        case 500:
            return SandboxBug(message)
    return InjectedFault(status, message)


@dataclass(frozen=True)
class Prefer:
    """The parts of a `Prefer` header the sandbox acts on (as Prism reads them)."""

    code: int | None = None
    delay_ms: int | None = None


def parse_prefer(header: str) -> Prefer:
    """`code=503, delay=250` (commas or semicolons); other preferences are ignored, as RFC 7240
    asks. A value the sandbox cannot use is a 400 saying what is wrong."""
    found: dict[str, int] = {}
    for part in header.replace(";", ",").split(","):
        name, _, value = part.strip().partition("=")
        name = name.strip().lower()
        if name not in ("code", "delay"):
            continue
        value = value.strip().strip('"')
        if not value.isdigit():
            raise BadRequest(f"Prefer: {name}={value!r} must be a whole number")
        found[name] = int(value)
    return Prefer(code=found.get("code"), delay_ms=found.get("delay"))


@dataclass(frozen=True)
class Match:
    """Which requests a rule applies to; None matches anything."""

    api: str | None = None
    operation_id: str | None = None
    method: str | None = None
    path: str | None = None  # the request's path, or its template (`/billing-soas/{id}`)
    tenant: str | None = None

    def admits(self, request: RequestFacts) -> bool:
        return (
            (self.api is None or self.api == request.api)
            and (self.operation_id is None or self.operation_id == request.operation_id)
            and (self.method is None or self.method.upper() == request.method)
            and (self.path is None or self.path in (request.path, request.template))
            and (self.tenant is None or self.tenant == request.tenant)
        )


@dataclass(frozen=True)
class RequestFacts:
    api: str
    operation_id: str
    method: str
    path: str
    template: str
    tenant: str | None


@dataclass(frozen=True)
class Effect:
    """What a rule does: answer a status, wait first, or drop the connection."""

    status: int | None = None
    delay_ms: int | None = None
    drop: bool = False

    def describe(self) -> str:
        """`delay 200 ms, status 503` (or `drop`), as a request's log line says it."""
        parts = [f"delay {self.delay_ms} ms"] if self.delay_ms else []
        parts += ["drop"] if self.drop else []
        parts += [f"status {self.status}"] if self.status is not None else []
        return ", ".join(parts) or "none"


@dataclass
class Rule:
    id: str
    match: Match
    effect: Effect
    probability: float = 1.0
    count: int | None = None  # how many times it may fire; None is without end
    fired: int = 0

    @property
    def spent(self) -> bool:
        return self.count is not None and self.fired >= self.count

    def as_json(self) -> dict[str, Any]:
        match = {k: v for k, v in vars(self.match).items() if v is not None}
        if "operation_id" in match:
            match["operationId"] = match.pop("operation_id")
        effect: dict[str, Any] = {}
        if self.effect.status is not None:
            effect["status"] = self.effect.status
        if self.effect.delay_ms is not None:
            effect["delayMs"] = self.effect.delay_ms
        if self.effect.drop:
            effect["drop"] = True
        return {
            "id": self.id,
            "match": match,
            "effect": effect,
            "probability": self.probability,
            "count": self.count,
            "fired": self.fired,
        }


@dataclass
class FaultRules:
    """The rules of one server, applied in the order they were added; the first that fires
    decides. Probabilities draw from a source seeded by the server's seed, so a run repeats."""

    rng: random.Random
    rules: dict[str, Rule] = field(default_factory=dict)
    _next: int = 0

    def add(self, match: Match, effect: Effect, probability: float, count: int | None) -> Rule:
        self._next += 1
        rule = Rule(f"fault-{self._next}", match, effect, probability, count)
        self.rules[rule.id] = rule
        return rule

    def remove(self, rule_id: str) -> Rule:
        if rule_id not in self.rules:
            raise NotFound("fault rule", rule_id)
        return self.rules.pop(rule_id)

    def clear(self) -> int:
        removed = len(self.rules)
        self.rules.clear()
        return removed

    def fire(self, request: RequestFacts) -> Effect | None:
        """The effect of the first live rule that matches and wins its draw, counted."""
        for rule in self.rules.values():
            if rule.spent or not rule.match.admits(request):
                continue
            if rule.probability < 1.0 and self.rng.random() >= rule.probability:
                continue
            rule.fired += 1
            return replace(rule.effect)
        return None
