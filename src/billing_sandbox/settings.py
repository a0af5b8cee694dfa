"""Settings: one frozen dataclass, what each setting takes, and the only place that reads the
environment."""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any


def bundled(name: str) -> Path:
    """`openapi` or `fixtures`: inside the package where a wheel installed it, else at the top
    of the checkout this module runs from (an editable install, or the source tree)."""
    packaged = resources.files("billing_sandbox").joinpath(name)
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"billing-sandbox is installed without its {name}/ directory")


# What the `webhook_hosts` keywords mean, and the only addresses the sandbox ever sends a webhook
# to (issue 27): other entries may narrow them or name a host, never widen them, so a shared
# sandbox cannot be made to post to the internet or a cloud's metadata service.
WEBHOOK_NETWORKS: dict[str, tuple[str, ...]] = {
    "loopback": ("127.0.0.0/8", "::1/128"),
    "private": ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"),
}


# When the write-ahead log reaches the disk (see `Settings.fsync`).
FSYNC_MODES = ("always", "every-second", "off")
# How `serve` writes its line per request (see `Settings.log_format`).
LOG_FORMATS = ("text", "json")
# The HTTP server `serve` runs the app on (see `Settings.server`).
SERVERS = ("uvicorn", "granian")
# The words a boolean setting is written with, in any case (`BILLING_SANDBOX_QUIET=1`); any
# other word is refused, not read as false.
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


class InvalidSetting(ValueError):
    """A setting the sandbox refuses to start with; the message says which and why."""


@dataclass(frozen=True)
class Kind:
    """What a setting takes: said to a person, read from text (a variable's or a flag's), and
    checked on a value, wherever it came from."""

    takes: str  # "a whole number from 0 to 65535": what a message says it must be
    parse: Callable[[str], Any]  # the text as a value; ValueError when it is not one
    holds: Callable[[Any], bool]  # whether a value is one


def whole(least: int | None = None, most: int | None = None) -> Kind:
    """A whole number, at least `least` and at most `most` where given."""
    if least is None:
        takes = "a whole number"
    elif most is None:
        takes = f"a whole number of at least {least}"
    else:
        takes = f"a whole number from {least} to {most}"

    def holds(value: Any) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and (least is None or value >= least)
            and (most is None or value <= most)
        )

    return Kind(takes, int, holds)


# A size in bytes: a whole number, or one with a unit, in powers of 1000 (`512M`, `2GB`) or of
# 1024 (`512Mi`, `1GiB`), in any case. `M` is 10**6 as Kubernetes reads it; Docker's `512m` is
# 512 MiB, so a Docker limit copied as it is reads about 5% lower here: inside it, never over.
_SIZE = re.compile(r"(?P<count>[0-9]{1,15})\s*(?:(?P<unit>[kmgt])(?P<binary>i)?)?b?", re.I)
_SIZE_POWERS = {"k": 1, "m": 2, "g": 3, "t": 4}


def _size(text: str) -> int:
    size = _SIZE.fullmatch(text.strip())
    if size is None:
        raise ValueError(text)
    if size["unit"] is None:
        return int(size["count"])
    unit: int = (1024 if size["binary"] else 1000) ** _SIZE_POWERS[size["unit"].lower()]
    return int(size["count"]) * unit


SIZE = Kind("a size in bytes, such as 536870912, 512M or 1GiB", _size, whole(0).holds)


def one_of(choices: tuple[str, ...]) -> Kind:
    return Kind(f"one of {', '.join(choices)}", str.strip, lambda value: value in choices)


def _boolean(text: str) -> bool:
    word = text.strip().lower()
    if word not in TRUE_WORDS + FALSE_WORDS:
        raise ValueError(text)
    return word in TRUE_WORDS


def _name(text: str) -> str:
    if not text.strip():
        raise ValueError(text)
    return text.strip()


def _path(text: str) -> Path:
    if not text.strip():
        raise ValueError(text)
    return Path(text)


def _optional_path(text: str) -> Path | None:
    # Empty means none (`BILLING_SANDBOX_STATE_FILE=` keeps state in memory only).
    return Path(text) if text.strip() else None


def _list(text: str) -> tuple[str, ...]:
    # Lists travel comma-separated: `BILLING_SANDBOX_CORS_ORIGINS=http://a.test,http://b.test`.
    return tuple(item.strip() for item in text.split(",") if item.strip())


# `--reset-every`: a period (`24h`, `90m`, `7d`) or a daily time of day (`06:00`).
_PERIOD = re.compile(r"(?P<count>[1-9][0-9]{0,4})(?P<unit>[dhm])")
_TIME_OF_DAY = re.compile(r"(?P<hour>[01][0-9]|2[0-3]):(?P<minute>[0-5][0-9])")
_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}


