"""`contract verify`: pacts replayed against a server, after saying what is about to run; then
the table of results, and the JUnit and JSON reports asked for. What can stop the run is checked
before any interaction is replayed (the URL, the pacts, the report paths, the sign-ins), so a
run that made writes is never lost to a mistake found at its end. Every secret is masked
wherever text leaves the process."""

from __future__ import annotations

import argparse
import json
import os
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

import httpx

from billing_sandbox import __version__
from billing_sandbox.conformance.command import SECRET_FIELDS
from billing_sandbox.conformance.login import CannotRun, Credentials
from billing_sandbox.conformance.report import Masker
from billing_sandbox.contracts import report
from billing_sandbox.contracts.exitcodes import DIFFERS, PASSED_ALL
from billing_sandbox.contracts.model import Pact
from billing_sandbox.contracts.pactinputs import load_pacts
from billing_sandbox.contracts.sandboxcontrol import probe
from billing_sandbox.contracts.urls import CredentialsInUrl, is_loopback, masked, refuse_credentials
from billing_sandbox.contracts.verify import FAILED, LOOKS_LIKE_SANDBOX, PactResult, verify_pact
from billing_sandbox.contracts.verifytargets import Signed, api_of, sign_in
from billing_sandbox.errors import counted
from billing_sandbox.settings import variable

CONTROL_TOKEN_VARIABLE = variable("control_token")


