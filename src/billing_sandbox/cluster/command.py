"""`billing-sandbox cluster`: N `serve` processes, each owning the tenants that hash to it,
the merger, Redis (MYCURE's socket events between shards) and HAProxy in front, started and
stopped together.

    billing-sandbox cluster --shards 3 --port 8000 --state-dir ./cluster-state
    billing-sandbox cluster --shards 3 --print-haproxy-config
    billing-sandbox cluster --merge-only --port 8100 --shard-urls http://a:8000,http://b:8000
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import uvicorn

from billing_sandbox import credentials
from billing_sandbox.apis import VENDOR_APIS
from billing_sandbox.cluster import haproxy, merge
from billing_sandbox.cluster.haproxy import Address
from billing_sandbox.settings import Settings, argument

NAME = "cluster"
HELP = "serve sandboxes sharded by tenant behind HAProxy"
DESCRIPTION = (
    "Sandboxes sharded by tenant behind HAProxy. Options it does not know are given to every "
    "shard's `serve` (say, --seed, --records, --control-token)."
)
STOP_SECONDS = 10  # how long a shard may take to save its state and stop
START_SECONDS = 30


class ClusterError(Exception):
    """The cluster cannot start: said in one line, exit 2."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # What it does not know goes to every shard's `serve` (`args.passed_on`).
    parser.set_defaults(passed_on=[])
    parser.add_argument("--shards", type=int, default=2, help="default: %(default)s")
    parser.add_argument("--host", default="127.0.0.1", help="HAProxy's address (%(default)s)")
    parser.add_argument(
        "--port", type=argument("port"), default=8000, help="HAProxy's port (%(default)s)"
    )
    parser.add_argument(
        "--state-dir", type=Path, help="each shard keeps its state file and spill here"
    )
    parser.add_argument("--haproxy", default="haproxy", help="the HAProxy program")
    parser.add_argument(
        "--haproxy-metrics-port",
        type=argument("port"),
        help="the loopback port of HAProxy's Prometheus exporter, /metrics (default: the port "
        "after Redis's)",
    )
    parser.add_argument(
        "--redis-server",
        default="redis-server",
        help="the Redis program that carries MYCURE's socket events between shards",
    )
    parser.add_argument(
        "--restart-delay", type=float, default=2.0, help="seconds before a dead shard restarts"
    )
    parser.add_argument(
        "--max-memory",
        type=argument("max_memory"),
        metavar="BYTES",
        help="keep the whole cluster's memory under BYTES (2G, 1536Mi): each shard's `serve "
        "--max-memory` is an equal share of what HAProxy, Redis, the merger and this process "
        "leave (default: BILLING_SANDBOX_MAX_MEMORY, or no cap)",
    )
    parser.add_argument(
        "--print-haproxy-config", action="store_true", help="print HAProxy's config and exit"
    )
    parser.add_argument(
        "--shard-urls",
        help="comma-separated shard base URLs, for the printed config or --merge-only "
        "(default: loopback ports after --port)",
    )
    parser.add_argument("--merger-url", help="the merger's base URL, for the printed config")
    parser.add_argument(
        "--merge-only", action="store_true", help="serve only the merger (shards run elsewhere)"
    )
    parser.add_argument(
        "--map-dir",
        type=Path,
        default=Path("."),
        help="with --credentials and --print-haproxy-config: where to write the tenant maps",
    )


def run(options: argparse.Namespace) -> int:
    # Every shard reads the same BILLING_SANDBOX_* variables: one it cannot take is refused
    # here, once (InvalidSetting, exit 2), not by each shard as it is restarted, again and again.
    variables = Settings.from_env()
    try:
        if options.shards < 1:
            raise ClusterError("a cluster has at least one shard (--shards 1 or more)")
        serve_options: list[str] = options.passed_on
        shards = _shard_addresses(options)
        merger = _address(options.merger_url) if options.merger_url else _merger(options)
        listen = Address(options.host, options.port)
        control_open = not _has_token(serve_options)
        if options.print_haproxy_config:
            # The map files go beside the config the user keeps (`--map-dir`).
            maps = _tenant_maps(serve_options, options.map_dir)
            exporter = _metrics_port(options)
            print(haproxy.config(listen, shards, merger, control_open, maps, exporter))
            return 0
        if options.merge_only:
            _serve_merger(Address(options.host, options.port), shards)
            return 0
        # Only where shards start: the merger's own `cluster --merge-only` reads the same
        # variable, and knows nothing of how many shards share it.
        cap = variables.max_memory if options.max_memory is None else options.max_memory
        serve_options = [*serve_options, *_memory_share(cap, options.shards)]
        return _run(options, serve_options, listen, shards, merger, control_open)
    except ClusterError as error:
        print(f"billing-sandbox cluster: {error}", file=sys.stderr)
        return 2


