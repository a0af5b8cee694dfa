"""`billing-sandbox contract`: consumer pacts verified against a server (`verify`), or checked
against an OpenAPI document without calling anything (`check`).

Here are its argparse tree and `run`, which hands each action to its module (`verifycommand`,
`checkcommand`) and makes any problem that stops one a line on standard error, secrets masked."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from billing_sandbox.conformance.apis import APIS
from billing_sandbox.conformance.command import SECRET_FIELDS, add_credential_arguments
from billing_sandbox.conformance.login import CannotRun
from billing_sandbox.conformance.report import Masker
from billing_sandbox.contracts.checkcommand import run_check
from billing_sandbox.contracts.exitcodes import MISUSE
from billing_sandbox.contracts.sandboxcontrol import CannotVerify
from billing_sandbox.contracts.target import DEFAULT_TIMEOUT_SECONDS
from billing_sandbox.contracts.verifycommand import (
    CONTROL_TOKEN_VARIABLE,
    given_control_token,
    run_verify,
)
from billing_sandbox.contracts.verifytargets import DEFAULT_TENANT, spec_stem

# What other modules take from here, wherever it is now defined.
__all__ = [
    "CONTROL_TOKEN_VARIABLE",
    "DESCRIPTION",
    "HELP",
    "NAME",
    "add_arguments",
    "main",
    "run",
]

NAME = "contract"
HELP = "verify consumer pacts against a server, or check them against an OpenAPI spec"
DESCRIPTION = (
    "Consumer contracts (Pact files, v2 to v4). 'verify' replays each interaction against a "
    "sandbox or a vendor's server and compares the answers by the pact's matching rules; "
    "'check' compares the pacts with an OpenAPI document, calling nothing. Exit 0: all good; "
    "1: something differs; 2: the command could not run."
)
DEFAULT_MAX_INTERACTIONS = 1000
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
        f"({', '.join(spec_stem(name) for name in sorted(APIS))})",
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
            secrets.append(given_control_token(args, env))
            return run_verify(args, env, stdout, secrets)
        return run_check(args, stdout)
    except (CannotRun, CannotVerify) as problem:
        message = str(problem)
    except Exception as error:  # a command never ends in a traceback
        message = f"{type(error).__name__}: {error}"
    said = Masker(secrets)(_one_line(message))
    print(f"billing-sandbox contract {args.action}: {said}", file=stderr)
    return MISUSE


def _one_line(text: str) -> str:
    return " ".join(text.split())
