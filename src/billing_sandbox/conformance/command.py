"""`billing-sandbox conformance`: one API's spec, checked by schemathesis against any server."""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import sys
import tempfile
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from billing_sandbox.conformance.answers import expected_statuses
from billing_sandbox.conformance.apis import APIS, READ_ONLY_METHODS, has_links, load_operations
from billing_sandbox.conformance.login import CannotRun, Credentials, authenticate
from billing_sandbox.conformance.report import Masker, describe, read_events, table
from billing_sandbox.conformance.runner import Plan, command, find_st, tail
from billing_sandbox.conformance.runner import run as run_schemathesis
from billing_sandbox.settings import Settings

CONFORMS, DIFFERS, CANNOT_RUN = 0, 1, 2
ENV = "BILLING_SANDBOX_CONFORMANCE_"
# Off loopback the run talks to someone's real server: a cap keeps it a polite client.
DEFAULT_REMOTE_RATE_LIMIT = "10/s"
# What schemathesis takes as an expected status: `422`, or a class such as `4xx`.
_STATUS = re.compile(r"[1-5](?:[0-9]{2}|xx)")
# Secrets travel in environment variables (never flags, which `ps` shows to everyone);
# each option names the variable, defaulting to BILLING_SANDBOX_CONFORMANCE_<FIELD>.
SECRET_FIELDS = (
    "candid_client_secret",
    "candid_token",
    "decoda_api_key",
    "mycure_password",
    "mycure_token",
)


NAME = "conformance"
HELP = "run schemathesis with our spec against a server"
DESCRIPTION = (
    "Check a server (the vendor's, or a sandbox) against our OpenAPI spec of one API with "
    "schemathesis. Exit 0: it conforms; 1: it differs; 2: it could not run."
)


def parser() -> argparse.ArgumentParser:
    """`billing-sandbox conformance` on its own (`main`)."""
    p = argparse.ArgumentParser(prog="billing-sandbox conformance", description=DESCRIPTION)
    add_arguments(p)
    return p


