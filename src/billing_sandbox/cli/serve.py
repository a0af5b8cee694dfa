"""`billing-sandbox serve`: the fakes with seeded data, on loopback unless told otherwise."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import fields
from typing import IO, Any

import orjson
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from billing_sandbox.app import ServedScenarios, create_app
from billing_sandbox.asgi.cors import InvalidOrigin, check_origin
from billing_sandbox.asgi.protocol import ConnectionAwareProtocol
from billing_sandbox.cli import granian_server, traces
from billing_sandbox.cli.banner import banner
from billing_sandbox.cli.heap import freeze_what_started
from billing_sandbox.credentials import CredentialsError
from billing_sandbox.observe import requestlog
from billing_sandbox.observe.ratelimits import InvalidRateLimit
from billing_sandbox.recordings import RecordingError
from billing_sandbox.sandbox import ScenarioRefusal
from billing_sandbox.settings import (
    FSYNC_MODES,
    LOG_FORMATS,
    SERVERS,
    Settings,
    argument,
    variable,
)
from billing_sandbox.state.persistence import StateFileError

NAME = "serve"
HELP = "serve the fakes with seeded data"
DESCRIPTION = (
    "Serve stateful fakes of the Candid, Decoda and MYCURE APIs at their real paths, with "
    "seeded data. Each setting is also read from its BILLING_SANDBOX_* variable; a flag wins."
)
# How long a shutdown waits for requests in flight before cutting them off.
SHUTDOWN_GRACE_SECONDS = 3
# How soon a request's log line reaches stderr at the latest.
LOG_FLUSH_SECONDS = 0.2
# The flags that name a file read at start, to say which one named a missing file.
FILE_FLAGS = {
    "credentials_file": "--credentials",
    "recordings_dir": "--recordings",
    "scenarios_dir": "--scenarios-dir",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Serve's flags. Each stores into its setting's name and defaults to None, "not given":
    the setting's variable, else its default, applies (`settings_of`)."""
    defaults = Settings()

    def default(name: str, shown: object = None) -> str:
        value = getattr(defaults, name) if shown is None else shown
        return f"(default: {value}; or {variable(name)})"

    serve = parser.add_argument
    serve("--host", type=argument("host"), help=f"interface to bind {default('host')}")
    serve("--port", type=argument("port"), help=f"port to listen on {default('port')}")
    serve(
        "--server",
        choices=SERVERS,
        help="the HTTP server: uvicorn, or granian (a Rust server: about a fifth less CPU a "
        "request; needs the granian extra; docs: Scaling) " + default("server"),
    )
    serve("--seed", type=argument("seed"), help=f"seeds every tenant's data {default('seed')}")
    serve("--records", type=argument("records"),
          help=f"write-offs seeded per Candid tenant {default('records')}")  # fmt: skip
    serve(
        "--no-response-validation",
        action="store_false",
        dest="response_validation",
        default=None,
        help="skip checking each response against its spec (on by default; or "
        f"{variable('response_validation')}=false)",
    )
    serve(
        "--cors-origin",
        action="append",
        dest="cors_origins",
        type=_origin,
        metavar="ORIGIN",
        help="a browser origin allowed to call the sandbox, e.g. http://app.test:3000, or * for "
        "any; repeatable; replaces the default, any loopback origin (http or https on "
        "localhost, 127.0.0.1 or [::1], any port)",
    )
    serve(
        "--credentials",
        dest="credentials_file",
        type=argument("credentials_file"),
        metavar="FILE",
        help="strict mode: accept only the Candid clients, Decoda keys and MYCURE accounts "
        "listed in this YAML file (see README); by default any credentials work",
    )
    serve(
        "--state-file",
        type=argument("state_file"),
        metavar="PATH",
        help="keep every tenant's state in this JSON file: loaded at start (if it exists), "
        "every change written ahead to PATH.log and replayed at start (nothing acknowledged "
        "is lost, even to kill -9), saved whole at shutdown and on POST /_sandbox/state/save",
    )
    serve(
        "--fsync",
        choices=FSYNC_MODES,
        help="with a state file or directory, when each change written ahead to its log "
        "reaches the disk: always (before the answer: nothing acknowledged is lost, even to a "
        "power cut), every-second (a power cut loses at most about a second; a killed process "
        f"nothing), off (the system decides) {default('fsync')}",
    )
    serve(
        "--no-metrics",
        action="store_false",
        dest="metrics",
        default=None,
        help="count nothing for GET /_sandbox/metrics, which then answers 404 (on by default; "
        f"or {variable('metrics')}=false)",
    )
    serve("--shard", type=argument("shard"), metavar="NAME",
          help="this server's name in a cluster: the shard label of its metrics "
          "(billing-sandbox cluster sets it) " + default("shard", "none"))  # fmt: skip
    serve("--quiet", action="store_true", default=None,
          help=f"log no line per request ({variable('quiet')}=1)")  # fmt: skip
    serve(
        "--log-format",
        choices=LOG_FORMATS,
        help="each request's line as text (coloured on a terminal) or one JSON object "
        + default("log_format"),
    )
    serve(
        "--max-state-bytes",
        type=argument("max_state_bytes"),
        metavar="BYTES",
        help="the largest snapshot PUT /_sandbox/state (or a tenant's state) may upload "
        + default("max_state_bytes", f"{defaults.max_state_bytes}, 256 MiB"),
    )
    serve(
        "--max-head-bytes",
        type=argument("max_head_bytes"),
        metavar="BYTES",
        help="the largest request head (request line and headers) answered; past it, 431 "
        + default("max_head_bytes"),
    )
    serve(
        "--head-timeout",
        dest="head_timeout_seconds",
        type=argument("head_timeout_seconds"),
        metavar="SECONDS",
        help="close a connection that has not sent a whole request head within this long "
        + default("head_timeout_seconds"),
    )
    serve(
        "--max-connections",
        type=argument("max_connections"),
        metavar="N",
        help="serve at most N connections at once; past them, 503 " + default("max_connections"),
    )
    serve(
        "--max-tenants",
        type=argument("max_tenants"),
        metavar="N",
        help="hold at most N tenants in memory "
        + default("max_tenants", f"{defaults.max_tenants}, about 0.7 GB")
        + ": past it, tenants nobody wrote to are dropped (their seed rebuilds them) and "
        "tenants with writes spill to --state-dir, to be loaded back on their next request",
    )
    serve(
        "--max-memory",
        type=argument("max_memory"),
        metavar="BYTES",
        help="keep the server's memory (its resident set, read from /proc: Linux) under BYTES, "
        "such as 2G or 1536Mi (M is 10^6, Mi 2^20): past it, the tenants' kept renderings are "
        "dropped, then the least recently used tenants, as past --max-tenants "
        + default("max_memory", "0, no cap"),
    )
    serve(
        "--max-render-bytes",
        type=argument("max_render_bytes"),
        metavar="BYTES",
        help="the most a tenant keeps of its answers rendered as bytes for reads; past it, it "
        "starts over (0: render every read afresh) "
        + default("max_render_bytes", f"{defaults.max_render_bytes >> 20}Mi"),
    )
    serve(
        "--max-render-memory",
        type=argument("max_render_memory"),
        metavar="BYTES",
        help="the most all tenants together keep of their answers rendered as bytes; past "
        "it, the least recently used tenants' are forgotten (0: no bound but each tenant's) "
        + default("max_render_memory", f"{defaults.max_render_memory >> 20}Mi"),
    )
    serve(
        "--state-dir",
        type=argument("state_dir"),
        metavar="DIR",
        help="where tenants spill past --max-tenants; without --state-file, it also keeps the "
        "state (DIR/state.json and its write-ahead log) across restarts (default: a "
        "directory of the server's own in the system's temporary directory, removed at "
        "shutdown, keeping nothing)",
    )
    serve(
        "--recordings",
        dest="recordings_dir",
        type=argument("recordings_dir"),
        metavar="DIR",
        help="lay the records in exchanges recorded by 'billing-sandbox proxy --record DIR' "
        "over every tenant's seed data (answers that break the spec are skipped and listed)",
    )
    serve(
        "--control-token",
        type=argument("control_token"),
        metavar="TOKEN",
        help="require 'Authorization: Bearer TOKEN' on /_sandbox/... from any client; without "
        "it only loopback clients may call them (BILLING_SANDBOX_CONTROL_TOKEN keeps the "
        "token out of the process list)",
    )
    serve(
        "--allowed-host",
        action="append",
        dest="allowed_hosts",
        metavar="NAME",
        help="without --control-token, the control API and dashboard answer only requests "
        "addressed to localhost or a loopback address (a defence against DNS rebinding); "
        "also answer those addressed to NAME, a name of yours for this machine; repeatable",
    )
    serve(
        "--rate-limit",
        action="append",
        dest="rate_limits",
        metavar="API=N/S",
        help="limit each tenant to N calls per S seconds of its clock on an API, as the vendor "
        "does (429 with Retry-After past it), e.g. decoda=100/10; repeatable; none by default",
    )
    serve(
        "--scenario",
        action="append",
        dest="scenarios",
        metavar="NAME|PATH[@TENANT]",
        help="at start, reset TENANT (by default, the scenario's name) and apply a scenario "
        "pack or file to it (docs: Scenarios); repeatable; one that fails stops the start, "
        "naming the step",
    )
    serve(
        "--scenarios-dir",
        type=argument("scenarios_dir"),
        metavar="DIR",
        help="scenario packs of your own (DIR/NAME.yaml), beside the shipped ones: listed by "
        "GET /_sandbox/scenarios, applied by name",
    )
    serve(
        "--reset-every",
        type=argument("reset_every"),
        metavar="24h|90m|HH:MM",
        help="a shared demo: every period, or daily at a time of day (the server's local time), "
        "reset each --scenario's tenant and apply the scenario again, so each day starts "
        "clean and with current dates " + default("reset_every", "never"),
    )


