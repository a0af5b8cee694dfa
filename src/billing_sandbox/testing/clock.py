"""A tenant's clock (`/_sandbox/tenants/{tenant}/clock`): freeze, advance, resume, now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from billing_sandbox.testing.http import Connection, segment


@dataclass(frozen=True)
class ClockState:
    """A tenant's time, and the Decoda installments the change just settled (by id)."""

    tenant: str
    now: datetime
    frozen: bool
    settled_installments: list[str]

    @classmethod
    def from_json(cls, state: dict[str, Any]) -> ClockState:
        return cls(state["tenant"], datetime.fromisoformat(state["now"]), state["frozen"],
                   state["settledInstallments"])  # fmt: skip


class Clock:
    """One tenant's clock. Every timestamp the fakes write for the tenant comes from it, and
    moving it past a Decoda installment settles the installment."""

    def __init__(self, connection: Connection, tenant: str) -> None:
        self._connection = connection
        self.tenant = tenant

    def state(self) -> ClockState:
        """The tenant's time, and whether it is frozen."""
        return ClockState.from_json(self._connection.control("GET", self._path))

    def now(self) -> datetime:
        """The tenant's time now (timezone-aware)."""
        return self.state().now

    def freeze(self, at: datetime | None = None) -> ClockState:
        """Stop the tenant's time at `at` (timezone-aware), or where it is now."""
        if at is None:
            at = self.now()
        if at.tzinfo is None:
            raise ValueError(f"freeze the clock at a timezone-aware time, not {at!r}")
        return self._set(freezeAt=at.isoformat())

    def advance(self, by: timedelta | float) -> ClockState:
        """Move the tenant's time on by `by` (a timedelta, or seconds: whole ones, not negative),
        frozen or not, settling what falls due."""
        seconds = by.total_seconds() if isinstance(by, timedelta) else float(by)
        if not seconds.is_integer():
            raise ValueError(f"the sandbox advances a clock by whole seconds, not {seconds}")
        return self._set(advanceSeconds=int(seconds))

    def resume(self) -> ClockState:
        """Let a frozen clock run again, from the instant it was frozen at."""
        return self._set(resume=True)

    @property
    def _path(self) -> str:
        return f"/tenants/{segment(self.tenant)}/clock"

    def _set(self, **change: Any) -> ClockState:
        return ClockState.from_json(self._connection.control("POST", self._path, json=change))
