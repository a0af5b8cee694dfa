"""Delivering a tenant's due events: signed JSON POSTs from background tasks, never in the way
of an API call. What is due, and what a try's outcome means, is the store's to decide (on the
tenant's clock); the courier only carries."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import httpx

from billing_sandbox.clock import micros
from billing_sandbox.errors import StorageUnavailable
from billing_sandbox.events.targets import Address, checked, refusal, refused_on_sending
from billing_sandbox.sandbox import Sandbox

log = logging.getLogger("billing_sandbox")

# A receiver has this long to answer (Decoda's guide asks receivers to answer within 5 s).
TIMEOUT_SECONDS = 5.0
# How often, in real time, tenants whose clocks run are checked for tries that fell due.
CHECK_EVERY_SECONDS = 1.0
# Gives a host's addresses, as text, in the order to try them: one lookup per try.
Resolve = Callable[[str, int], Awaitable[list[str]]]
_DEFAULT_PORTS = {"http": 80, "https": 443}

# How a try went, as the `webhook_tries` counter's `outcome` label says it: an answer that was
# a 2xx, one that was not, none in time, no connection, or an address the rule refuses.
TryKind = Literal["delivered", "rejected", "timeout", "unreachable", "refused"]
# How a delivery ended for good, as `Outbox.settle` says it (`webhook_deliveries`' outcome).
Settled = Literal["delivered", "exhausted"]


@dataclass(frozen=True)
class Outgoing:
    """One try to send: the store's key for it, where it goes, the exact body and headers."""

    key: str
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """How a try went: the receiver's status, or why there was none, and how long it took
    (real time: a receiver is slow in seconds, whatever the tenant's clock says). `kind`: the
    try's outcome in one word, set where the outcome is made; None for a try replayed from the
    state's log, which keeps only what the store needs."""

    status: int | None
    error: str | None = None
    duration_ms: float = 0.0
    kind: TryKind | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Outbox(Protocol):
    """What a store with events offers the courier."""

    def has_due(self) -> bool:
        """Whether a try is due now on the store's clock."""

    def take_due(self) -> list[Outgoing]:
        """The tries due now, each marked as being sent (so it is taken once)."""

    def settle(self, key: str, outcome: Outcome) -> Settled | None:
        """Record a try's outcome: delivered, or the next try scheduled, or out of tries.
        Returns how the delivery ended when it did for good, None while tries are left."""


# A try taken out: its API's name, the outbox it came from, and the try itself.
Taken = tuple[str, Outbox, Outgoing]


async def resolve_host(host: str, port: int) -> list[str]:
    """The addresses the system's resolver gives `host`, in its order of preference."""
    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(sockaddr[0]) for *_, sockaddr in found]


async def send(
    client: httpx.AsyncClient,
    outgoing: Outgoing,
    allowed: tuple[str, ...],
    resolve: Resolve = resolve_host,
) -> Outcome:
    """POST one try, if the URL and every address its host resolves to pass the rule under
    `allowed` (`webhook_hosts`); any failure to get an answer is an outcome, never an
    exception. A refused target is never contacted."""
    started = time.perf_counter()

    def took() -> float:
        return round((time.perf_counter() - started) * 1000, 3)

    # The URL is judged again: a restored snapshot or a narrower setting may have changed it.
    problem = refusal(outgoing.url, allowed)
    if problem is not None:
        return Outcome(None, f"not sent: {problem}", took(), "refused")
    url = httpx.URL(outgoing.url)
    try:
        port = url.port or _DEFAULT_PORTS[url.scheme]
        found = await asyncio.wait_for(resolve(url.host, port), TIMEOUT_SECONDS)
    except (OSError, TimeoutError):
        return Outcome(None, f"not sent: {url.host!r} could not be resolved", took(), "unreachable")
    addresses = checked(url.host, found, allowed)
    if addresses is None:
        return Outcome(None, refused_on_sending(url.host, allowed), took(), "refused")
    return await _post(client, outgoing, url, addresses, took)


async def _post(
    client: httpx.AsyncClient,
    outgoing: Outgoing,
    url: httpx.URL,
    addresses: list[Address],
    took: Callable[[], float],
) -> Outcome:
    # Connect to a checked address itself, never to the name: a second lookup could answer
    # otherwise (DNS rebinding). The name still goes in `Host` and, over https, in TLS's SNI,
    # against which the receiver's certificate is verified.
    headers = {**outgoing.headers, "Host": url.netloc.decode("ascii")}
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    failure: httpx.HTTPError | None = None
    for address in addresses:
        pinned = url.copy_with(host=str(address))
        try:
            response = await client.post(
                pinned, content=outgoing.body, headers=headers, extensions=extensions
            )
        except httpx.ConnectError as error:
            # Nobody listens there; the next address may (`localhost`: ::1, then 127.0.0.1).
            failure = error
            continue
        except httpx.TimeoutException:
            return Outcome(None, f"no answer within {TIMEOUT_SECONDS:g} s", took(), "timeout")
        except httpx.HTTPError as error:
            # The connection broke before a whole answer (reset, a protocol error).
            return Outcome(None, _named(error), took(), "unreachable")
        if response.is_success:
            return Outcome(response.status_code, None, took(), "delivered")
        return Outcome(response.status_code, response.reason_phrase, took(), "rejected")
    return Outcome(None, _named(failure), took(), "unreachable")


def _named(error: httpx.HTTPError | None) -> str:
    kind = type(error).__name__
    return f"{kind}: {error}" if str(error) else kind