def _origin(text: str) -> str:
    try:
        return check_origin(text)
    except InvalidOrigin as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def settings_of(args: argparse.Namespace) -> Settings:
    """What `serve` runs with: the flags given, over the `BILLING_SANDBOX_*` variables, over
    the defaults; every value checked (InvalidSetting names a variable it refuses)."""
    given: dict[str, Any] = {}
    for item in fields(Settings):
        value = getattr(args, item.name, None)
        if value is not None:
            given[item.name] = tuple(value) if isinstance(value, list) else value
    return Settings.from_env(**given)


def run(args: argparse.Namespace) -> int:
    chosen = settings_of(args)
    chosen.check_files({name: flag for name, flag in FILE_FLAGS.items() if getattr(args, name)})
    if chosen.server == "granian" and (refused := granian_server.refusal(chosen)):
        print(f"billing-sandbox: {refused}", file=sys.stderr)
        return 2
    try:
        app = create_app(chosen, tracing=traces.from_environment())
    except (
        CredentialsError,
        InvalidOrigin,
        StateFileError,
        RecordingError,
        InvalidRateLimit,
    ) as error:
        # The user's file or origin is wrong: say what and where, not a traceback.
        print(f"billing-sandbox: {error}", file=sys.stderr)
        return 2
    starting: ServedScenarios = app.state.scenarios

    async def start() -> bool:
        """The start scenarios, applied on the loop the server then runs on, before it
        listens; what they and the app left is frozen out of the collector's full passes
        (`heap.py`); then the banner (which counts their calls: they are not logged a line
        each) and the request log."""
        try:
            applied = await starting.start()
        except ScenarioRefusal as refused:
            print(f"billing-sandbox: {refused.message}", file=sys.stderr, flush=True)
            return False
        freeze_what_started()
        print(banner(chosen, app.state.sandbox.recordings, applied), flush=True)
        requestlog.configure(_log_stream(), chosen.log_format, chosen.quiet, LOG_FLUSH_SECONDS)
        return True

    if chosen.server == "granian":
        grace = SHUTDOWN_GRACE_SECONDS
        return granian_server.run(app, chosen, start, AnswerCutOffRequests, grace)
    config = uvicorn.Config(
        AnswerCutOffRequests(app, shutting_down=lambda: server.should_exit),
        host=chosen.host,
        port=chosen.port,
        log_level="warning",
        access_log=False,  # the sandbox logs each request itself (requestlog)
        # No proxy sits in front that the sandbox trusts (the cluster's HAProxy adds no
        # X-Forwarded-For): without this, a loopback client could name any address as its
        # own, and each request paid for the middleware that reads it.
        proxy_headers=False,
        # Hands each request its connection, for the faults below HTTP (a reset, a cut), and
        # holds each request head to a size (431) and a time (the connection closed).
        http=ConnectionAwareProtocol.limited(chosen.max_head_bytes, chosen.head_timeout_seconds),
        # uvicorn counts the connection asking among those open, so one more than the cap
        # lets exactly `max_connections` be served; past them, 503.
        limit_concurrency=chosen.max_connections + 1,
        # The only WebSocket endpoint is MYCURE's Socket.IO: its messages carry what a REST
        # body does, so the same cap (uvicorn's default is 16 MiB).
        ws_max_size=chosen.max_body_bytes,
        # SIGTERM or Ctrl+C: idle keep-alive connections close at once; a request still being
        # answered (a `Prefer: delay=`) gets this long, then is cut off, so the server ends
        # within 5 s (well inside the 10 s a container runtime waits before its SIGKILL, which
        # would lose the state file) and the state file is saved after.
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )
    server = StartingServer(config, start)
    app.state.sandbox.stopping = lambda: server.should_exit
    # uvicorn raises Ctrl+C again once it has shut down (`uvicorn.run` swallows it too).
    # The request log is flushed at the end of the app's lifespan (before uvicorn re-raises
    # the signal that stopped it, which would end the process before anything after this).
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if server.refused:
        return 2  # a start scenario failed, and said so
    if not server.started:
        return 3  # uvicorn said why (say, the port is in use); 3 is its own startup failure
    return 0


