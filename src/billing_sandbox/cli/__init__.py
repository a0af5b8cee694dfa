"""The command line: one argparse tree, a subcommand for each module in `COMMANDS`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Protocol

from billing_sandbox.cli import scenario, serve
from billing_sandbox.cluster import command as cluster
from billing_sandbox.conformance import command as conformance
from billing_sandbox.contracts import command as contract
from billing_sandbox.proxy import command as proxy
from billing_sandbox.settings import InvalidSetting


class Command(Protocol):
    """A command's module: its word, its line in `billing-sandbox --help`, the text atop its own
    help, its flags, and what it does with them (returning the exit code)."""

    NAME: str
    HELP: str
    DESCRIPTION: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


# Every command, in the order `billing-sandbox --help` lists them. The tools' commands live in
# their packages (tools built on the core), in the same shape.
COMMANDS: tuple[Command, ...] = (serve, scenario, proxy, conformance, contract, cluster)
# A command that hands on the options it does not know (the cluster, to every shard's `serve`)
# asks for them with `parser.set_defaults(passed_on=[])`; any other command refuses them.
PASSED_ON = "passed_on"


def parser() -> argparse.ArgumentParser:
    """`billing-sandbox` and a subcommand for each of `COMMANDS`, which adds its own flags."""
    tree = argparse.ArgumentParser(
        prog="billing-sandbox",
        description="Stateful, spec-driven fakes of healthcare-billing APIs.",
    )
    commands = tree.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        sub = commands.add_parser(command.NAME, help=command.HELP, description=command.DESCRIPTION)
        command.add_arguments(sub)
    return tree


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line as its command reads it (`args.command` names the command)."""
    tree = parser()
    args, unknown = tree.parse_known_args(argv)
    if unknown:
        if not hasattr(args, PASSED_ON):
            tree.error(f"unrecognized arguments: {' '.join(unknown)}")
        setattr(args, PASSED_ON, unknown)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """`billing-sandbox COMMAND …`: runs the command and returns its exit code; a setting that
    cannot be used (a flag, or a `BILLING_SANDBOX_*` variable) is said in one line, exit 2."""
    args = parse_args(argv)
    command = next(command for command in COMMANDS if args.command == command.NAME)
    try:
        return command.run(args)
    except InvalidSetting as error:
        print(f"billing-sandbox: {error}", file=sys.stderr)
        return 2