# What the cluster's other processes hold, measured with two shards on this project's machine:
# this process 86 MB, the merger 90 MB (both Python), HAProxy 16 MB and Redis 12 MB; with room
# for their growth under load. tests/cluster/test_cluster.py holds the four to it.
OTHERS_BYTES = 256 * 10**6
# The least share a shard may be given: a `serve` starts at about 105 MB, and a share much
# closer to that would have it dropping tenants all the time.
SHARD_MIN_BYTES = 256 * 10**6


def _memory_share(cap: int, shards: int) -> list[str]:
    """Each shard's `--max-memory` under the cluster's cap (none without one): the shards
    share what the other processes leave equally, since tenants spread evenly over them."""
    if not cap:
        return []
    share = (cap - OTHERS_BYTES) // shards
    if share < SHARD_MIN_BYTES:
        least = OTHERS_BYTES + shards * SHARD_MIN_BYTES
        raise ClusterError(
            f"--max-memory {cap / 1e6:.0f} MB leaves {max(share, 0) / 1e6:.0f} MB for each of "
            f"{shards} shards, under the {SHARD_MIN_BYTES / 1e6:.0f} MB a shard needs: give the "
            f"cluster at least {least / 1e6:.0f} MB, or fewer shards"
        )
    return ["--max-memory", str(share)]


def _option(serve_options: Sequence[str], name: str) -> str | None:
    """The value of `--name VALUE` or `--name=VALUE` among the options given to every shard."""
    for index, option in enumerate(serve_options):
        if option == name and index + 1 < len(serve_options):
            return serve_options[index + 1]
        if option.startswith(name + "="):
            return option.split("=", 1)[1]
    return None


def _tenant_maps(serve_options: Sequence[str], directory: Path) -> haproxy.TenantMaps:
    """With `--credentials FILE`, the logins it maps to another tenant, as HAProxy map files
    in `directory` (so that a login reaches the shard that owns its tenant)."""
    path = _option(serve_options, "--credentials")
    if path is None:
        return haproxy.TenantMaps()
    sections = {api.name: api.credentials for api in VENDOR_APIS if api.credentials is not None}
    try:
        listed = credentials.load(Path(path), sections)
    except credentials.CredentialsError as error:
        raise ClusterError(str(error)) from error
    written: dict[str, Path] = {}
    for api, key in (("candid", _name), ("decoda", _pair), ("mycure", _name)):
        entries = [(key(name, secret), tenant)
                   for (name, secret), tenant in listed.tenants_named(api).items()]  # fmt: skip
        if any(" " in text for entry in entries for text in entry):
            raise ClusterError(f"a {api} login in {path} holds a space, which a map cannot")
        if entries:
            written[api] = directory.resolve() / f"{api}-tenants.map"
            written[api].write_text("".join(f"{name} {tenant}\n" for name, tenant in entries))
    return haproxy.TenantMaps(**written)


def _name(name: str, _: str) -> str:
    return name


def _pair(name: str, secret: str) -> str:
    return f"{name}|{secret}"  # Decoda's TENANT may come with several keys, each its tenant


def _has_token(serve_options: Sequence[str]) -> bool:
    return any(o == "--control-token" or o.startswith("--control-token=") for o in serve_options)


def _address(url: str) -> Address:
    parsed = httpx.URL(url)
    if parsed.scheme != "http" or not parsed.host or parsed.port is None:
        raise ClusterError(f"{url!r} is not a base URL like http://127.0.0.1:8001")
    return Address(parsed.host, parsed.port)


def _shard_addresses(options: argparse.Namespace) -> list[Address]:
    if options.shard_urls:
        found = [_address(url.strip()) for url in options.shard_urls.split(",") if url.strip()]
        if not found:
            raise ClusterError("--shard-urls names no shard")
        return found
    return [Address("127.0.0.1", options.port + 1 + shard) for shard in range(options.shards)]


def _merger(options: argparse.Namespace) -> Address:
    return Address("127.0.0.1", options.port + 1 + options.shards)


def _serve_merger(at: Address, shards: Sequence[Address]) -> None:
    urls = [f"http://{address}" for address in shards]
    uvicorn.run(merge.app(merge.Shards(urls)), host=at.host, port=at.port, log_level="warning")


