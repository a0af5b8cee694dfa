"""The command line: `billing-sandbox serve`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

import orjson
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from billing_sandbox import conformance
from billing_sandbox.app import about, create_app, spill_directory
from billing_sandbox.cluster import command as cluster_command
from billing_sandbox.control import requestlog
from billing_sandbox.control.ratelimits import InvalidRateLimit
from billing_sandbox.control.wire import ConnectionAwareProtocol
from billing_sandbox.cors import InvalidOrigin, check_origin
from billing_sandbox.credentials import CredentialsError
from billing_sandbox.proxy import cli as proxy_cli
from billing_sandbox.recordings import RecordingError, Recordings, notice_lines
from billing_sandbox.settings import FSYNC_MODES, InvalidSetting, Settings
from billing_sandbox.state.persistence import StateFileError, state_file_of

# How long a shutdown waits for requests in flight before cutting them off.
SHUTDOWN_GRACE_SECONDS = 3
# How soon a request's log line reaches stderr at the latest.
LOG_FLUSH_SECONDS = 0.2


def main(argv: Sequence[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else list(argv)
    if given[:1] == ["proxy"]:
        # Its own flags, server and settings: it serves no sandbox.
        return proxy_cli.main(given[1:])
    if given[:1] == ["cluster"]:
        # Its own flags (and serve's, for every shard); it runs shards, a merger and HAProxy.
        return cluster_command.main(given[1:])
    if given[:1] == ["conformance"]:
        # Its own flags; it checks a server (any, not only a sandbox) and serves nothing.
        return conformance.main(given[1:])
    try:
        settings = parse_args(argv)
    except InvalidSetting as error:
        # A setting from the environment that cannot be used: say which, not a traceback.
        print(f"billing-sandbox: {error}", file=sys.stderr)
        return 2
    if settings.log_format not in requestlog.LOG_FORMATS:
        formats = " or ".join(requestlog.LOG_FORMATS)
        print(f"billing-sandbox: the log format is {formats}, not {settings.log_format!r}",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        app = create_app(settings)
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
    print(banner(settings, app.state.sandbox.recordings), flush=True)
    requestlog.configure(_log_stream(), settings.log_format, settings.quiet, LOG_FLUSH_SECONDS)
    config = uvicorn.Config(
        AnswerCutOffRequests(app, shutting_down=lambda: server.should_exit),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,  # the sandbox logs each request itself (requestlog)
        # Hands each request its connection, for the faults below HTTP (a reset, a cut), and
        # holds each request head to a size (431) and a time (the connection closed).
        http=ConnectionAwareProtocol.limited(
            settings.max_head_bytes, settings.head_timeout_seconds
        ),
        # uvicorn counts the connection asking among those open, so one more than the cap
        # lets exactly `max_connections` be served; past them, 503.
        limit_concurrency=settings.max_connections + 1,
        # The only WebSocket endpoint is MYCURE's Socket.IO: its messages carry what a REST
        # body does, so the same cap (uvicorn's default is 16 MiB).
        ws_max_size=settings.max_body_bytes,
        # SIGTERM or Ctrl+C: idle keep-alive connections close at once; a request still being
        # answered (a `Prefer: delay=`) gets this long, then is cut off, so the server ends
        # within 5 s (well inside the 10 s a container runtime waits before its SIGKILL, which
        # would lose the state file) and the state file is saved after.
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )
    server = uvicorn.Server(config)
    app.state.sandbox.stopping = lambda: server.should_exit
    # uvicorn raises Ctrl+C again once it has shut down (`uvicorn.run` swallows it too).
    # The request log is flushed at the end of the app's lifespan (before uvicorn re-raises
    # the signal that stopped it, which would end the process before anything after this).
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        return 3  # uvicorn said why (say, the port is in use); 3 is its own startup failure
    return 0


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


def parse_args(argv: Sequence[str] | None = None) -> Settings:
    """The settings `billing-sandbox serve …` runs with: its flags over the environment."""
    parser = argparse.ArgumentParser(
        prog="billing-sandbox",
        description="Stateful, spec-driven fakes of healthcare-billing APIs.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the fakes with seeded data")
    # Listed for --help only; `main` hands `proxy …` to billing_sandbox.proxy.cli.
    commands.add_parser("proxy", help="check a real API's answers against our spec (proxy -h)")
    commands.add_parser(
        "conformance", help="run schemathesis with our spec against a server (conformance -h)"
    )
    defaults = Settings.from_env()
    serve.add_argument(
        "--host", default=defaults.host, help="interface to bind (default: %(default)s)"
    )
    serve.add_argument("--port", type=int, default=defaults.port, help="default: %(default)s")
    serve.add_argument("--seed", type=int, default=defaults.seed, help="default: %(default)s")
    serve.add_argument(
        "--records",
        type=int,
        default=defaults.records,
        help="write-offs seeded per Candid tenant (default: %(default)s)",
    )
    serve.add_argument(
        "--no-response-validation",
        action="store_true",
        help="skip checking each response against its spec (on by default)",
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        type=_origin,
        metavar="ORIGIN",
        help="a browser origin allowed to call the sandbox, e.g. http://app.test:3000, or * for "
        "any; repeatable; replaces the default, any loopback origin (http or https on "
        "localhost, 127.0.0.1 or [::1], any port)",
    )
    serve.add_argument(
        "--credentials",
        type=Path,
        default=defaults.credentials_file,
        metavar="FILE",
        help="strict mode: accept only the Candid clients, Decoda keys and MYCURE accounts "
        "listed in this YAML file (see README); by default any credentials work",
    )
    serve.add_argument(
        "--state-file",
        type=Path,
        default=defaults.state_file,
        metavar="PATH",
        help="keep every tenant's state in this JSON file: loaded at start (if it exists), "
        "every change written ahead to PATH.log and replayed at start (nothing acknowledged "
        "is lost, even to kill -9), saved whole at shutdown and on POST /_sandbox/state/save",
    )
    serve.add_argument(
        "--fsync",
        choices=FSYNC_MODES,
        default=defaults.fsync,
        help="with a state file or directory, when each change written ahead to its log "
        "reaches the disk: always (before the answer: nothing acknowledged is lost, even to a "
        "power cut), every-second (a power cut loses at most about a second; a killed process "
        "nothing), off (the system decides) (default: %(default)s)",
    )
    serve.add_argument(
        "--quiet",
        action="store_true",
        default=defaults.quiet,
        help="log no line per request (BILLING_SANDBOX_QUIET=1)",
    )
    serve.add_argument(
        "--log-format",
        choices=requestlog.LOG_FORMATS,
        default=defaults.log_format,
        help="each request's line as text (coloured on a terminal) or one JSON object "
        "(default: %(default)s)",
    )
    serve.add_argument(
        "--max-state-bytes",
        type=_positive,
        default=defaults.max_state_bytes,
        metavar="BYTES",
        help="the largest snapshot PUT /_sandbox/state (or a tenant's state) may upload "
        "(default: %(default)s, 256 MiB)",
    )
    serve.add_argument(
        "--max-head-bytes",
        type=_positive,
        default=defaults.max_head_bytes,
        metavar="BYTES",
        help="the largest request head (request line and headers) answered; past it, 431 "
        "(default: %(default)s)",
    )
    serve.add_argument(
        "--head-timeout",
        type=_positive,
        default=defaults.head_timeout_seconds,
        metavar="SECONDS",
        help="close a connection that has not sent a whole request head within this long "
        "(default: %(default)s)",
    )
    serve.add_argument(
        "--max-connections",
        type=_positive,
        default=defaults.max_connections,
        metavar="N",
        help="serve at most N connections at once; past them, 503 (default: %(default)s)",
    )
    serve.add_argument(
        "--max-tenants",
        type=_positive,
        default=defaults.max_tenants,
        metavar="N",
        help="hold at most N tenants in memory (default: %(default)s, about 1 GB): past it, "
        "tenants nobody wrote to are dropped (their seed rebuilds them) and tenants with writes "
        "spill to --state-dir, to be loaded back on their next request",
    )
    serve.add_argument(
        "--state-dir",
        type=Path,
        default=defaults.state_dir,
        metavar="DIR",
        help="where tenants spill past --max-tenants; without --state-file, it also keeps the "
        "state (DIR/state.json and its write-ahead log) across restarts (default: a "
        "directory of the server's own in the system's temporary directory, removed at "
        "shutdown, keeping nothing)",
    )
    serve.add_argument(
        "--recordings",
        type=Path,
        default=defaults.recordings_dir,
        metavar="DIR",
        help="lay the records in exchanges recorded by 'billing-sandbox proxy --record DIR' "
        "over every tenant's seed data (answers that break the spec are skipped and listed)",
    )
    serve.add_argument(
        "--control-token",
        default=defaults.control_token,
        metavar="TOKEN",
        help="require 'Authorization: Bearer TOKEN' on /_sandbox/... from any client; without "
        "it only loopback clients may call them (BILLING_SANDBOX_CONTROL_TOKEN keeps the "
        "token out of the process list)",
    )
    serve.add_argument(
        "--allowed-host",
        action="append",
        metavar="NAME",
        help="without --control-token, the control API and dashboard answer only requests "
        "addressed to localhost or a loopback address (a defence against DNS rebinding); "
        "also answer those addressed to NAME, a name of yours for this machine; repeatable",
    )
    serve.add_argument(
        "--rate-limit",
        action="append",
        metavar="API=N/S",
        help="limit each tenant to N calls per S seconds of its clock on an API, as the vendor "
        "does (429 with Retry-After past it), e.g. decoda=100/10; repeatable; none by default",
    )
    args = parser.parse_args(argv)
    return Settings.from_env(
        host=args.host,
        port=args.port,
        seed=args.seed,
        records=args.records,
        response_validation=defaults.response_validation and not args.no_response_validation,
        cors_origins=tuple(args.cors_origin or defaults.cors_origins),
        credentials_file=args.credentials,
        state_file=args.state_file,
        fsync=args.fsync,
        max_tenants=args.max_tenants,
        max_state_bytes=args.max_state_bytes,
        max_head_bytes=args.max_head_bytes,
        head_timeout_seconds=args.head_timeout,
        max_connections=args.max_connections,
        quiet=args.quiet,
        log_format=args.log_format,
        state_dir=args.state_dir,
        recordings_dir=args.recordings,
        control_token=args.control_token,
        allowed_hosts=tuple(args.allowed_host or defaults.allowed_hosts),
        rate_limits=tuple(args.rate_limit or defaults.rate_limits),
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


def _origin(text: str) -> str:
    try:
        return check_origin(text)
    except InvalidOrigin as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def banner(settings: Settings, recordings: Recordings | None = None) -> str:
    """What a user needs to start: the APIs, the base URL, credentials, specs, control."""
    base = f"http://{settings.host}:{settings.port}"
    seeding = f"seed {settings.seed}, {settings.records} records per tenant"
    # The same facts as the root page (`GET /`) and the answer to an unknown path.
    served = about(base)
    apis = "".join(
        f"\n  {api['title']}\n    begin at {api['entry']}\n"
        + "".join(f"    {line}\n" for line in api["start"])
        for api in served["apis"]
    )
    first, *others = (api["spec"]["yaml"] for api in served["apis"])
    specs = ", ".join([first, *(spec.rpartition("/")[2] for spec in others)])
    return f"""billing-sandbox serving on {base}  ({seeding})
{apis}
  specs      {specs}  (or .json)
  home       {base}/  (this list, in a browser or as JSON)
  dashboard  {served["dashboard"]}  (requests live, tenants, records, faults, events)
  control    {base}/_sandbox/health   POST {base}/_sandbox/reset
             {base}/_sandbox/tenants/acme/reference/candid  (or /decoda;
             {base}/_sandbox/tenants/clinic-a.test/reference/mycure)
{access(settings)}{memory(settings)}{state_file(settings)}{recorded(recordings)}
Press Ctrl+C to stop."""


def memory(settings: Settings) -> str:
    """How many tenants stay in memory, and where the others with writes go."""
    return (
        f"\n  memory     at most {settings.max_tenants} tenants; tenants with writes past that "
        f"spill to {spill_directory(settings)}"
    )


def state_file(settings: Settings) -> str:
    """Where state persists across restarts, when it does."""
    kept = state_file_of(settings)
    if kept is None:
        return ""
    return (
        f"\n  state      {kept}: every change written ahead to its .log (fsync "
        f"{settings.fsync}), nothing acknowledged lost to a kill; saved whole at shutdown"
    )


def recorded(recordings: Recordings | None) -> str:
    """Where recorded answers came from, and what of them is not served as recorded."""
    if recordings is None or recordings.directory is None:
        return ""
    return f"\n  recorded   {recordings.summary()}{notice_lines(recordings.notices)}"


def access(settings: Settings) -> str:
    """Who may call: browser origins, whose credentials, and who reaches the control API."""
    origins = ", ".join(settings.cors_origins) or "localhost, 127.0.0.1 and [::1], any port"
    credentials = (
        f"strict: only those listed in {settings.credentials_file}"
        if settings.credentials_file is not None
        else "any non-empty credentials, as above"
    )
    if settings.control_token:
        control = "the control API needs 'Authorization: Bearer <control token>'"
    elif reachable_from_elsewhere(settings.host):
        # Bound for other machines, which the vendor APIs now answer: say plainly that the
        # control API does not, or a teammate's reset looks like a broken sandbox.
        control = f"""the control API is CLOSED to other machines: bound to {settings.host}, the
             vendor APIs answer anyone, but /_sandbox/... answers only clients on this
             machine (GET /_sandbox/health excepted). To open it, start with
             --control-token TOKEN (or set BILLING_SANDBOX_CONTROL_TOKEN=TOKEN) and send
             'Authorization: Bearer TOKEN'"""
    else:
        control = (
            "the control API answers this machine only, addressed as localhost or a loopback "
            "address (--control-token TOKEN opens it)"
        )
    return f"""
  browsers   CORS lets pages of {origins} call the vendor APIs
             (never the control API: only the dashboard's own pages may)
  auth       {credentials}
  access     {control}"""


def reachable_from_elsewhere(host: str) -> bool:
    """Whether binding `host` lets other machines in: anything but a loopback address or
    `localhost` (`0.0.0.0`, `::`, an interface's address, a name that may resolve to one)."""
    if host.lower() == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True
