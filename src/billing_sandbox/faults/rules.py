"""Injected faults: per request (`Prefer: code=503`, `Prefer: delay=250`) and per rule."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from billing_sandbox.errors import (
    ApiError,
    BadRequest,
    Forbidden,
    GatewayFailure,
    MethodNotAllowed,
    NotFound,
    RateLimited,
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
    the same envelope as a real one (Candid's `errorName`, Feathers' `name`, …); marked as
    injected."""
    error = _error_for(status, message)
    error.injected = True
    return error


def _error_for(status: int, message: str) -> ApiError:
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
        case 429:
            # A second is what a client told to slow down by a fault waits.
            return RateLimited(message, retry_after=1)
        case 500:
            return SandboxBug(message)
        case 502 | 503 | 504:
            return GatewayFailure(status, message)
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
class Latency:
    """How long a rule waits before it acts: a fixed time, uniform between two bounds, or
    lognormal around a median (most calls near it, a long tail), never past `cap_ms`."""

    kind: str = "fixed"  # fixed | uniform | lognormal
    ms: int = 0
    min_ms: int = 0
    max_ms: int = 0
    median_ms: int = 0
    sigma: float = 0.0
    cap_ms: int | None = None

    def draw(self, rng: random.Random) -> float:
        """Milliseconds to wait, from the rules' seeded source (so a run repeats)."""
        if self.kind == "uniform":
            value = rng.uniform(self.min_ms, self.max_ms)
        elif self.kind == "lognormal":
            value = (
                rng.lognormvariate(math.log(self.median_ms), self.sigma) if self.median_ms else 0
            )
        else:
            value = self.ms
        return value if self.cap_ms is None else min(value, self.cap_ms)

    def as_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"kind": self.kind}
        if self.kind == "fixed":
            shown["ms"] = self.ms
        elif self.kind == "uniform":
            shown |= {"minMs": self.min_ms, "maxMs": self.max_ms}
        else:
            shown |= {"medianMs": self.median_ms, "sigma": self.sigma}
        if self.cap_ms is not None:
            shown["capMs"] = self.cap_ms
        return shown


# The ways a rule can answer instead of the sandbox (at most one per rule): a status in the
# API's envelope (or its gateway's), a connection dropped after the headers, reset before any
# byte, a body cut short, a 2xx whose body is not JSON, the real body dribbled out slowly, or
# no answer at all until the client gives up.
ANSWERS = ("status", "drop", "reset", "truncate", "malformed", "dribbleMs", "timeout")
# What a rule may do to the answer of a call it let through (`afterCommit`): lose it.
LOST_ANSWERS = ("status", "drop", "reset", "timeout")


@dataclass(frozen=True)
class Effect:
    """What a rule does: wait first (`latency`, or the older `delay_ms`), then answer in one
    of the `ANSWERS` ways. With `after_commit`, the call is carried out first and only its
    answer is lost (the client cannot tell whether the write happened)."""

    status: int | None = None
    delay_ms: int | None = None
    latency: Latency | None = None
    drop: bool = False
    reset: bool = False
    truncate: bool = False
    malformed: bool = False
    dribble_ms: int | None = None
    timeout: bool = False
    after_commit: bool = False

    @property
    def acts_after(self) -> bool:
        """Whether it needs the call carried out first: its answer is lost or reshaped."""
        return self.after_commit or self.truncate or self.dribble_ms is not None

    def describe(self) -> str:
        """`delay 200 ms, status 503` (or `drop`), as a request's log line says it."""
        parts = [f"delay {self.delay_ms} ms"] if self.delay_ms else []
        parts += [f"latency {self.latency.kind}"] if self.latency else []
        parts += [f"{name}" for name in ("drop", "reset", "truncate", "malformed", "timeout")
                  if getattr(self, name)]  # fmt: skip
        parts += [f"dribble {self.dribble_ms} ms"] if self.dribble_ms is not None else []
        parts += [f"status {self.status}"] if self.status is not None else []
        text = ", ".join(parts) or "none"
        return f"after commit: {text}, answer lost" if self.after_commit else text

    def as_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {}
        if self.status is not None:
            shown["status"] = self.status
        if self.delay_ms is not None:
            shown["delayMs"] = self.delay_ms
        if self.latency is not None:
            shown["latency"] = self.latency.as_json()
        for name in ("drop", "reset", "truncate", "malformed", "timeout"):
            if getattr(self, name):
                shown[name] = True
        if self.dribble_ms is not None:
            shown["dribbleMs"] = self.dribble_ms
        if self.after_commit:
            shown["afterCommit"] = True
        return shown


