"""One argparse tree: `billing-sandbox --help` lists every command, each answers its own --help,
and every command module is in the tree."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from billing_sandbox.cli import COMMANDS, main, parse_args

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "billing_sandbox"


def listed_commands(help_text: str) -> list[str]:
    """The commands in the usage line's `{serve,proxy,...}`."""
    found = re.search(r"\{([a-z,-]+)\}", help_text)
    assert found is not None, help_text
    return found.group(1).split(",")


def test_help_lists_every_command_as_a_process() -> None:
    # `cluster` was missing: it parsed its own argv, outside the tree.
    shown = subprocess.run(
        [sys.executable, "-m", "billing_sandbox", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert listed_commands(shown.stdout) == [
        "serve",
        "scenario",
        "proxy",
        "conformance",
        "contract",
        "cluster",
    ]


def test_help_lists_each_command_of_the_tuple_with_its_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert listed_commands(shown) == [command.NAME for command in COMMANDS]
    for command in COMMANDS:
        # argparse wraps a long line: compare word by word.
        assert re.search(rf"\n  +{command.NAME} +" + r"\s+".join(command.HELP.split()), shown)


@pytest.mark.parametrize("name", [command.NAME for command in COMMANDS])
def test_each_command_answers_its_own_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([name, "--help"])
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert shown.startswith(f"usage: billing-sandbox {name} [-h]")
    command = next(command for command in COMMANDS if name == command.NAME)
    assert " ".join(command.DESCRIPTION.split()[:4]) in " ".join(shown.split())


def test_every_command_module_is_in_the_tuple() -> None:
    # A module shaped as a command (add_arguments and run) that the tuple leaves out would be a
    # command nobody can run, or one run some other way, missing from --help.
    shaped = set()
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        if "\ndef add_arguments(" in text and "\ndef run(" in text:
            parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
            shaped.add(".".join(parts))
    assert shaped == {command.__name__ for command in COMMANDS}  # type: ignore[attr-defined]


def test_serve_refuses_an_option_it_does_not_know(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--shards", "3"])
    assert exited.value.code == 2
    assert "unrecognized arguments: --shards 3" in capsys.readouterr().err


def test_the_cluster_hands_what_it_does_not_know_to_every_shard() -> None:
    args = parse_args(["cluster", "--shards", "3", "--seed", "5", "--records=7", "--quiet"])
    assert (args.command, args.shards) == ("cluster", 3)
    assert args.passed_on == ["--seed", "5", "--records=7", "--quiet"]


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "required: command" in capsys.readouterr().err
