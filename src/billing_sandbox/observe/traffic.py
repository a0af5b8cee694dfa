"""The last minutes of traffic, second by second: what the dashboard's live charts draw.

`Traffic` samples `Metrics.totals_by_api()` (cumulative counts) and keeps what each second
added: requests, failures and how many fell in each duration bucket. A second is one of the
server's own monotonic clock, never a tenant's: a tenant's clock may be frozen or days ahead,
and the charts show what the server is doing now. Counts since the previous sample are put in
the second of this one, so a sample a second (the app's task) draws traffic where it happened,
give or take a second; a read of the charts samples first, so it sees every request so far.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from billing_sandbox.observe.metrics import ApiTotals, Metrics

KEPT_SECONDS = 600  # ten minutes: what `GET /_sandbox/traffic?minutes=` may ask for at most


@dataclass(frozen=True)
class Second:
    """What one API did in one second: requests, of them failures, and their durations'
    counts per `REQUEST_BUCKETS` bucket (not cumulative), then over every bound."""

    requests: int
    failures: int
    buckets: tuple[int, ...]

    def plus(self, other: Second) -> Second:
        added = tuple(a + b for a, b in zip(self.buckets, other.buckets, strict=True))
        return Second(self.requests + other.requests, self.failures + other.failures, added)


def _added(now: ApiTotals, before: ApiTotals | None) -> Second | None:
    """What an API's totals grew by since `before`; None when they did not."""
    if before is None:
        return Second(now.requests, now.failures, now.seconds) if now.requests else None
    if now.requests == before.requests:
        return None
    buckets = tuple(a - b for a, b in zip(now.seconds, before.seconds, strict=True))
    return Second(now.requests - before.requests, now.failures - before.failures, buckets)


class Traffic:
    """Per-second differences of the metrics' totals, for the last `KEPT_SECONDS` seconds.
    `now`: the clock that names a second (the server's monotonic one)."""

    def __init__(self, metrics: Metrics, now: Callable[[], float] = time.monotonic) -> None:
        self._metrics = metrics
        self._now = now
        # From nothing: the first sample counts every request since the server started.
        self._totals: dict[str, ApiTotals] = {}
        # (second, what each API added in it), oldest first; seconds with nothing are left out.
        self._seconds: deque[tuple[int, dict[str, Second]]] = deque()

    def sample(self) -> int:
        """Take what the totals grew by since the last sample; the current second."""
        second = math.floor(self._now())
        totals = self._metrics.totals_by_api()
        added = {
            api: grown
            for api, now in totals.items()
            if (grown := _added(now, self._totals.get(api))) is not None
        }
        self._totals = totals
        if added:
            if self._seconds and self._seconds[-1][0] == second:
                held = self._seconds[-1][1]
                for api, grown in added.items():
                    held[api] = held[api].plus(grown) if api in held else grown
            else:
                self._seconds.append((second, added))
        while self._seconds and self._seconds[0][0] <= second - KEPT_SECONDS:
            self._seconds.popleft()
        return second

    def last(self, seconds: int) -> Iterator[tuple[int, dict[str, Second]]]:
        """Each second of the last `seconds` (the current one included) that saw requests,
        oldest first, as how many seconds ago it was (0: the current second)."""
        second = self.sample()
        for at, added in self._seconds:
            if at > second - seconds:
                yield second - at, added

    async def run(self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """Sample once a second while the server runs (the app's lifespan cancels it)."""
        while True:
            self.sample()
            await sleep(1.0)