def add_credential_arguments(p: argparse.ArgumentParser) -> None:
    """The credentials of each API: names as flags, secrets named by the environment variable
    that holds them (flags show in `ps`). `contract verify` takes the same."""
    p.add_argument("--candid-client-id", default="", metavar="ID")
    p.add_argument("--decoda-tenant", default="", metavar="TENANT")
    p.add_argument("--mycure-email", default="", metavar="EMAIL")
    for name in SECRET_FIELDS:
        variable = ENV + name.upper()
        p.add_argument(
            f"--{name.replace('_', '-')}-env",
            default=variable,
            metavar="VAR",
            help=f"environment variable holding the {name.replace('_', ' ')} "
            "(default: %(default)s)",
        )


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `billing-sandbox conformance`."""
    p.add_argument("--api", required=True, choices=sorted(APIS), help="which API's spec to use")
    p.add_argument("--base-url", required=True, metavar="URL", help="the server to check")
    add_credential_arguments(p)
    p.add_argument(
        "--max-examples", type=int, default=20, metavar="N", help="cases per operation and phase"
    )
    p.add_argument("--seed", type=int, default=None, help="repeat a run exactly")
    p.add_argument(
        "--stateful",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="follow the spec's links (create → get → ...) after the stateless phases",
    )
    p.add_argument(
        "--allow-writes",
        action="store_true",
        help="also run operations that change data (POST, PATCH, DELETE) against a server "
        "that is not on loopback; off loopback only GET operations run without it",
    )
    p.add_argument(
        "--rate-limit",
        default=None,
        metavar="N/UNIT",
        help=f"most requests per second/minute, e.g. 10/s (default: {ENV}RATE_LIMIT, else "
        f"{DEFAULT_REMOTE_RATE_LIMIT} off loopback and none on loopback)",
    )
    p.add_argument(
        "--report-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep junit.xml, events.ndjson and schemathesis.log here (secrets masked)",
    )
    p.add_argument(
        "--expected-statuses",
        action="append",
        default=[],
        type=_statuses,
        metavar="ID=STATUS,...",
        help="statuses operation ID may answer a schema-valid request beyond 2xx, 401, 403, "
        "404 and 409, replacing the business-rule answers shipped for it (repeatable; "
        "`ID=` allows none)",
    )
    p.add_argument(
        "--include-operation-id",
        action="append",
        default=[],
        metavar="ID",
        help="check only these operations (repeatable); default: every operation",
    )


def _statuses(text: str) -> tuple[str, tuple[str, ...]]:
    """`ID=STATUS,...` as (ID, statuses): a status is three digits or a class such as 4xx."""
    operation_id, equals, listed = text.partition("=")
    statuses = tuple(status.strip().lower() for status in listed.split(",") if status.strip())
    if not (operation_id.strip() and equals) or not all(_STATUS.fullmatch(s) for s in statuses):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not ID=STATUS,... (e.g. createWebhook=400,422, or createWebhook=)"
        )
    return operation_id.strip(), statuses


def is_loopback(base_url: str) -> bool:
    """Whether the URL names this machine by a loopback address or `localhost`.

    Names are not resolved: a host that merely resolves to 127.0.0.1 counts as remote, the
    safe side of the read-only rule.
    """
    host = urllib.parse.urlsplit(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
) -> int:
    """`billing-sandbox conformance ARGV`; returns the exit code (as `run`)."""
    return run(parser().parse_args(argv), environ, out)


def run(
    args: argparse.Namespace,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
) -> int:
    """Run the command; returns the exit code (0 conforms, 1 differs, 2 could not run)."""
    env = os.environ if environ is None else environ
    stdout = out or sys.stdout
    try:
        return _conformance(args, env, stdout)
    except CannotRun as error:
        print(f"billing-sandbox conformance: cannot run: {error}", file=stdout, flush=True)
        return CANNOT_RUN
    except Exception as error:  # a command never ends in a traceback
        # The secrets may be in the error's text: mask what is printed, as everywhere else.
        masker = Masker(env.get(getattr(args, f"{name}_env"), "") for name in SECRET_FIELDS)
        problem = masker(f"{type(error).__name__}: {error}")
        print(f"billing-sandbox conformance: cannot run: {problem}", file=stdout, flush=True)
        return CANNOT_RUN


def _conformance(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    api = APIS[args.api]
    base_url = args.base_url.rstrip("/")
    if urllib.parse.urlsplit(base_url).scheme not in {"http", "https"}:
        raise CannotRun(f"--base-url must be an http(s) URL, not {args.base_url!r}")
    find_st()  # fail before any request when schemathesis is missing
    spec = Settings().specs_dir / api.spec_file
    operations = load_operations(spec)
    known = {operation.operation_id for operation in operations}
    unknown = sorted({*args.include_operation_id, *dict(args.expected_statuses)} - known)
    if unknown:
        raise CannotRun(f"no operation {', '.join(unknown)} in {spec.name}")
    wanted = [o for o in operations if o.operation_id in args.include_operation_id] or operations
    loopback = is_loopback(base_url)
    read_only = not loopback and not args.allow_writes
    selected = [o for o in wanted if not read_only or o.method in READ_ONLY_METHODS]
    left_out = [o.label for o in wanted if o not in selected]
    if not selected:
        raise CannotRun("no read-only operation selected; --allow-writes runs the others")
    stateful = args.stateful and has_links(selected)
    rate_limit = (
        args.rate_limit
        or env.get(ENV + "RATE_LIMIT")
        or (None if loopback else DEFAULT_REMOTE_RATE_LIMIT)
    )

    credentials = Credentials(
        candid_client_id=args.candid_client_id,
        decoda_tenant=args.decoda_tenant,
        mycure_email=args.mycure_email,
        **{name: env.get(getattr(args, f"{name}_env"), "") for name in SECRET_FIELDS},
    )
    # Secrets known before the sign-in are masked even in its error messages.
    masker = Masker(getattr(credentials, name) for name in SECRET_FIELDS)
    print(f"conformance: {api.title} ({api.spec_file}) against {base_url}", file=out)
    if read_only:
        print(
            f"  read-only: {base_url} is not on loopback, so only GET operations run "
            f"({len(left_out)} left out; --allow-writes runs them too)",
            file=out,
        )
    elif not loopback:
        print("  writes allowed (--allow-writes): POST, PATCH and DELETE run too", file=out)
    print(
        f"  {len(selected)} operations, {args.max_examples} examples each, stateful "
        f"{'on' if stateful else 'off'}, rate limit {rate_limit or 'none'}",
        file=out,
        flush=True,
    )
    for operation_id, statuses in args.expected_statuses:
        shown = ", ".join(statuses) or "none"
        print(f"  {operation_id}: business-rule statuses {shown} (--expected-statuses)", file=out)
    try:
        auth = authenticate(api.name, base_url, credentials)
    except CannotRun as error:
        raise CannotRun(masker(str(error))) from error
    masker = Masker([*(getattr(credentials, name) for name in SECRET_FIELDS), *auth.secrets])
    print(f"  credentials: {auth.description} (accepted)", file=out, flush=True)

    with tempfile.TemporaryDirectory(prefix="billing-sandbox-conformance-") as scratch:
        workdir = Path(scratch)
        plan = Plan(
            api=api,
            spec=spec,
            base_url=base_url,
            operation_ids=tuple(o.operation_id for o in selected),
            expected_statuses=expected_statuses(api.name, dict(args.expected_statuses)),
            max_examples=args.max_examples,
            seed=args.seed,
            stateful=stateful,
            read_only=read_only,
            rate_limit=rate_limit,
            report_dir=(args.report_dir or workdir / "report").resolve(),
        )
        code = run_schemathesis(plan, auth, workdir, out)
        for name in ("junit.xml", "events.ndjson", "schemathesis.log"):
            masker.file(plan.report_dir / name)
        results = read_events(plan.report_dir / "events.ndjson", masker)
        log_tail = tail(plan.report_dir / "schemathesis.log", masker)
        shown = masker(" ".join(command(find_st(), plan, workdir / "schemathesis.toml")))

    if code not in (0, 1) or not results.finished:
        print(f"\nschemathesis could not run (exit {code}):\n{log_tail}", file=out)
        print(f"  command: {shown}", file=out)
        raise CannotRun("schemathesis stopped before testing (see above)")
    print("\n" + table(results, [o.label for o in selected], left_out), file=out)
    if results.failures:
        print(f"\n{len(results.failures)} failures:", file=out)
        for failure in results.failures.values():
            print("\n" + describe(failure), file=out)
    if args.report_dir is not None:
        print(f"\nJUnit report: {plan.report_dir / 'junit.xml'}", file=out)
    if results.failures:
        names = ", ".join(sorted(results.failed_operations))
        print(f"\ndoes not conform: {names}", file=out, flush=True)
        return DIFFERS
    if results.errors:
        # No check failed, yet requests did not get through (network errors mid-run, ...).
        print("\nerrors:\n  " + "\n  ".join(dict.fromkeys(results.errors)), file=out)
        raise CannotRun("requests failed before any check could judge them (see errors)")
    if code != 0:
        print(f"\nschemathesis exited {code}:\n{log_tail}", file=out, flush=True)
        return DIFFERS
    print("\nconforms", file=out, flush=True)
    return CONFORMS
