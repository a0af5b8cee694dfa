"""`billing-sandbox contract`: consumer pacts verified against a server (`verify`), or checked
against an OpenAPI document without calling anything (`check`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import httpx

from billing_sandbox import __version__
from billing_sandbox.apis.mycure.records import organisation_of
from billing_sandbox.conformance.apis import APIS
from billing_sandbox.conformance.command import SECRET_FIELDS, add_credential_arguments
from billing_sandbox.conformance.login import CannotRun, Credentials, authenticate
from billing_sandbox.conformance.report import Masker
from billing_sandbox.contracts import report
from billing_sandbox.contracts.check import check_pact
from billing_sandbox.contracts.files import NotAFile, read_regular_file
from billing_sandbox.contracts.journal import pacts_from_journal
from billing_sandbox.contracts.model import Pact, PactInvalid
from billing_sandbox.contracts.openapi import SpecUnreadable, load_spec
from billing_sandbox.contracts.reading import load_pact
from billing_sandbox.contracts.replay import signing_for
from billing_sandbox.contracts.urls import CredentialsInUrl, is_loopback, masked, refuse_credentials
from billing_sandbox.contracts.verify import (
    DEFAULT_TIMEOUT_SECONDS,
    FAILED,
    LOOKS_LIKE_SANDBOX,
    CannotVerify,
    PactResult,
    Target,
    probe,
    verify_pact,
)
from billing_sandbox.errors import counted
from billing_sandbox.settings import Settings, variable

PASSED_ALL, DIFFERS, MISUSE = 0, 1, 2
NAME = "contract"
HELP = "verify consumer pacts against a server, or check them against an OpenAPI spec"
DESCRIPTION = (
    "Consumer contracts (Pact files, v2 to v4). 'verify' replays each interaction against a "
    "sandbox or a vendor's server and compares the answers by the pact's matching rules; "
    "'check' compares the pacts with an OpenAPI document, calling nothing. Exit 0: all good; "
    "1: something differs; 2: the command could not run."
)
# On a sandbox with no credentials given, requests act for this tenant (any secret opens a
# sandbox without a credentials file): the same id is the Candid client id, the Decoda TENANT
# and the MYCURE organisation (the domain of the email), as the testing helpers form them.
DEFAULT_TENANT = "contract-verify"
_DEFAULT_SECRET = "any-secret-opens-a-sandbox"  # noqa: S105 (a sandbox takes any)
DEFAULT_CREDENTIALS = Credentials(
    candid_client_id=DEFAULT_TENANT,
    candid_client_secret=_DEFAULT_SECRET,
    decoda_tenant=DEFAULT_TENANT,
    decoda_api_key=_DEFAULT_SECRET,
    mycure_email=f"verify@{DEFAULT_TENANT}",
    mycure_password=_DEFAULT_SECRET,
)
# The fields of `Credentials` each API reads: none given means "use the default" on a sandbox.
_FIELDS_OF = {
    "candid": ("candid_client_id", "candid_client_secret", "candid_token"),
    "decoda": ("decoda_tenant", "decoda_api_key"),
    "mycure": ("mycure_email", "mycure_password", "mycure_token"),
}
DEFAULT_MAX_INTERACTIONS = 1000
# A journal file is what the control API answered: its size is bounded by the sandbox's own
# journal size; this bounds a wrong file's.
MAX_JOURNAL_BYTES = 64 * 1024 * 1024
CONTROL_TOKEN_VARIABLE = variable("control_token")
_PACT_HELP = "a pact file (Pact specification v1 to v4, JSON)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="{verify,check}")
    verify = actions.add_parser(
        "verify",
        help="replay pacts against a sandbox or a vendor's server (exit 0: all passed; 1: one "
        "failed; 2: cannot run)",
        description="Replay every interaction of the pacts against URL and compare each answer "
        "with the pact by its matching rules. On a billing-sandbox (on loopback, or with "
        "--sandbox), the tenant the credentials "
        "name is reset and given each interaction's provider states (the scenario pack of that "
        "name); anywhere else no state can be set and only GET, HEAD and OPTIONS are sent "
        "unless --allow-writes. Credentials as `billing-sandbox conformance` takes them "
        "(secrets in environment variables); on a sandbox, without any, tenant "
        f"{DEFAULT_TENANT!r}. Exit 0: every interaction passed (or was skipped); 1: one "
        "failed; 2: the command could not run.",
    )
    verify.add_argument("pacts", nargs="+", type=Path, metavar="PACT", help=_PACT_HELP)
    verify.add_argument("--against", required=True, metavar="URL", help="the server to verify")
    _add_api(verify)
    add_credential_arguments(verify)
    verify.add_argument(
        "--control-token",
        default=None,
        metavar="TOKEN",
        help="the sandbox's control token, for resets and provider states (default: "
        f"{CONTROL_TOKEN_VARIABLE})",
    )
    verify.add_argument(
        "--allow-writes",
        action="store_true",
        help="also send POST, PUT, PATCH and DELETE to a server that is not a sandbox",
    )
    verify.add_argument(
        "--sandbox",
        action="store_true",
        help="URL is a billing-sandbox off this machine's loopback (a container's name in CI, "
        "say): reset its tenant, set provider states and send the control token there. "
        "Without it, only a sandbox on loopback is taken for one",
    )
    verify.add_argument(
        "--junit-xml",
        type=Path,
        metavar="PATH",
        help="write a JUnit report here (a testsuite per pact, a testcase per interaction)",
    )
    verify.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="write the results here as JSON (pacts → interactions → index, description, "
        "states, result, mismatches, notes)",
    )
    verify.add_argument(
        "--timeout",
        type=_positive(float),
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help="how long each request may take in all, from connecting to the last byte of its "
        "answer (default: %(default)s)",
    )
    verify.add_argument(
        "--max-interactions",
        type=_positive(int),
        default=DEFAULT_MAX_INTERACTIONS,
        metavar="N",
        help="refuse pacts with more interactions than this in all (default: %(default)s)",
    )

    check = actions.add_parser(
        "check",
        help="compare pacts with an OpenAPI spec, calling nothing (exit 0: none differs; 1: "
        "findings; 2: cannot run)",
        description="Compare every interaction of the pacts (or of the pacts a sandbox's "
        "journal makes, --journal) with an OpenAPI document: each finding names the "
        "interaction, the place in the spec and the reason. Exit 0: no finding; 1: findings; "
        "2: the command could not run.",
    )
    check.add_argument("pacts", nargs="*", type=Path, metavar="PACT", help=_PACT_HELP)
    check.add_argument(
        "--journal",
        type=Path,
        metavar="FILE",
        help="the sandbox's request journal as `GET /_sandbox/requests` answers it, saved to "
        "a file: its calls are checked instead of pacts'",
    )
    check.add_argument("--spec", required=True, metavar="FILE_OR_URL", help="the OpenAPI document")


def _add_api(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api",
        choices=sorted(APIS),
        default=None,
        help="which API the pacts are of, when their provider name is not the spec's "
        f"({', '.join(_spec_stem(name) for name in sorted(APIS))})",
    )


def _positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    """An argparse `type`: a number of `kind` above 0."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be a positive number, not {text!r}")
        return value

    return parse