class Shard:
    """One `serve` process (or the merger's, or Redis), restarted with its state when it dies."""

    def __init__(
        self,
        index: int,
        address: Address,
        command: list[str],
        environment: dict[str, str] | None = None,
        label: str | None = None,
    ) -> None:
        self.index = index
        self.address = address
        self.command = command
        self.environment = environment
        self.label = label
        self.process: subprocess.Popen[bytes] | None = None
        self.died_at: float | None = None

    @property
    def name(self) -> str:
        if self.label is not None:
            return self.label
        return "merger" if self.index < 0 else haproxy.shard_name(self.index)

    def start(self) -> None:
        # Its banner says what the cluster's says better; its request lines go to stderr.
        # S603: our own interpreter with an argument list we built (no shell, nothing a
        # client sent).
        self.process = subprocess.Popen(  # noqa: S603
            self.command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=self.environment
        )
        self.died_at = None
        scheme = "redis" if self.label == "redis" else "http"
        print(f"  {self.name}  {scheme}://{self.address}  pid {self.process.pid}", flush=True)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # it saves its state file on the way out
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _shard_command(
    index: int, address: Address, state_dir: Path | None, serve_options: Sequence[str]
) -> list[str]:
    command = [sys.executable, "-m", "billing_sandbox", "serve",
               "--host", address.host, "--port", str(address.port)]  # fmt: skip
    if state_dir is not None:
        own = state_dir / haproxy.shard_name(index)
        own.mkdir(parents=True, exist_ok=True)
        command += ["--state-file", str(own / "state.json"), "--state-dir", str(own / "spill")]
    # Its name last, so that it wins over a `--shard` given to every shard: each shard's
    # metrics must carry a `shard` label of their own.
    return [*command, *serve_options, "--shard", haproxy.shard_name(index)]


def _shard_environment(state_dir: Path | None, redis: Address | None = None) -> dict[str, str]:
    """What every shard runs with: the cluster's environment and one signing key for every
    shard (unless BILLING_SANDBOX_SECRET gives one), so that a token issued by one shard
    verifies on all, and on a shard restarted after a crash. With a state directory the key is
    kept there, so tokens also outlive the cluster. It travels in the environment, never on a
    command line another user could read. With `redis`, the Redis that carries MYCURE's socket
    events between the shards (a socket may be on any shard, its organisation on another)."""
    environment = dict(os.environ)
    if not environment.get("BILLING_SANDBOX_SECRET"):
        environment["BILLING_SANDBOX_SECRET"] = _cluster_secret(state_dir)
    if redis is not None:
        environment["BILLING_SANDBOX_REDIS_URL"] = f"redis://{redis}/0"
    return environment


def _redis(redis_server: str, options: argparse.Namespace, work: Path) -> Shard:
    """Redis for the shards' socket events, on loopback only: pub/sub alone, so it keeps
    nothing (no snapshot, no append-only file) and a restart loses only events in flight."""
    program = shutil.which(redis_server)
    if program is None:
        raise ClusterError(
            f"Redis ({redis_server!r}) is not installed: Debian's `apt-get install redis-server`"
        )
    address = _redis_address(options)
    command = [program, "--bind", address.host, "--port", str(address.port),
               "--protected-mode", "yes", "--save", "", "--appendonly", "no",
               "--daemonize", "no", "--dir", str(work), "--loglevel", "warning",
               "--logfile", ""]  # fmt: skip
    return Shard(-1, address, command, label="redis")


def _redis_address(options: argparse.Namespace) -> Address:
    """The port after the merger's."""
    return Address("127.0.0.1", options.port + 2 + options.shards)


def _metrics_port(options: argparse.Namespace) -> int:
    """HAProxy's exporter: `--haproxy-metrics-port`, else the port after Redis's."""
    chosen: int | None = options.haproxy_metrics_port
    return chosen if chosen is not None else options.port + 3 + options.shards


def _cluster_secret(state_dir: Path | None) -> str:
    """The key kept in `state_dir` (made on the first start), or a new one without it."""
    if state_dir is None:
        return secrets.token_urlsafe(32)
    kept = state_dir / SECRET_FILE
    try:
        secret = kept.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        secret = ""
    except (OSError, UnicodeDecodeError) as error:
        raise ClusterError(f"cannot read the cluster's signing key {kept}: {error}") from None
    if len(secret) >= 32:
        return secret
    secret = secrets.token_urlsafe(32)
    state_dir.mkdir(parents=True, exist_ok=True)
    # Its owner's alone: whoever reads it can sign tokens for any client of the cluster.
    descriptor = os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(secret + "\n")
        file.flush()
        os.fsync(file.fileno())
    return secret


