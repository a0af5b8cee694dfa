"""The server's memory and its cap (`--max-memory`): what the process holds (its resident set,
read from /proc), when to look at it, and handing freed memory back to the system. What is
given up when it is over, and in which order, is the tenants' business (`held.py`)."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from billing_sandbox.settings import InvalidSetting, Settings, variable

STATM = "/proc/self/statm"
# How often the cap looks at the process, at the latest: every this many uses of a tenant.
EVERY_USES = 64
# What a tenant made or loaded back is counted as until the cap looks (one seeded in all three
# APIs holds about 0.5 MB): a burst of new tenants is looked at sooner.
TENANT_ESTIMATE = 1024 * 1024


class Growth:
    """Bytes the tenants added since the cap last looked (kept renderings, exactly; tenants made
    or loaded, by `TENANT_ESTIMATE`): the cap looks sooner when memory grows fast. `rendered`:
    the renderings kept since the tenants' renderings were last counted, against their
    server-wide bound (`HeldTenants`), which is counted again only when they may be past it."""

    def __init__(self) -> None:
        self.grown = 0
        self.rendered = 0


class ResidentSet:
    """The process's resident set in bytes: /proc/self/statm's second field, in pages. The file
    is opened once and read again with one `pread` (about 2 µs; opening it each time costs
    ten times that), and closed with its reader."""

    _fd = -1

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self._page = os.sysconf("SC_PAGE_SIZE")

    def __call__(self) -> int:
        return int(os.pread(self._fd, 128, 0).split()[1]) * self._page

    def __del__(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)


def _trimmer() -> Callable[[int], Any] | None:
    try:
        return getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:
        return None


_MALLOC_TRIM = _trimmer()


def release_freed() -> None:
    """Hand the system back the heap pages freed memory left (glibc's `malloc_trim`): without
    it, freed renderings and tenants stay in the resident set until reused, and a cap that
    reads the resident set would see nothing given up. Elsewhere (musl, macOS), nothing."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


@dataclass
class MemoryCap:
    """At most `cap` bytes resident. It looks (reads `resident`) every `EVERY_USES` uses of a
    tenant, or sooner once the tenants have grown by `step` (a 64th of the cap, at least
    1 MiB), so memory grows by about a step between two looks: a relief starts a step under
    the cap (`high`), and what it gives up brings memory to `target`, four steps under it, so
    that the next looks are not over at once."""

    cap: int
    resident: Callable[[], int]
    every: int = EVERY_USES
    step: int = 0
    high: int = field(init=False)
    target: int = field(init=False)
    # The resident set when the cap was made, before any tenant: what the tenants share is the
    # rest, which tells how many to let go of.
    base: int = field(init=False)
    # Where a relief could not bring memory under `high` (what was given up was not handed
    # back, or nothing more could go): the cap waits until memory grows a step past it.
    stuck_at: int = 0
    _uses: int = 0

    def __post_init__(self) -> None:
        self.step = self.step or max(self.cap // 64, 1 << 20)
        self.high = self.cap - self.step
        self.target = max(self.cap - 4 * self.step, self.cap // 2)
        self.base = self.resident()

    def due(self, growth: Growth) -> bool:
        """Whether to look now: a use of a tenant, counted (no system call)."""
        self._uses += 1
        if self._uses < self.every and growth.grown < self.step:
            return False
        self._uses = 0
        growth.grown = 0
        return True

    def look_soon(self) -> None:
        """Look again at the next use (a relief left work to do)."""
        self._uses = self.every

    def over(self, resident: int) -> bool:
        """Whether `resident` calls for a relief: past `high`, and a step past where the last
        relief was stuck."""
        if resident <= self.high:
            self.stuck_at = 0
            return False
        return resident > self.stuck_at + self.step if self.stuck_at else True


def memory_cap(settings: Settings) -> MemoryCap | None:
    """The cap `max_memory` sets, or None without one. Refused (InvalidSetting, so `serve`
    exits 2 naming it) where the process cannot read its own memory: a cap never looked at
    would be a promise not kept."""
    if not settings.max_memory:
        return None
    try:
        resident = ResidentSet(STATM)
    except OSError as error:
        raise InvalidSetting(
            f"max_memory ({variable('max_memory')}) needs {STATM} to read the server's memory "
            f"({error.strerror or error}): it is Linux's; leave the cap unset on this system "
            "and bound memory with max_tenants"
        ) from None
    return MemoryCap(settings.max_memory, resident)