class StartingServer(uvicorn.Server):
    """uvicorn's server, which first runs `before` on its own event loop (the start scenarios,
    whose calls may leave tasks behind, a webhook's delivery) and serves only if it agrees."""

    def __init__(self, config: uvicorn.Config, before: Callable[[], Awaitable[bool]]) -> None:
        super().__init__(config)
        self.before = before
        self.refused = False

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        if not await self.before():
            self.refused = True
            return
        await super().serve(sockets)


def _log_stream() -> IO[str]:
    """Request lines' own buffer over stderr, flushed a fifth of a second after a line (stderr
    itself is flushed at every line: a write to the file per request); stderr itself when it
    is no file (an embedding program's stream)."""
    try:
        descriptor = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return sys.stderr
    return open(
        descriptor,
        "w",
        buffering=1 << 16,
        encoding=sys.stderr.encoding,
        errors="backslashreplace",
        closefd=False,
    )


class AnswerCutOffRequests:
    """At the end of a shutdown's grace period uvicorn cancels the requests still running; it
    would log each as a crash (a traceback) and answer a bare 500. Answer them a 503 that says
    why instead, and let the shutdown go on. Any other cancellation is left alone."""

    def __init__(self, app: ASGIApp, shutting_down: Callable[[], bool]) -> None:
        self.app = app
        self.shutting_down = shutting_down

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except asyncio.CancelledError:
            if scope["type"] != "http" or not self.shutting_down():
                raise
            message = (
                "the sandbox is shutting down: this request was still running "
                f"{SHUTDOWN_GRACE_SECONDS} s after the server was told to stop"
            )
            body = orjson.dumps({"error": "ShuttingDown", "message": message})
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            # Not wrapping `send` to see whether the answer had begun (that cost every request
            # two more awaits): uvicorn refuses a second start with a RuntimeError, and then
            # the client has its status already.
            with contextlib.suppress(RuntimeError):
                await send({"type": "http.response.start", "status": 503, "headers": headers})
                await send({"type": "http.response.body", "body": body})
