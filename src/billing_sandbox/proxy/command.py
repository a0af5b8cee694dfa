"""`billing-sandbox proxy --api A --upstream URL`: its flags, its log and its server."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import httpx
import uvicorn

from billing_sandbox.apis import VENDOR_APIS
from billing_sandbox.proxy.app import create_proxy_app
from billing_sandbox.proxy.checks import HEADER
from billing_sandbox.settings import Settings, argument

NAME = "proxy"
HELP = "check a real API's answers against our spec"
DESCRIPTION = (
    "Forward every request to the real API unchanged and check each response against the "
    f"sandbox's spec: violations are logged, listed in the {HEADER} response header and kept "
    "in GET /_sandbox/requests."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", required=True, choices=[api.name for api in VENDOR_APIS])
    parser.add_argument(
        "--upstream", required=True, type=_upstream, metavar="URL", help="the real API's base URL"
    )
    # Loopback unless told otherwise, like `serve`: the journal holds upstream data.
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default: %(default)s)"
    )
    # Not the sandbox's 8000, so a proxy in front of a local sandbox needs no flag.
    parser.add_argument("--port", type=argument("port"), default=8001, help="default: %(default)s")
    parser.add_argument(
        "--record",
        type=Path,
        metavar="DIR",
        help="write each exchange, secrets redacted, as a YAML file in DIR (see README)",
    )


def _upstream(text: str) -> str:
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as error:
        raise argparse.ArgumentTypeError(f"not a URL: {error}") from error
    if url.scheme not in {"http", "https"} or not url.host:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http(s) URL with a host")
    if url.query or url.fragment:
        raise argparse.ArgumentTypeError("the upstream is a base URL: no query or fragment")
    return text


def run(args: argparse.Namespace) -> int:
    # The sandbox's settings (spec files, journal sizes, limits) from the environment, checked
    # before anything starts (InvalidSetting names a variable it refuses).
    settings = Settings.from_env()
    # Violations are the point of the command: they go to stderr whatever uvicorn logs.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    proxy_log = logging.getLogger("billing_sandbox.proxy")
    proxy_log.addHandler(handler)
    proxy_log.setLevel(logging.INFO)
    app = create_proxy_app(args.api, args.upstream, record_dir=args.record, settings=settings)
    base = f"http://{args.host}:{args.port}"
    recording = f"\n  recording  each exchange to {args.record}/" if args.record else ""
    print(
        f"billing-sandbox proxy for {args.api} on {base} -> {args.upstream}\n"
        f"  header     {HEADER}: <count>; <operation> <field>: <message>; ...\n"
        f"  journal    {base}/_sandbox/requests?violations=true{recording}\n"
        "Press Ctrl+C to stop.",
        flush=True,
    )
    # The upstream's own Date and Server go back to the client; uvicorn would add its own too.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        server_header=False,
        date_header=False,
    )
    return 0
