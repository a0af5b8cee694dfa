"""`contract check`: each pact's interactions (or those a sandbox's journal makes) compared with
an OpenAPI document, calling nothing; a line for each finding, naming the interaction, the place
in the spec and the reason."""

from __future__ import annotations

import argparse
from typing import TextIO

from billing_sandbox.conformance.login import CannotRun
from billing_sandbox.contracts.check import check_pact
from billing_sandbox.contracts.exitcodes import DIFFERS, PASSED_ALL
from billing_sandbox.contracts.openapi import SpecUnreadable, load_spec
from billing_sandbox.contracts.pactinputs import journal_pacts, load_pacts
from billing_sandbox.errors import counted


def run_check(args: argparse.Namespace, out: TextIO) -> int:
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
