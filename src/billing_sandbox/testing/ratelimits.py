"""A tenant's rate limits (`/_sandbox/tenants/{tenant}/rate-limits`): set, switch off, inherit."""

from __future__ import annotations

from typing import Any

from billing_sandbox.testing.http import Connection, segment

# What `RateLimits.set` takes per API: (requests, per_seconds), "off", or None (the server's).
Setting = tuple[int, int] | str | None


class RateLimits:
    """One tenant's rate limits. Past a limit, the API answers 429 with `Retry-After`; the
    bucket refills on the tenant's clock, so a frozen clock keeps a test deterministic."""

    def __init__(self, connection: Connection, tenant: str) -> None:
        self._connection = connection
        self.tenant = tenant

    @property
    def _path(self) -> str:
        return f"/tenants/{segment(self.tenant)}/rate-limits"

    def get(self) -> dict[str, Any]:
        """Each API's limit for the tenant (`{"limit": {...} | None, "source": ...}`)."""
        limits: dict[str, Any] = self._connection.control("GET", self._path)["limits"]
        return limits

    def set(self, **per_api: Setting) -> dict[str, Any]:
        """`set(decoda=(5, 10))`: 5 calls, refilled at 5 per 10 s; `set(decoda="off")`;
        `set(decoda=None)`: back to the server's `--rate-limit`."""
        body: dict[str, Any] = {}
        for api, setting in per_api.items():
            if isinstance(setting, tuple):
                requests, per_seconds = setting
                body[api] = {"requests": requests, "perSeconds": per_seconds}
            else:
                body[api] = setting
        limits: dict[str, Any] = self._connection.control("PUT", self._path, json=body)["limits"]
        return limits
