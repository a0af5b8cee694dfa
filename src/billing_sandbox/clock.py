"""Clocks: where every timestamp the sandbox writes or checks comes from."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, tzinfo
from datetime import time as time_of_day
from typing import Protocol


class Clock(Protocol):
    """Anything that can say what time it is (always timezone-aware, UTC)."""

    def now(self) -> datetime: ...

    # `now().timestamp()`, for a check that needs only a number (every token check asks).
    def timestamp(self) -> float: ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def timestamp(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to, for deterministic time-dependent behaviour."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def timestamp(self) -> float:
        return self._now.timestamp()

    def advance(self, delta: timedelta) -> None:
        self._now += delta


class TenantClock:
    """One tenant's time: the server's clock, shifted by however far the tenant was advanced,
    or frozen at an instant. Every timestamp a fake writes for the tenant comes from here."""

    def __init__(self, base: Clock) -> None:
        self._base = base
        self.offset = timedelta(0)
        self.frozen_at: datetime | None = None
        # While a change is carried out, the one instant it reads (see `pin`).
        self._pinned: datetime | None = None

    @property
    def offset(self) -> timedelta:
        """How far the tenant's time is ahead of the server's (behind, when negative)."""
        return self._offset

    @offset.setter
    def offset(self, offset: timedelta) -> None:
        self._offset = offset
        self._offset_seconds = offset.total_seconds()

    def ahead(self) -> timedelta:
        """How far the tenant's time is from the server's now (behind, when negative): the
        offset of a running clock; for a frozen one, a gap that grows as the server's runs."""
        return self.now() - self._base.now()

    def now(self) -> datetime:
        if self._pinned is not None:
            return self._pinned
        if self.frozen_at is not None:
            return self.frozen_at
        return self._base.now() + self._offset

    def timestamp(self) -> float:
        """`now().timestamp()`, without making a datetime (a third of a token check)."""
        if self._pinned is not None:
            return self._pinned.timestamp()
        if self.frozen_at is not None:
            return self.frozen_at.timestamp()
        return self._base.timestamp() + self._offset_seconds

    @contextmanager
    def pinned(self, at: datetime) -> Iterator[None]:
        """Read `at` inside the block: a change carried out under one pinned instant makes the
        same timestamps when the write-ahead log replays it pinned to the same instant."""
        self._pinned = at
        try:
            yield
        finally:
            self._pinned = None

    def freeze(self, at: datetime) -> None:
        self.frozen_at = at

    def resume(self) -> None:
        """Run again from the frozen instant (keeping the shift it implies)."""
        if self.frozen_at is not None:
            self.offset = self.frozen_at - self._base.now()
            self.frozen_at = None

    def advance(self, delta: timedelta) -> None:
        if self.frozen_at is not None:
            self.frozen_at += delta
        else:
            self.offset += delta


class Schedule:
    """When something recurs on the server's own time (a shared demo's reset): every `every`
    from `start`, or, `every` being a time of day, daily at it in `zone` (by default the
    server's local time)."""

    def __init__(
        self, every: timedelta | time_of_day, start: datetime, zone: tzinfo | None = None
    ) -> None:
        self.every = every
        self.start = start
        self.zone = zone

    def next_after(self, now: datetime) -> datetime:
        """The first instant of the schedule after `now`."""
        every = self.every
        if isinstance(every, timedelta):
            turns = max(0, (now - self.start) // every) + 1
            return self.start + turns * every
        local = now.astimezone(self.zone)
        at = local.replace(hour=every.hour, minute=every.minute, second=0, microsecond=0)
        if at <= local:
            at = (local + timedelta(days=1)).replace(
                hour=every.hour, minute=every.minute, second=0, microsecond=0
            )
        return at


# The longest a schedule sleeps before it reads the clock again: a clock set forward, or a
# machine woken from sleep, is noticed within it.
_LONGEST_WAIT_SECONDS = 60.0


async def recurring(
    schedule: Schedule,
    work: Callable[[], Awaitable[None]],
    clock: Clock,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Run `work` at each instant of `schedule`, as `clock` tells time, until cancelled;
    instants missed meanwhile (a machine asleep) are made up once, not once each."""
    due = schedule.next_after(clock.now())
    while True:
        left = (due - clock.now()).total_seconds()
        if left > 0:
            await sleep(min(left, _LONGEST_WAIT_SECONDS))
            continue
        await work()
        due = schedule.next_after(max(due, clock.now()))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(at: datetime) -> int:
    """An instant as whole microseconds since the epoch (exact, unlike a float timestamp)."""
    return (at - _EPOCH) // _MICROSECOND


def instant(value: int) -> datetime:
    """The instant `micros` gave."""
    return _EPOCH + timedelta(microseconds=value)