def _spec_stem(api: str) -> str:
    return Path(APIS[api].spec_file).stem


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """`billing-sandbox contract ARGV` on its own; returns the exit code (as `run`)."""
    parser = argparse.ArgumentParser(prog="billing-sandbox contract", description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv), environ, out, err)


def run(
    args: argparse.Namespace,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run `contract verify` or `contract check`; a problem that stops it is one line on
    standard error (exit 2), never a traceback."""
    env = os.environ if environ is None else environ
    stdout, stderr = out or sys.stdout, err or sys.stderr
    # Every secret of the run, to mask wherever text leaves the process; the sign-ins add the
    # tokens they obtain.
    secrets: list[str] = []
    try:
        if args.action == "verify":
            secrets += [env.get(getattr(args, f"{name}_env"), "") for name in SECRET_FIELDS]
            secrets.append(_control_token(args, env))
            return _verify(args, env, stdout, secrets)
        return _check(args, stdout)
    except (CannotRun, CannotVerify) as problem:
        message = str(problem)
    except Exception as error:  # a command never ends in a traceback
        message = f"{type(error).__name__}: {error}"
    said = Masker(secrets)(_one_line(message))
    print(f"billing-sandbox contract {args.action}: {said}", file=stderr)
    return MISUSE


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _control_token(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    given: str | None = getattr(args, "control_token", None)
    return given if given is not None else env.get(CONTROL_TOKEN_VARIABLE, "")


# ---------------------------------------------------------------------------------------------
# verify


@dataclass(frozen=True)
class _Signed:
    """One API's requests as this run signs them, and the tenant they act for."""

    target: Target
    description: str
    secrets: tuple[str, ...]


def _verify(
    args: argparse.Namespace, env: Mapping[str, str], out: TextIO, secrets: list[str]
) -> int:
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
        control_token = _control_token(args, env) if sandbox else ""
        signed: dict[str, _Signed] = {}
        for api in dict.fromkeys(apis):
            if sandbox and served is not None and api not in served:
                shown = ", ".join(served) or "nothing"
                raise CannotRun(f"the sandbox at {base_url} does not serve {api} ({shown})")
            signed[api] = _sign(api, base_url, given, sandbox, control_token, args, lookalike)
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


def load_pacts(paths: Sequence[Path]) -> list[Pact]:
    """Every pact read; the first that cannot be stops the run, its problems said."""
    pacts = []
    for path in paths:
        try:
            pacts.append(load_pact(path))
        except PactInvalid as invalid:
            raise CannotRun(str(invalid)) from None
        except OSError as error:
            raise CannotRun(f"{path}: cannot be read ({error.strerror or error})") from None
    return pacts


def api_of(pact: Pact, chosen: str | None) -> str:
    """The API a pact is of: `--api`, else the one whose spec its provider names."""
    if chosen is not None:
        return chosen
    for name in APIS:
        if _spec_stem(name) == pact.provider:
            return name
    known = ", ".join(_spec_stem(name) for name in sorted(APIS))
    raise CannotRun(
        f"{pact.source or 'a pact'}: its provider {pact.provider!r} is none of the APIs "
        f"served ({known}); say which it is with --api"
    )


def _sign(
    api: str,
    base_url: str,
    given: Credentials,
    sandbox: bool,
    control_token: str,
    args: argparse.Namespace,
    lookalike: bool,
) -> _Signed:
    """Sign in to `api` with the given credentials (on a sandbox, the default ones when none
    is given) and say how its requests are signed, and for which tenant."""
    fields = _FIELDS_OF[api]
    use_default = sandbox and not any(getattr(given, name) for name in fields)
    credentials = DEFAULT_CREDENTIALS if use_default else given
    auth = authenticate(api, base_url, credentials)
    spec = Settings().specs_dir / APIS[api].spec_file
    target = Target(
        base_url=base_url,
        signing=signing_for(spec, auth.schemes),
        sandbox=sandbox,
        tenant=tenant_of(api, credentials) if sandbox else None,
        control_token=control_token if sandbox else "",
        allow_writes=args.allow_writes,
        timeout_seconds=args.timeout,
        answers_like_sandbox=lookalike,
    )
    secrets = (*auth.secrets, *(getattr(credentials, name) for name in SECRET_FIELDS))
    description = auth.description + (" (the default on a sandbox)" if use_default else "")
    return _Signed(target, description, tuple(s for s in secrets if s))


def tenant_of(api: str, credentials: Credentials) -> str | None:
    """The sandbox tenant the credentials act for: Decoda's TENANT, Candid's client id,
    MYCURE's organisation (the domain of the email). None for a ready token, which names no
    tenant the command can read."""
    if api == "decoda":
        return credentials.decoda_tenant or None
    if api == "candid":
        return None if credentials.candid_token else credentials.candid_client_id or None
    if credentials.mycure_token or "@" not in credentials.mycure_email:
        return None
    return organisation_of(credentials.mycure_email)


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


# ---------------------------------------------------------------------------------------------
# check


def _check(args: argparse.Namespace, out: TextIO) -> int:
    """Each pact's findings under the spec, a line each: interaction, spec location, reason."""
    if bool(args.pacts) == (args.journal is not None):
        raise CannotRun("give pact files or --journal FILE (one or the other)")
    try:
        spec = load_spec(args.spec)
    except SpecUnreadable as unreadable:
        raise CannotRun(str(unreadable)) from None
    pacts = load_pacts(args.pacts) if args.pacts else journal_pacts(args.journal)
    print(f"contract check: {len(pacts)} pact{'s' if len(pacts) != 1 else ''} against "
          f"{args.spec}", file=out)  # fmt: skip
    total = 0
    for pact in pacts:
        findings = check_pact(pact, spec)
        total += len(findings)
        print(f"\n{pact.consumer} -> {pact.provider} ({pact.source}): "
              f"{counted(len(pact.interactions), 'interaction')}, "
              f"{counted(len(findings), 'finding')}", file=out)  # fmt: skip
        for note in pact.skipped:
            print(f"  note: {note}", file=out)
        for finding in findings:
            print(f"  {finding.interaction.label}: {finding.location}: {finding.reason}",
                  file=out)  # fmt: skip
    print(f"\n{counted(total, 'finding') if total else 'no finding'}", file=out, flush=True)
    return DIFFERS if total else PASSED_ALL


def journal_pacts(path: Path) -> list[Pact]:
    """The pacts a journal file makes (one per API it holds), or CannotRun saying why none."""
    try:
        raw = read_regular_file(path, MAX_JOURNAL_BYTES)
    except FileNotFoundError:
        raise CannotRun(f"{path}: no such file") from None
    except (IsADirectoryError, NotAFile):
        raise CannotRun(f"{path}: not a file") from None
    except OSError as error:
        raise CannotRun(f"{path}: cannot be read ({error.strerror or error})") from None
    if len(raw) > MAX_JOURNAL_BYTES:
        raise CannotRun(f"{path}: larger than {MAX_JOURNAL_BYTES // (1024 * 1024)} MB")
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise CannotRun(f"{path}: not JSON ({error})") from None
    try:
        return pacts_from_journal(document, str(path))
    except PactInvalid as invalid:
        raise CannotRun(str(invalid)) from None