class Courier:
    """Sends the due events of a sandbox's tenants, each tenant's from its own task."""

    def __init__(
        self,
        sandbox: Sandbox,
        outbox_of: Callable[[str, object], Outbox | None],
        resolve: Resolve = resolve_host,
    ):
        """`outbox_of(api_name, store)`: the store's outbox, None for an API without events;
        `resolve`: how a receiver's host becomes addresses (a test may give its own)."""
        self._sandbox = sandbox
        self._outbox_of = outbox_of
        self.resolve = resolve
        # The client every try goes through; a test may set one with a mock transport.
        self.client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy: set[str] = set()

    def _outboxes(self, tenant_id: str) -> list[tuple[str, Outbox]]:
        """The tenant's outboxes, each with its API's name."""
        # Not `tenants()`: that copies every tenant in memory, on each write's path.
        tenant = self._sandbox.held(tenant_id)
        if tenant is None:
            return []
        found = (
            (name, self._outbox_of(name, store)) for name, store in tenant.built_stores().items()
        )
        return [(name, outbox) for name, outbox in found if outbox is not None]

    async def kick(self, tenant_id: str) -> None:
        """Start sending the tenant's due tries, if any, and return at once."""
        self.start(tenant_id)

    def has_due(self, tenant_id: str, api_name: str | None = None, store: object = None) -> bool:
        """Whether the tenant has tries due now and no delivery running (checked after each
        write, so without building a list: most tenants subscribe no receiver). With
        `api_name` and its `store`, only that API's outbox is looked at: a vendor call makes
        only its own API's events due (those that fall due as time passes, the periodic
        check finds)."""
        if tenant_id in self._busy:
            return False
        if api_name is not None:
            outbox = self._outbox_of(api_name, store)
            return outbox is not None and outbox.has_due()
        tenant = self._sandbox.held(tenant_id)
        if tenant is None:
            return False
        for name, store in tenant.built_stores().items():
            outbox = self._outbox_of(name, store)
            if outbox is not None and outbox.has_due():
                return True
        return False

    def start(self, tenant_id: str) -> None:
        if not self.has_due(tenant_id):
            return
        self._busy.add(tenant_id)
        task = asyncio.get_running_loop().create_task(self._deliver(tenant_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, tenant_id: str) -> None:
        try:
            # Tries settled here may make others due at once (a clock moved far): go again.
            while batch := self._take(tenant_id):
                # In order to each receiver (events arrive as they happened), receivers at once.
                by_url: dict[str, list[Taken]] = {}
                for taken in batch:
                    by_url.setdefault(taken[2].url, []).append(taken)
                await asyncio.gather(
                    *(self._in_order(tenant_id, tries) for tries in by_url.values())
                )
        except StorageUnavailable as error:
            log.error("tenant %r: no event sent: %s", tenant_id, error.message)
        except Exception:
            log.exception("delivering the events of tenant %r failed", tenant_id)
        finally:
            self._busy.discard(tenant_id)

    def _take(self, tenant_id: str) -> list[Taken]:
        """The tries due now of each outbox of the tenant, taken out: each taking written
        ahead to the state's log (at the instant it read), so that a restart knows of it."""
        tenant = self._sandbox.held(tenant_id)
        if tenant is None:
            return []
        taken: list[Taken] = []
        for name, outbox in self._outboxes(tenant_id):
            if not outbox.has_due():
                continue
            at = tenant.clock.now()
            self._sandbox.changes.append(
                {"t": "take", "api": name, "tenant": tenant_id, "at": micros(at)}
            )
            with tenant.clock.pinned(at):
                taken += [(name, outbox, item) for item in outbox.take_due()]
        return taken

    async def _in_order(self, tenant_id: str, tries: list[Taken]) -> None:
        for name, outbox, item in tries:
            allowed = self._sandbox.settings.webhook_hosts
            outcome = await send(self._http(), item, allowed, self.resolve)
            self._settle(tenant_id, name, outbox, item.key, outcome)

    def _settle(
        self, tenant_id: str, name: str, outbox: Outbox, key: str, outcome: Outcome
    ) -> None:
        """Record a try's outcome, written ahead to the state's log, and count it."""
        metrics = self._sandbox.metrics
        if metrics is not None and outcome.kind is not None:
            metrics.count("webhook_tries", name, outcome.kind)
        tenant = self._sandbox.held(tenant_id)
        if tenant is None:
            return  # reset while the try was out: nothing to settle
        at = tenant.clock.now()
        record = {
            "t": "settle",
            "api": name,
            "tenant": tenant_id,
            "key": key,
            "outcome": {
                "status": outcome.status,
                "error": outcome.error,
                "durationMs": outcome.duration_ms,
            },
            "at": micros(at),
        }
        try:
            self._sandbox.changes.append(record)
        except StorageUnavailable as error:
            # Settled all the same: a restart finds the try in flight and sends it again.
            log.error("tenant %r: a try's outcome is not kept: %s", tenant_id, error.message)
        with tenant.clock.pinned(at):
            ended = outbox.settle(key, outcome)
        if metrics is not None and ended is not None:
            metrics.count("webhook_deliveries", name, ended)

    def _http(self) -> httpx.AsyncClient:
        if self.client is None:
            # No proxy from the environment: it, not the checked address, would be connected to.
            self.client = httpx.AsyncClient(
                timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False
            )
        return self.client

    def check(self) -> None:
        """Start the tenants whose clocks have reached a due try (the periodic check)."""
        for tenant_id in self._sandbox.tenants():
            self.start(tenant_id)

    async def run(self) -> None:
        """Check every second until cancelled (the server's lifespan runs it)."""
        while True:
            await asyncio.sleep(CHECK_EVERY_SECONDS)
            self.check()

    async def idle(self) -> None:
        """Wait until no delivery is in flight (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self.client is not None:
            await self.client.aclose()
            self.client = None
