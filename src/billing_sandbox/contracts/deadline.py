"""One HTTP exchange held to one deadline, whatever it is doing when the time is up.

httpx's timeouts bound each step (connecting, each read), so a server that drips a byte a
second, in its head or its body, never trips them and holds the exchange for as long as it
likes. Here a timer shuts the exchange's connections down at the deadline: a read blocked on a
socket that is shut down returns at once, so the exchange ends within the deadline in any
phase (connecting, the head, the body, a redirect's next hop). The sockets are learnt from
httpx's documented `trace` request extension as connections open, and from the answer's
`network_stream` for a connection the client reuses; reading checks the clock between chunks
too, for a transport that reports neither.

The sockets every exchange of one client met are remembered (weakly) with the client: a reused
connection's socket is then known before its head is read. An overdue deadline shuts all of
them down: the contract tools send one request at a time on a client, so that cuts the overdue
exchange and costs the idle connections only their reuse (a client shared by threads would
lose their exchanges too)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import weakref
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

# The trace events (httpcore's names) that hand over a connection's stream as it opens: plain
# TCP, then the TLS stream over it.
_OPENED_EVENTS = frozenset({"connection.connect_tcp.complete", "connection.start_tls.complete"})

_SOCKETS_OF: weakref.WeakKeyDictionary[httpx.Client, weakref.WeakSet[socket.socket]] = (
    weakref.WeakKeyDictionary()
)
_SOCKETS_LOCK = threading.Lock()


class Overdue(Exception):
    """The exchange had no whole answer by its deadline."""


class Deadline:
    """The deadline of one exchange of `client`, `seconds` from now: a context manager (the
    timer runs inside the block); `extensions` go with the request."""

    def __init__(self, client: httpx.Client, seconds: float) -> None:
        self.seconds = seconds
        self._ends = time.monotonic() + seconds
        with _SOCKETS_LOCK:
            self._sockets = _SOCKETS_OF.setdefault(client, weakref.WeakSet())
        self._lock = threading.Lock()
        self._cut = False
        self._timer = threading.Timer(seconds, self._cut_all)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._timer.cancel()

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self._ends

    @property
    def extensions(self) -> dict[str, Any]:
        """The request extensions that tell this deadline each connection the exchange opens."""
        return {"trace": self._traced}

    def check(self) -> None:
        """Overdue when the deadline has passed."""
        if self.passed:
            raise Overdue(f"no whole answer within {self.seconds:g} s")

    def read(self, response: httpx.Response, max_bytes: int) -> bytes | None:
        """The answer's body read whole by the deadline (Overdue if not), or None when it is
        larger than `max_bytes` (read no further)."""
        self.watch(response)
        raw = bytearray()
        for chunk in response.iter_bytes():
            raw += chunk
            if len(raw) > max_bytes:
                return None
            self.check()
        self.check()  # a cut connection may end the body early rather than fail it
        return bytes(raw)

    def watch(self, response: httpx.Response) -> None:
        """Take in the connection `response` came on (one the client reused, say)."""
        self._watch(response.extensions.get("network_stream"))

    def _traced(self, event: str, info: Mapping[str, Any]) -> None:
        if event in _OPENED_EVENTS:
            self._watch(info.get("return_value"))

    def _watch(self, stream: Any) -> None:
        get_extra_info = getattr(stream, "get_extra_info", None)
        found = get_extra_info("socket") if callable(get_extra_info) else None
        if not isinstance(found, socket.socket):
            return
        with self._lock:
            with _SOCKETS_LOCK:
                self._sockets.add(found)
            late = self._cut
        if late:  # opened after the deadline (a connect that took it all): cut at once
            _shut(found)

    def _cut_all(self) -> None:
        with self._lock:
            self._cut = True
            with _SOCKETS_LOCK:
                sockets = list(self._sockets)
        for found in sockets:
            _shut(found)


def _shut(found: socket.socket) -> None:
    """Shut the connection down in both directions, which wakes a read blocked on it. The base
    class's method: a TLS socket's own would drop its TLS state under the reading thread."""
    with contextlib.suppress(OSError, ValueError):  # closed already: nothing waits on it
        socket.socket.shutdown(found, socket.SHUT_RDWR)
