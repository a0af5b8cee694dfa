"""`serve --server granian`: the same app on granian, a Rust HTTP server (the `granian` extra),
embedded in this process and on this event loop: one worker, so tenants, their clocks, the
courier and MYCURE's sockets are the same objects they are under uvicorn. It spends about a
fifth less CPU a request: HTTP is parsed and written in its Rust thread (docs/scaling.md).

What `serve` does around uvicorn, done here around granian: the start scenarios and the banner
before it listens; the app's lifespan (the courier, `--reset-every`, the state file saved at
shutdown) run here, around the server, so that nothing granian does at shutdown can skip it;
SIGTERM and Ctrl+C stop it within the same grace, then cut off what still runs (503). The
bounds uvicorn's protocol keeps are granian's own settings, or kept at the app's edge
(`granian_edge.py`); docs/scaling.md lists where granian's own bound applies instead.
"""

from __future__ import annotations

import asyncio
import importlib.util
import ipaddress
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.types import ASGIApp

from billing_sandbox.cli.granian_edge import GranianEdge
from billing_sandbox.settings import Settings, variable

if TYPE_CHECKING:
    from granian.server.embed import Server

# billing-sandbox is on no public index: the extra comes from a checkout or a built wheel.
NOT_INSTALLED = (
    "--server granian needs granian, which billing-sandbox[granian] brings: "
    "`pip install -e '.[granian]'` in a checkout of billing-sandbox, or "
    "`pip install 'dist/billing_sandbox-<version>-py3-none-any.whl[granian]'` from its built "
    "wheel (or serve without --server granian)"
)
# granian reads a request head into a buffer of `max_head_bytes` (past it, 431); its parser
# (hyper) takes no buffer smaller than this, and fails on one.
LEAST_HEAD_BYTES = 8192
# Connections the system queues before granian takes them: uvicorn's default.
BACKLOG = 2048
# Once the grace is over and the requests still running are cancelled, how long they get to
# send their 503 before the server is left to stop as it can.
CUT_OFF_SECONDS = 2.0
# granian's Rust threads end a few milliseconds after it has stopped: the interpreter must not
# finalise under one (it panics, a backtrace on stderr), so they get this long to end.
THREADS_END_SECONDS = 1.0
# granian's own lines (errors only: a crash it caught) go to stderr beside the sandbox's,
# not to stdout, which holds the banner.
_LOGGING: dict[str, Any] = {
    "handlers": {
        name: {
            "formatter": formatter,
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
        }
        for name, formatter in (("console", "generic"), ("access", "access"))
    }
}


def refusal(settings: Settings) -> str | None:
    """Why granian cannot serve with `settings`, when it cannot: the line `serve` exits 2 with."""
    if importlib.util.find_spec("granian") is None:
        return NOT_INSTALLED
    if settings.max_head_bytes < LEAST_HEAD_BYTES:
        return (
            f"with --server granian, --max-head-bytes ({variable('max_head_bytes')}) must be at "
            f"least {LEAST_HEAD_BYTES}, granian's smallest buffer for a request head, not "
            f"{settings.max_head_bytes}"
        )
    return None


def run(
    app: Starlette,
    settings: Settings,
    before: Callable[[], Awaitable[bool]],
    cut_off: Callable[[ASGIApp, Callable[[], bool]], ASGIApp],
    grace_seconds: float,
) -> int:
    """Serve `app` on granian until SIGTERM or Ctrl+C; the exit code: 0, 2 when `before` (the
    start scenarios) refused, 3 when granian could not listen. `cut_off` answers the requests
    cancelled at the end of the grace (`serve.AnswerCutOffRequests`)."""
    serving = GranianServing(app, settings, before, cut_off, grace_seconds)
    try:
        import uvloop  # the loop uvicorn picks too, where it is installed
    except ImportError:
        return asyncio.run(serving.run())
    return uvloop.run(serving.run())


