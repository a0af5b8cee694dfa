"""Rate limits as the vendors enforce them: a token bucket per tenant and API, refilled on the
tenant's clock (so a frozen clock makes a limit deterministic). Off unless a setting or the
control API turns one on."""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

# How many buckets the server keeps; past it the least recently used goes (a tenant that
# comes back starts with a full bucket, which errs on the side of letting calls through).
MAX_BUCKETS = 10_000
_SPEC = re.compile(r"^\s*(?P<api>[a-z]+)\s*=\s*(?P<requests>\d+)\s*/\s*(?P<seconds>\d+)\s*s?\s*$")


class InvalidRateLimit(ValueError):
    """A rate-limit setting that cannot be read; the message says what is wrong."""


@dataclass(frozen=True)
class Limit:
    """At most `requests` calls in any `per_seconds`, with a burst of `requests`."""

    requests: int
    per_seconds: int

    @property
    def per_second(self) -> float:
        return self.requests / self.per_seconds

    def as_json(self) -> dict[str, int]:
        return {"requests": self.requests, "perSeconds": self.per_seconds}


# A tenant's override that switches an API's limit off, whatever the server's setting.
OFF = None


@dataclass(frozen=True)
class Quota:
    """What one call left: the limit, the calls left now, when the bucket is full again, and,
    for a refused call, how long until the next one may go."""

    limit: Limit
    remaining: int
    reset_at: datetime
    retry_after: int | None = None

    @property
    def refused(self) -> bool:
        return self.retry_after is not None


def parse_limits(specs: Iterable[str], apis: Iterable[str]) -> dict[str, Limit]:
    """`decoda=100/10` (100 calls per 10 s) for each API named; raises `InvalidRateLimit`."""
    known = set(apis)
    limits: dict[str, Limit] = {}
    for spec in specs:
        found = _SPEC.match(spec)
        if found is None:
            raise InvalidRateLimit(
                f"rate limit {spec!r} is not <api>=<requests>/<seconds>, e.g. decoda=100/10"
            )
        api = found["api"]
        if api not in known:
            raise InvalidRateLimit(
                f"rate limit {spec!r} names no API; the APIs are {', '.join(sorted(known))}"
            )
        requests, seconds = int(found["requests"]), int(found["seconds"])
        if requests < 1 or seconds < 1:
            raise InvalidRateLimit(f"rate limit {spec!r} must allow at least 1 call per second")
        limits[api] = Limit(requests, seconds)
    return limits


@dataclass
class _Bucket:
    tokens: float
    at: datetime


class RateLimiter:
    """The server's limits (per API), each tenant's overrides, and the buckets."""

    def __init__(self, defaults: dict[str, Limit]) -> None:
        self.defaults = dict(defaults)
        # tenant → API → its own limit, or OFF.
        self.overrides: dict[str, dict[str, Limit | None]] = {}
        self._buckets: OrderedDict[tuple[str, str], _Bucket] = OrderedDict()
        # Whether any limit could apply: most servers have none, and every request asks.
        self.active = self._any_limit()

    def _any_limit(self) -> bool:
        return bool(self.defaults) or any(
            limit is not None for limits in self.overrides.values() for limit in limits.values()
        )

    def limit(self, tenant: str, api: str) -> Limit | None:
        own = self.overrides.get(tenant, {})
        return own[api] if api in own else self.defaults.get(api)

    def override(self, tenant: str, api: str, limit: Limit | None, *, inherit: bool) -> None:
        """Give the tenant its own limit for `api` (OFF: none), or, with `inherit`, go back to
        the server's. Either way the tenant's bucket starts full."""
        own = self.overrides.setdefault(tenant, {})
        if inherit:
            own.pop(api, None)
        else:
            own[api] = limit
        if not own:
            del self.overrides[tenant]
        self._buckets.pop((tenant, api), None)
        self.active = self._any_limit()

    def take(self, tenant: str, api: str, now: datetime) -> Quota | None:
        """Spend one call from the tenant's bucket for `api`; None when no limit applies. A
        refused call spends nothing."""
        limit = self.limit(tenant, api)
        if limit is None:
            return None
        key = (tenant, api)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(limit.requests), now)
            while len(self._buckets) > MAX_BUCKETS:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            # A clock moved back (frozen at an earlier instant) refills nothing.
            elapsed = max((now - bucket.at).total_seconds(), 0.0)
            bucket.tokens = min(limit.requests, bucket.tokens + elapsed * limit.per_second)
            bucket.at = max(now, bucket.at)
        retry_after = None
        if bucket.tokens >= 1:
            bucket.tokens -= 1
        else:
            retry_after = max(1, math.ceil((1 - bucket.tokens) / limit.per_second))
        full_in = (limit.requests - bucket.tokens) / limit.per_second
        return Quota(
            limit=limit,
            remaining=math.floor(bucket.tokens),
            reset_at=bucket.at + _seconds(full_in),
            retry_after=retry_after,
        )


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=math.ceil(value))