def effect_from_json(given: dict[str, Any]) -> Effect:
    """An effect from its JSON (already checked against the control spec); a combination that
    makes no sense is a 422 saying why."""
    answers = [name for name in ANSWERS if given.get(name) not in (None, False)]
    if len(answers) > 1:
        raise Unprocessable(f"a fault rule answers one way, not {' and '.join(answers)}")
    after_commit = bool(given.get("afterCommit", False))
    if after_commit and (not answers or answers[0] not in LOST_ANSWERS):
        raise Unprocessable(
            "a fault rule's afterCommit loses the answer of a call that was carried out: "
            "give it one of " + ", ".join(LOST_ANSWERS)
        )
    if not answers and "delayMs" not in given and "latency" not in given:
        raise Unprocessable(
            "a fault rule's effect does something: wait (delayMs, latency) or answer ("
            + ", ".join(ANSWERS)
            + ")"
        )
    latency = None
    if "latency" in given:
        wanted = given["latency"]
        latency = Latency(
            kind=wanted["kind"],
            ms=wanted.get("ms", 0),
            min_ms=wanted.get("minMs", 0),
            max_ms=wanted.get("maxMs", 0),
            median_ms=wanted.get("medianMs", 0),
            sigma=wanted.get("sigma", 0.0),
            cap_ms=wanted.get("capMs"),
        )
        if latency.kind == "uniform" and latency.min_ms > latency.max_ms:
            raise Unprocessable("a fault rule's uniform latency has a minMs at most its maxMs")
    return Effect(
        status=given.get("status"),
        delay_ms=given.get("delayMs"),
        latency=latency,
        drop=given.get("drop", False),
        reset=given.get("reset", False),
        truncate=given.get("truncate", False),
        malformed=given.get("malformed", False),
        dribble_ms=given.get("dribbleMs"),
        timeout=given.get("timeout", False),
        after_commit=after_commit,
    )


@dataclass
class Rule:
    id: str
    match: Match
    effect: Effect
    probability: float = 1.0
    count: int | None = None  # how many times it may fire; None is without end
    fired: int = 0
    # An outage window: the rule fires only before this instant, on the clock of the tenant
    # it names (the server's clock when it names none); None is without end.
    until: datetime | None = None

    @property
    def spent(self) -> bool:
        return self.count is not None and self.fired >= self.count

    def as_json(self) -> dict[str, Any]:
        match = {k: v for k, v in vars(self.match).items() if v is not None}
        if "operation_id" in match:
            match["operationId"] = match.pop("operation_id")
        return {
            "id": self.id,
            "match": match,
            "effect": self.effect.as_json(),
            "probability": self.probability,
            "count": self.count,
            "fired": self.fired,
            "until": None if self.until is None else self.until.isoformat(),
        }


@dataclass
class FaultRules:
    """The rules of one server, applied in the order they were added; the first that fires
    decides. Probabilities draw from a source seeded by the server's seed, so a run repeats."""

    rng: random.Random
    rules: dict[str, Rule] = field(default_factory=dict)
    _next: int = 0

    def add(
        self,
        match: Match,
        effect: Effect,
        probability: float,
        count: int | None,
        until: datetime | None = None,
    ) -> Rule:
        self._next += 1
        rule = Rule(f"fault-{self._next}", match, effect, probability, count, until=until)
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

    def fire(
        self, request: RequestFacts, now_of: Callable[[str | None], datetime]
    ) -> Effect | None:
        """The effect of the first live rule that matches and wins its draw, counted.
        `now_of(tenant)`: the time on a tenant's clock (None: the server's), for windows."""
        for rule in self.rules.values():
            if rule.spent or not rule.match.admits(request):
                continue
            if rule.until is not None and now_of(rule.match.tenant) >= rule.until:
                continue
            if rule.probability < 1.0 and self.rng.random() >= rule.probability:
                continue
            rule.fired += 1
            return replace(rule.effect)
        return None