class GranianServing:
    """One run of granian: the signals, the lifespan around the server, and the shutdown."""

    def __init__(
        self,
        app: Starlette,
        settings: Settings,
        before: Callable[[], Awaitable[bool]],
        cut_off: Callable[[ASGIApp, Callable[[], bool]], ASGIApp],
        grace_seconds: float,
    ) -> None:
        self.app = app
        self.settings = settings
        self.before = before
        self.grace_seconds = grace_seconds
        self.stop = asyncio.Event()
        # A second SIGTERM or Ctrl+C: the requests still running are cut off at once.
        self.hurry = asyncio.Event()
        self.edge = GranianEdge(cut_off(app, self.stop.is_set), settings.max_body_bytes)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        # Signals reach the main thread only: served from another, it runs until its process ends.
        signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)
        if threading.current_thread() is not threading.main_thread():
            signals = ()
        for number in signals:
            loop.add_signal_handler(number, self._signalled)
        try:
            return await self._run()
        finally:
            for number in signals:
                loop.remove_signal_handler(number)

    def _signalled(self) -> None:
        if self.stop.is_set():
            self.hurry.set()
        self.stop.set()

    async def _run(self) -> int:
        if not await self.before():
            return 2  # a start scenario failed, and said so
        if self.stop.is_set():
            return 0  # stopped while the start scenarios ran: nothing was served
        host, port = self.settings.host, self.settings.port
        try:
            address = await _address(host, port)
        except OSError as error:
            _say(f"cannot listen on {host}:{port}: {error}")
            return 3
        self.app.state.sandbox.stopping = self.stop.is_set
        server = self._server(address)
        threads = _threads_python_did_not_start()
        async with self.app.router.lifespan_context(self.app):
            code = await self._serve(server)
        await _ended(threads)
        return code

    def _server(self, address: str) -> Server:
        # Imported here: granian is an extra, and `serve` without it imports this module too.
        from granian.constants import HTTPModes, Interfaces
        from granian.http import HTTP1Settings
        from granian.log import LogLevels
        from granian.server.embed import Server

        settings = self.settings
        return Server(
            self.edge,
            address=address,
            port=settings.port,
            # The lifespan runs around the server (`_run`), not in granian's worker.
            interface=Interfaces.ASGINL,
            # HTTP/1.1 only, as uvicorn: HTTP/2's header blocks are not held to the bounds below.
            http=HTTPModes.http1,
            websockets=True,
            backlog=BACKLOG,
            # At most this many connections served at once; the next wait in the backlog.
            backpressure=settings.max_connections,
            http1_settings=HTTP1Settings(
                # A connection with no whole request head this long after it opened (or after
                # its last answer) is closed.
                header_read_timeout=settings.head_timeout_seconds * 1000,
                keep_alive=True,
                # A head that does not fit this buffer is answered 431.
                max_buffer_size=settings.max_head_bytes,
            ),
            log_level=LogLevels.error,
            log_dictconfig=_LOGGING,
        )

    async def _serve(self, server: Server) -> int:
        serving = asyncio.ensure_future(server.serve())
        stopped = asyncio.ensure_future(self.stop.wait())
        await asyncio.wait({serving, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if serving.done():
            stopped.cancel()
            error = serving.exception()
            # granian's error carries a Rust backtrace after its first line.
            why = str(error).splitlines()[0] if error else "granian stopped by itself"
            _say(f"cannot listen on {self.settings.host}:{self.settings.port}: {why}")
            return 3
        # Idle keep-alive connections close at once, the sockets are told; a request still
        # running gets the grace, then is cut off (503) unless a second signal hurries it.
        await self.edge.close_sockets()
        server.stop()  # type: ignore[no-untyped-call]  # granian leaves it unannotated
        hurried = asyncio.ensure_future(self.hurry.wait())
        await asyncio.wait(
            {serving, hurried}, timeout=self.grace_seconds, return_when=asyncio.FIRST_COMPLETED
        )
        hurried.cancel()
        if not serving.done():
            self.edge.cut_off()
            await asyncio.wait({serving}, timeout=CUT_OFF_SECONDS)
        return 0


async def _address(host: str, port: int) -> str:
    """granian binds an address, not a name: `localhost` (or any name) as the first address it
    resolves to."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return str(found[0][4][0])


def _threads_python_did_not_start() -> set[int]:
    """This process's threads that no `threading.Thread` stands for (granian's among them), by
    id; none where the system does not list a process's threads."""
    try:
        listed = {int(name) for name in os.listdir("/proc/self/task")}
    except OSError:
        return set()
    return listed - {thread.native_id for thread in threading.enumerate() if thread.native_id}


async def _ended(earlier: set[int]) -> None:
    """Wait for the threads started since `earlier` was taken (granian's) to end, at most
    THREADS_END_SECONDS: awaiting, so that they can take the interpreter's lock to finish."""
    deadline = time.monotonic() + THREADS_END_SECONDS
    while time.monotonic() < deadline:
        if not _threads_python_did_not_start() - earlier:
            return
        await asyncio.sleep(0.005)


def _say(line: str) -> None:
    print(f"billing-sandbox: {line}", file=sys.stderr, flush=True)