def reset_schedule(text: str) -> timedelta | time | None:
    """`--reset-every` as what it means: a period, a time of day (on the server's local
    time), or None (empty: never). A ValueError for any other text."""
    text = text.strip()
    if not text:
        return None
    if period := _PERIOD.fullmatch(text):
        return int(period["count"]) * _UNITS[period["unit"]]
    if at := _TIME_OF_DAY.fullmatch(text):
        return time(int(at["hour"]), int(at["minute"]))
    raise ValueError(text)


def _schedule_text(text: str) -> str:
    reset_schedule(text)
    return text.strip()


def _is_schedule(value: Any) -> bool:
    try:
        return isinstance(value, str) and _schedule_text(value) == value
    except ValueError:
        return False


BOOLEAN = Kind(
    f"true or false ({', '.join(TRUE_WORDS)}; {', '.join(FALSE_WORDS)})",
    _boolean,
    lambda value: isinstance(value, bool),
)
TEXT = Kind("text", str, lambda value: isinstance(value, str))
# A label's value in every metric a shard exposes: short and plain, so it reads in any query.
SHARD_NAME = Kind(
    "letters, digits, '.', '_' or '-', at most 64 (or empty)",
    str,
    lambda value: isinstance(value, str) and bool(re.fullmatch(r"[A-Za-z0-9._-]{0,64}", value)),
)
HOST = Kind("a host name or address", _name, lambda value: isinstance(value, str) and bool(value))
PATH = Kind("a path", _path, lambda value: isinstance(value, Path))
OPTIONAL_PATH = Kind(
    "a path (empty: none)", _optional_path, lambda value: value is None or isinstance(value, Path)
)
LIST = Kind(
    "a comma-separated list",
    _list,
    lambda value: isinstance(value, tuple) and all(isinstance(item, str) for item in value),
)
SCHEDULE = Kind(
    "a period such as 24h, 90m or 7d, or a time of day such as 06:00 (empty: never)",
    _schedule_text,
    _is_schedule,
)


# What every setting takes, field by field (a test keeps it whole): the one check of a setting,
# whether it comes from a `BILLING_SANDBOX_*` variable, a flag of `serve` or code.
KINDS: dict[str, Kind] = {
    "host": HOST,
    "port": whole(0, 65535),
    "seed": whole(),
    "records": whole(0),
    "response_validation": BOOLEAN,
    "max_body_bytes": whole(1),
    "max_state_bytes": whole(1),
    "max_head_bytes": whole(1),
    "head_timeout_seconds": whole(1),
    "max_connections": whole(1),
    "token_ttl_seconds": whole(1),
    "mycure_token_ttl_seconds": whole(1),
    "mycure_paginate": BOOLEAN,
    "mycure_default_limit": whole(1),
    "mycure_max_limit": whole(1),
    "journal_size": whole(0),
    "journal_body_bytes": whole(0),
    "max_fault_delay_ms": whole(0),
    "secret": TEXT,
    "specs_dir": PATH,
    "fixtures_dir": PATH,
    "cors_origins": LIST,
    "credentials_file": OPTIONAL_PATH,
    "max_tenants": whole(1),
    "state_dir": OPTIONAL_PATH,
    "state_file": OPTIONAL_PATH,
    "fsync": one_of(FSYNC_MODES),
    "max_log_bytes": whole(1),
    "recordings_dir": OPTIONAL_PATH,
    "log_format": one_of(LOG_FORMATS),
    "quiet": BOOLEAN,
    "control_token": TEXT,
    "allowed_hosts": LIST,
    "webhook_hosts": LIST,
    "max_cached_renders": whole(0),
    "max_render_bytes": SIZE,
    "max_render_memory": SIZE,
    "max_memory": SIZE,
    "rate_limits": LIST,
    "redis_url": TEXT,
    "scenarios": LIST,
    "scenarios_dir": OPTIONAL_PATH,
    "reset_every": SCHEDULE,
    "server": one_of(SERVERS),
    "metrics": BOOLEAN,
    "shard": SHARD_NAME,
}
# The files and directories read at start, which must be there (`Settings.check_files`): what
# each is called, and whether it is a directory. (The state file and directories are made.)
READ_AT_START: dict[str, tuple[str, bool]] = {
    "specs_dir": ("directory of OpenAPI specs", True),
    "fixtures_dir": ("fixtures directory", True),
    "credentials_file": ("credentials file", False),
    "recordings_dir": ("recordings directory", True),
    "scenarios_dir": ("scenarios directory", True),
}