def given_control_token(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    """The sandbox's control token: `--control-token`, else the environment's. A secret of the
    run, masked wherever its text leaves the process, and sent to a sandbox only."""
    given: str | None = getattr(args, "control_token", None)
    return given if given is not None else env.get(CONTROL_TOKEN_VARIABLE, "")


def run_verify(
    args: argparse.Namespace, env: Mapping[str, str], out: TextIO, secrets: list[str]
) -> int:
    """Verify the pacts against `--against`, the results on `out`; `secrets` gains each
    sign-in's, to mask. The exit code: PASSED_ALL, or DIFFERS when an interaction failed."""
    base_url = http_url(args.against)
    pacts = load_pacts(args.pacts)
    _check_size(pacts, args.max_interactions)
    apis = [api_of(pact, args.api) for pact in pacts]
    for flag, path in (("--json", args.json), ("--junit-xml", args.junit_xml)):
        _check_writable(flag, path)
    given = Credentials(
        candid_client_id=args.candid_client_id,
        decoda_tenant=args.decoda_tenant,
        mycure_email=args.mycure_email,
        **{name: env.get(getattr(args, f"{name}_env"), "") for name in SECRET_FIELDS},
    )
    agent = {"User-Agent": f"billing-sandbox-contract-verify/{__version__}"}
    with httpx.Client(follow_redirects=False, headers=agent) as client:
        served = probe(client, base_url, args.timeout)
        sandbox = _taken_for_sandbox(base_url, served, args.sandbox)
        lookalike = served is not None and not sandbox
        _introduce(out, pacts, base_url, sandbox, lookalike, args.allow_writes)
        # The control token goes to a sandbox only: never to a server merely answering as one.
        control_token = given_control_token(args, env) if sandbox else ""
        signed: dict[str, Signed] = {}
        for api in dict.fromkeys(apis):
            if sandbox and served is not None and api not in served:
                shown = ", ".join(served) or "nothing"
                raise CannotRun(f"the sandbox at {base_url} does not serve {api} ({shown})")
            signed[api] = sign_in(api, base_url, given, sandbox, control_token, args, lookalike)
            secrets += signed[api].secrets
            said = Masker(secrets)(signed[api].description)
            print(f"  credentials: {said} (accepted)", file=out)
        print(file=out, flush=True)
        results = [
            verify_pact(pact, signed[api].target, client)
            for pact, api in zip(pacts, apis, strict=True)
        ]
    mask = Masker(secrets)
    print(report.table(results, mask), file=out, flush=True)
    _write_reports(args, results, base_url, sandbox, mask, out)
    return DIFFERS if any(pact.count(FAILED) for pact in results) else PASSED_ALL


def _taken_for_sandbox(base_url: str, served: tuple[str, ...] | None, declared: bool) -> bool:
    """Whether the server is verified as a sandbox (reset, given states and the control token,
    sent writes): it answers as one, and it is on loopback or the user said it is one. A
    server elsewhere that merely answers `/_sandbox/health` as a sandbox does is a vendor's."""
    if served is None:
        if declared:
            raise CannotRun(
                f"--sandbox: {base_url} does not answer GET /_sandbox/health as a "
                "billing-sandbox does; leave --sandbox out to verify it as a vendor's server"
            )
        return False
    return declared or is_loopback(base_url)


def _check_writable(flag: str, path: Path | None) -> None:
    """CannotRun unless a report can be written at `path`, checked before anything is sent:
    a run that made writes is not to be lost to a mistyped folder at its end."""
    if path is None:
        return
    folder = path.parent
    if path.is_dir():
        raise CannotRun(f"{flag} {path}: is a folder; give a file path for the report")
    if not folder.is_dir():
        raise CannotRun(f"{flag} {path}: its folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise CannotRun(f"{flag} {path}: cannot be written (no permission)")


def http_url(given: str) -> str:
    """The base URL to verify against, without its trailing slash; CannotRun unless http(s)
    and free of credentials (shown masked when it is not)."""
    try:
        parts = urllib.parse.urlsplit(given)
        host = parts.hostname
    except ValueError as error:
        raise CannotRun(f"--against {masked(given)}: not a URL ({error})") from None
    if parts.scheme not in {"http", "https"} or not host:
        raise CannotRun(f"--against must be an http(s) URL, not {masked(given)!r}")
    try:
        refuse_credentials(given, "give credentials by the flags and environment variables")
    except CredentialsInUrl as refused:
        raise CannotRun(f"--against {refused}") from None
    return given.rstrip("/")


def _check_size(pacts: Sequence[Pact], most: int) -> None:
    total = sum(len(pact.interactions) for pact in pacts)
    if total == 0:
        raise CannotRun("the pacts hold no HTTP interaction to verify")
    if total > most:
        raise CannotRun(f"the pacts hold {total} interactions, more than --max-interactions {most}")


def _introduce(
    out: TextIO,
    pacts: Sequence[Pact],
    base_url: str,
    sandbox: bool,
    lookalike: bool,
    allow_writes: bool,
) -> None:
    """What is about to run, and against what."""
    count = sum(len(pact.interactions) for pact in pacts)
    kind = "a billing-sandbox" if sandbox else "not a billing-sandbox"
    if lookalike:
        kind = "taken for a vendor's server"
    print(
        f"contract verify: {counted(len(pacts), 'pact')}, {counted(count, 'interaction')}, "
        f"against {base_url} ({kind})",
        file=out,
    )
    if sandbox:
        return
    if lookalike:
        print(f"  it {LOOKS_LIKE_SANDBOX}", file=out)
    sent = (
        "writes are sent (--allow-writes)"
        if allow_writes
        else "only GET, HEAD and OPTIONS are sent (--allow-writes sends the rest)"
    )
    print(f"  no provider state can be set there; {sent}", file=out)


def _write_reports(
    args: argparse.Namespace,
    results: list[PactResult],
    base_url: str,
    sandbox: bool,
    mask: Masker,
    out: TextIO,
) -> None:
    try:
        if args.junit_xml is not None:
            report.write_junit(args.junit_xml, results, mask)
            print(f"JUnit report: {args.junit_xml}", file=out)
        if args.json is not None:
            document = report.as_json(results, base_url, sandbox, mask)
            args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
            print(f"JSON report: {args.json}", file=out)
    except OSError as error:
        raise CannotRun(
            f"{error.filename or 'a report'}: cannot be written ({error.strerror or error})"
        ) from None
