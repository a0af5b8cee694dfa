"""Clocks: where every timestamp the sandbox writes or checks comes from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that can say what time it is (always timezone-aware, UTC)."""

    def now(self) -> datetime: ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to, for deterministic time-dependent behaviour."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta


class TenantClock:
    """One tenant's time: the server's clock, shifted by however far the tenant was advanced,
    or frozen at an instant. Every timestamp a fake writes for the tenant comes from here."""

    def __init__(self, base: Clock) -> None:
        self._base = base
        self.offset = timedelta(0)
        self.frozen_at: datetime | None = None

    def now(self) -> datetime:
        if self.frozen_at is not None:
            return self.frozen_at
        return self._base.now() + self.offset

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