def variable(name: str) -> str:
    """The environment variable of setting `name`: `BILLING_SANDBOX_PORT` for `port`."""
    return f"BILLING_SANDBOX_{name.upper()}"


def parse(name: str, text: str) -> Any:
    """`text` (a variable's or a flag's) as setting `name` takes it; a ValueError that says
    what it takes when it is not: `must be a whole number from 0 to 65535, not 'x'`."""
    kind = KINDS[name]
    try:
        value = kind.parse(text)
    except ValueError:
        value = None
    else:
        if kind.holds(value):
            return value
    raise ValueError(f"must be {kind.takes}, not {text[:40]!r}")


def argument(name: str) -> Callable[[str], Any]:
    """The argparse `type` of a flag for setting `name`: the same check as its variable's, said
    as argparse says a flag's error (`argument --port: must be a whole number …`, exit 2)."""

    def typed(text: str) -> Any:
        try:
            return parse(name, text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return typed


@dataclass(frozen=True)
class Settings:
    """Everything that can be tuned, with the defaults a user gets from `billing-sandbox serve`."""

    host: str = "127.0.0.1"
    port: int = 8000
    seed: int = 0
    # Write-offs seeded per Candid tenant; reference data (service lines, payers …) scales with it.
    records: int = 200
    response_validation: bool = True
    max_body_bytes: int = 1_048_576
    # The control API's limit: a snapshot of every tenant (`PUT /_sandbox/state`) is large.
    max_state_bytes: int = 268_435_456
    # A request's head (request line and headers) past this many bytes is refused with 431:
    # Node's default and h11's (16 KiB), enough for any API client's headers. (httptools, which
    # uvicorn uses, sets no limit of its own: a client could send headers until memory ran out.)
    max_head_bytes: int = 16_384
    # A connection that has not sent a whole request head this many seconds after it opened
    # (or after the first byte of its next request) is closed: a client that dribbles its
    # head ("slowloris") would otherwise hold a connection, and a slot below, forever.
    head_timeout_seconds: int = 5
    # Connections served at once; past it, a request is answered 503. Each costs a file
    # descriptor, and the usual limit of open files per process is 1024: below it, the server
    # can still open its state file, spill files and webhooks' connections.
    max_connections: int = 1000
    # Candid documents that a token "expires 5 hours after creation".
    token_ttl_seconds: int = 18_000
    # MYCURE: Feathers' own default lifetime for an access token ("1d"); refresh tokens last 30 d.
    mycure_token_ttl_seconds: int = 86_400
    # MYCURE find: the documented bare JSON array, or Feathers' page `{total, limit, skip, data}`
    # for teams whose production service paginates.
    mycure_paginate: bool = False
    # MYCURE `$limit`: used when absent, and the most a find returns (larger values are clamped).
    mycure_default_limit: int = 100
    mycure_max_limit: int = 1000
    # The request journal keeps this many of the latest vendor requests, bodies cut past
    # `journal_body_bytes`, so memory stays bounded however long the server runs.
    journal_size: int = 1000
    journal_body_bytes: int = 4096
    # The longest a `Prefer: delay=` or a fault rule may hold a request.
    max_fault_delay_ms: int = 10_000
    # Signs bearer tokens (Candid, MYCURE). Empty: a random key of the server's own, which a
    # state file keeps so that issued tokens survive a restart, as the vendor's do; a key
    # published in this code would let anyone forge a token for any strict-mode client.
    secret: str = ""
    specs_dir: Path = field(default_factory=lambda: bundled("openapi"))
    fixtures_dir: Path = field(default_factory=lambda: bundled("fixtures"))
    # Browser origins CORS lets in; empty means any loopback origin (http or https on
    # localhost, 127.0.0.1 or [::1], any port), where a frontend under development runs.
    cors_origins: tuple[str, ...] = ()
    # A YAML file listing the only credentials accepted (strict mode); None accepts any.
    credentials_file: Path | None = None
    # Tenants held in memory (each seeded in all three APIs costs about 0.7 MB). Past it, the
    # least recently used pristine tenants are dropped (their seed rebuilds them) and tenants
    # with writes are spilled to `state_dir`, then loaded back on their next request.
    max_tenants: int = 1000
    # Where tenants are spilled (and, without a `state_file`, where the state is kept:
    # `state.json` and its log); None: a directory of the server's own under the system's
    # temporary directory, made on the first spill and removed at shutdown.
    state_dir: Path | None = None
    # A JSON file of every tenant's state (and its write-ahead log, `.log` beside it): loaded
    # and replayed at start, saved whole at shutdown and on
    # `POST /_sandbox/state/save`; None keeps state in memory only.
    state_file: Path | None = None
    # With a state file (or directory), each change is written ahead to its log; `always`
    # flushes it to disk before the answer (nothing acknowledged lost even to a power cut),
    # `every-second` once a second (a power cut loses at most about a second; a killed
    # process nothing), `off` leaves it to the system.
    fsync: str = "every-second"
    # Past this size the log is folded into a new snapshot (between requests).
    max_log_bytes: int = 64 * 1024 * 1024
    # Exchanges recorded by `billing-sandbox proxy --record`: their records are laid over
    # every tenant's seed data. None loads none.
    recordings_dir: Path | None = None
    # `serve` logs one line per vendor request: `text` (coloured on a terminal) or `json`
    # (one object per line); `quiet` logs none.
    log_format: str = "text"
    quiet: bool = False
    # With a token, the control API requires `Authorization: Bearer <token>` from any client;
    # without one, it answers loopback clients only.
    control_token: str = ""
    # Without a control token, the control API and dashboard answer only requests whose `Host`
    # is `localhost` or a loopback address (against DNS rebinding); these names count too.
    allowed_hosts: tuple[str, ...] = ()
    # Where webhooks may go: `loopback`, `private` (a private network, a Compose service), host
    # names, or networks inside those two (CIDR). A URL outside them is refused with 422, and a
    # name whose address is outside them is refused when sent (see WEBHOOK_NETWORKS).
    webhook_hosts: tuple[str, ...] = ("loopback", "private")
    # What a tenant keeps of its records' renderings for reads (JSON bytes, about 3 KB for a
    # Decoda charge, and what keeping each costs beside them): at most this many bytes, in at
    # most `max_cached_renders` renderings and lists; past either, the tenant starts over. A
    # default tenant read in all three APIs keeps about 0.4 MB. 0 renders every read afresh.
    max_render_bytes: int = 4 * 1024 * 1024
    max_cached_renders: int = 5000
    # What all tenants together keep of their renderings: past it, the least recently used
    # tenants' renderings are forgotten (made again on their next reads), so the tenants in use
    # keep theirs while a thousand idle ones cost their records only. 0: no bound but each
    # tenant's own.
    max_render_memory: int = 64 * 1024 * 1024
    # The server's memory (its resident set) kept under this many bytes: past it, the tenants'
    # kept renderings are dropped, then the least recently used tenants as past `max_tenants`.
    # 0: no cap (`max_tenants` alone bounds memory).
    max_memory: int = 0
    # Rate limits as the vendors enforce them, per tenant: `decoda=100/10` allows a burst of
    # 100 calls, refilled at 100 per 10 s on the tenant's clock; past it, 429. None by default.
    rate_limits: tuple[str, ...] = ()
    # MYCURE's socket events cross the shards of a cluster through this Redis
    # (`redis://127.0.0.1:PORT/0`; `billing-sandbox cluster` sets it); empty: this server's
    # sockets only, and no Redis at all.
    redis_url: str = ""
    # Scenarios applied at start, each `NAME|PATH[@TENANT]` (a pack's name or a scenario
    # file; the tenant is the scenario's name unless given): each tenant reset, then applied.
    scenarios: tuple[str, ...] = ()
    # Packs of your own, beside the shipped ones (`GET /_sandbox/scenarios` lists them all).
    scenarios_dir: Path | None = None
    # A shared demo: the start scenarios' tenants reset and applied again at each period
    # (`24h`) or daily at a time of day (`06:00`, the server's local time); empty: never.
    reset_every: str = ""
    # `uvicorn`, or `granian` (the `granian` extra): a Rust HTTP server that spends about a fifth
    # less CPU a request, the same app on the same loop (docs/scaling.md).
    server: str = "uvicorn"
    # Counts requests, tenants, webhooks and the state's log for `GET /_sandbox/metrics`
    # (Prometheus's text format; docs/monitoring.md). Off: that answers 404, nothing is counted.
    metrics: bool = True
    # This server's name in a cluster (`billing-sandbox cluster` sets it): every metric's `shard`
    # label. Empty: no such label.
    shard: str = ""

    def __post_init__(self) -> None:
        # Every value, however it was given (code, a flag, a variable), is one its setting takes.
        for item in fields(self):
            value = getattr(self, item.name)
            kind = KINDS[item.name]
            if not kind.holds(value):
                said = f"{item.name} ({variable(item.name)})"
                raise InvalidSetting(f"{said} must be {kind.takes}, not {value!r}")
        check_webhook_hosts(self.webhook_hosts)
        if self.reset_every and not self.scenarios:
            raise InvalidSetting(
                f"reset_every ({variable('reset_every')}) resets the tenants of the start "
                f"scenarios, and none is given: add scenarios ({variable('scenarios')}, or "
                "serve --scenario NAME)"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read `BILLING_SANDBOX_<FIELD>` variables, then apply explicit overrides; a variable
        its setting cannot take is refused naming it (InvalidSetting), never read as a default."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for item in fields(cls):
            raw = env.get(variable(item.name))
            if raw is not None:
                try:
                    values[item.name] = parse(item.name, raw)
                except ValueError as error:
                    raise InvalidSetting(f"{variable(item.name)} {error}") from None
        return replace(cls(**values), **overrides)

    def check_files(self, named: Mapping[str, str] | None = None) -> None:
        """Refuse a file or directory read at start that is not there, saying where it was
        set: `named[setting]` (say, the flag that gave it), else its variable. (A `Settings`
        may be made before its files are; the server checks them as it starts.)"""
        for name, (called, directory) in READ_AT_START.items():
            path: Path | None = getattr(self, name)
            if path is None or (path.is_dir() if directory else path.is_file()):
                continue
            said = (named or {}).get(name, variable(name))
            found = (
                "nothing is there"
                if not path.exists()
                else "it is not a " + ("directory" if directory else "file")
            )
            raise InvalidSetting(
                f"{said} must name an existing {called}, not {str(path)!r} ({found})"
            )


def check_webhook_hosts(entries: tuple[str, ...]) -> None:
    """Refuse an entry that would widen where webhooks go past loopback and private addresses."""
    said = "webhook_hosts (BILLING_SANDBOX_WEBHOOK_HOSTS)"
    reachable = [ipaddress.ip_network(n) for nets in WEBHOOK_NETWORKS.values() for n in nets]
    for entry in entries:
        if entry == "any":
            # It once let webhooks reach any host: quietly narrowing it would surprise whoever
            # relied on that, so it stops the start and says what to write instead.
            raise InvalidSetting(
                f"{said}: 'any' is no longer accepted: webhooks go only to loopback and "
                "private addresses; list the receiver's host name instead"
            )
        if entry in WEBHOOK_NETWORKS:
            continue
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            if "/" in entry:
                raise InvalidSetting(f"{said}: {entry!r} is not a network") from None
            continue  # a host name: its addresses are checked each time a webhook is sent
        first, last = network.network_address, network.broadcast_address
        if not any(first in r and last in r for r in reachable):
            ranges = ", ".join(n for nets in WEBHOOK_NETWORKS.values() for n in nets)
            raise InvalidSetting(
                f"{said}: {entry!r} reaches beyond loopback and private addresses "
                f"({ranges}), where the sandbox never sends webhooks"
            )


# OpenTelemetry's own variables, as far as they decide whether `serve` sends traces and with
# which exporter (the `otel` extra; docs/monitoring.md, Traces). The SDK and its exporter read
# the rest themselves (the endpoint, headers, sampler, resource). Read here, before anything of
# OpenTelemetry is imported: without them, none is.
TRACES_EXPORTERS = ("otlp", "console")
# Any of these set (and no `OTEL_TRACES_EXPORTER`) asks for traces over OTLP.
TRACES_ASKED_BY = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_SERVICE_NAME",
)


def traces_exporters(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The exporters the `OTEL_*` variables ask traces to go to (none: no traces). Refuses,
    naming the variable, an exporter or an OTLP protocol the sandbox does not send with."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return ()
    named = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "").split(",")]
    named = [n for n in named if n]
    if not named:
        named = ["otlp"] if any(env.get(name, "").strip() for name in TRACES_ASKED_BY) else []
    if "none" in named:
        return ()
    for name in named:
        if name not in TRACES_EXPORTERS:
            raise InvalidSetting(
                f"OTEL_TRACES_EXPORTER: billing-sandbox sends traces with otlp or console (or "
                f"none), not {name!r}"
            )
    if "otlp" in named:
        for variable_name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
            protocol = env.get(variable_name, "").strip()
            if protocol and protocol != "http/protobuf":
                raise InvalidSetting(
                    f"{variable_name}: billing-sandbox sends OTLP over http/protobuf (to port "
                    f"4318), not {protocol!r}"
                )
            if protocol:
                break  # the traces' own variable wins over the general one
    return tuple(dict.fromkeys(named))