# In a cluster's state directory: the key every shard signs tokens with.
SECRET_FILE = "signing-key"  # noqa: S105 (a file name, not a secret)


def _run(
    options: argparse.Namespace,
    serve_options: list[str],
    listen: Address,
    addresses: list[Address],
    merger: Address,
    control_open: bool,
) -> int:
    program = shutil.which(options.haproxy)
    if program is None:
        raise ClusterError(
            f"HAProxy ({options.haproxy!r}) is not installed: Debian's `apt-get install haproxy`"
        )
    work = Path(tempfile.mkdtemp(prefix="billing-sandbox-cluster-"))
    try:
        redis = _redis(options.redis_server, options, work)
    except ClusterError:
        shutil.rmtree(work, ignore_errors=True)
        raise
    environment = _shard_environment(options.state_dir, redis.address)
    shards = [
        Shard(i, address, _shard_command(i, address, options.state_dir, serve_options), environment)
        for i, address in enumerate(addresses)
    ]
    config = work / "haproxy.cfg"
    try:
        maps = _tenant_maps(serve_options, work)
    except ClusterError:
        shutil.rmtree(work, ignore_errors=True)
        raise
    exporter = _metrics_port(options)
    config.write_text(haproxy.config(listen, addresses, merger, control_open, maps, exporter))
    # S603: HAProxy as `shutil.which` found it, on the config file we wrote (no shell).
    checked = subprocess.run([program, "-c", "-q", "-f", str(config)], capture_output=True)  # noqa: S603
    if checked.returncode != 0:
        shutil.rmtree(work, ignore_errors=True)
        raise ClusterError(f"HAProxy refused its config: {checked.stderr.decode().strip()}")
    print(f"billing-sandbox cluster: {len(shards)} shards behind HAProxy on http://{listen}",
          flush=True)  # fmt: skip
    urls = ",".join(f"http://{address}" for address in addresses)
    merger_process = Shard(-1, merger, [sys.executable, "-m", "billing_sandbox", "cluster",
                                        "--merge-only", "--host", merger.host, "--port",
                                        str(merger.port), "--shard-urls", urls])  # fmt: skip
    stopping: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, _: stopping.append(number))
    proxy: subprocess.Popen[bytes] | None = None
    try:
        for shard in [redis, *shards, merger_process]:
            shard.start()
        proxy = subprocess.Popen(  # noqa: S603 (as the check above: no shell, our config)
            [program, "-db", "-f", str(config)], stdin=subprocess.DEVNULL
        )
        print(f"  haproxy  pid {proxy.pid}", flush=True)
        print(f"  haproxy-metrics  http://127.0.0.1:{exporter}/metrics", flush=True)
        _wait_until_up(f"http://{listen}", stopping)
        print("ready", flush=True)
        while not stopping:
            for shard in _due_for_restart([redis, *shards, merger_process], options.restart_delay):
                shard.start()
            if proxy.poll() is not None:
                raise ClusterError(f"HAProxy stopped (exit {proxy.returncode})")
            time.sleep(0.2)
    finally:
        if proxy is not None and proxy.poll() is None:
            proxy.terminate()
            proxy.wait(timeout=STOP_SECONDS)
        for shard in [merger_process, *shards, redis]:
            shard.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _due_for_restart(shards: Sequence[Shard], delay: float) -> list[Shard]:
    """The shards that died at least `delay` seconds ago (each death is said once)."""
    now = time.monotonic()
    due = []
    for shard in shards:
        if shard.process is None or shard.process.poll() is None:
            continue
        if shard.died_at is None:
            shard.died_at = now
            name = shard.name
            print(f"billing-sandbox cluster: {name} stopped (exit {shard.process.returncode}); "
                  f"restarting it in {delay:g} s", file=sys.stderr, flush=True)  # fmt: skip
        elif now - shard.died_at >= delay:
            due.append(shard)
    return due


def _wait_until_up(base: str, stopping: list[int]) -> None:
    deadline = time.monotonic() + START_SECONDS
    while not stopping:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            answer = httpx.get(f"{base}/_sandbox/health", timeout=2)
            if answer.status_code == 200 and not answer.json().get("down"):
                return
        if time.monotonic() > deadline:
            raise ClusterError(f"the cluster did not come up within {START_SECONDS} s")
        time.sleep(0.2)
