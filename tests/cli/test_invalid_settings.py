"""A setting no command can use, from a `BILLING_SANDBOX_*` variable or a flag, exits 2 with one
line naming where it was set and what it takes: never a traceback, never read as a default."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import pytest

from billing_sandbox.cli import main
from billing_sandbox.settings import KINDS, READ_AT_START, Settings, parse, variable


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another socket listens on: a server started despite a refused setting
    would stop at once, so no test here can hang serving."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def refused_text(name: str) -> str | None:
    """A text setting `name` refuses (a misspelt word, a negative number, nothing), if any."""
    for text in ("ture", "-1", ""):
        try:
            parse(name, text)
        except ValueError:
            return text
    return None


# Every typed setting with a text it refuses: whole numbers, booleans, choices, host, paths.
REFUSED = [(item.name, refused_text(item.name)) for item in fields(Settings)]
TYPED = [(name, text) for name, text in REFUSED if text is not None]


def run(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "billing_sandbox", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
        check=False,
    )


def test_every_kind_of_setting_is_covered() -> None:
    assert {name for name, _ in TYPED} >= {
        "port", "seed", "max_tenants", "head_timeout_seconds", "quiet", "response_validation",
        "mycure_paginate", "fsync", "log_format", "host", "specs_dir", "fixtures_dir",
    }  # fmt: skip
    assert set(KINDS) == {item.name for item in fields(Settings)}


@pytest.mark.parametrize(("name", "text"), TYPED)
def test_a_variable_its_setting_cannot_take_exits_2_in_one_line(
    name: str,
    text: str,
    taken_port: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(variable(name), text)
    assert main(["serve", "--port", str(taken_port)]) == 2
    said = f"billing-sandbox: {variable(name)} must be {KINDS[name].takes}, not {text!r}\n"
    assert capsys.readouterr().err == said


@pytest.mark.parametrize("name", sorted(READ_AT_START))
def test_a_variable_naming_a_missing_file_exits_2_naming_the_variable(
    name: str,
    tmp_path: Path,
    taken_port: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = tmp_path / "nowhere"
    monkeypatch.setenv(variable(name), str(missing))
    assert main(["serve", "--port", str(taken_port)]) == 2
    called = READ_AT_START[name][0]
    said = (
        f"billing-sandbox: {variable(name)} must name an existing {called}, "
        f"not {str(missing)!r} (nothing is there)\n"
    )
    assert capsys.readouterr().err == said


@pytest.mark.parametrize(
    ("variable_name", "text", "says"),
    [
        (
            "BILLING_SANDBOX_PORT",
            "x",
            "billing-sandbox: BILLING_SANDBOX_PORT must be a whole number from 0 to 65535, not 'x'",
        ),
        (
            "BILLING_SANDBOX_FSYNC",
            "ture",
            "billing-sandbox: BILLING_SANDBOX_FSYNC must be one of always, every-second, off, "
            "not 'ture'",
        ),
        (
            "BILLING_SANDBOX_QUIET",
            "maybe",
            "billing-sandbox: BILLING_SANDBOX_QUIET must be true or false "
            "(1, true, yes, on; 0, false, no, off), not 'maybe'",
        ),
    ],
)
def test_serve_as_a_process_refuses_the_variable_without_a_traceback(
    variable_name: str, text: str, says: str, taken_port: int
) -> None:
    done = run("serve", "--port", str(taken_port), env={variable_name: text})
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == says + "\n"


@pytest.mark.parametrize("text", ["ture", "maybe", "", "2"])
def test_a_mistyped_boolean_is_refused_not_read_as_false(text: str) -> None:
    for name in ("quiet", "response_validation", "mycure_paginate"):
        with pytest.raises(ValueError, match=r"must be true or false"):
            parse(name, text)


def test_a_flag_is_checked_as_its_variable_is(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--records", "-1"])
    assert exited.value.code == 2
    assert "argument --records: must be a whole number of at least 0, not '-1'" in (
        capsys.readouterr().err
    )
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--port", "70000"])
    assert exited.value.code == 2
    assert "argument --port: must be a whole number from 0 to 65535, not '70000'" in (
        capsys.readouterr().err
    )


def test_a_flag_naming_a_missing_file_exits_2_naming_the_flag(
    tmp_path: Path, taken_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "credentials.yaml"
    assert main(["serve", "--port", str(taken_port), "--credentials", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"billing-sandbox: --credentials must name an existing credentials file, "
        f"not {str(missing)!r} (nothing is there)\n"
    )


def test_the_proxy_refuses_a_variable_too(taken_port: int) -> None:
    done = run(
        "proxy", "--api", "candid", "--upstream", "http://upstream.test",
        "--port", str(taken_port), env={"BILLING_SANDBOX_MYCURE_PAGINATE": "ture"},
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("billing-sandbox: BILLING_SANDBOX_MYCURE_PAGINATE must be ")
    assert "Traceback" not in done.stderr


def test_the_proxy_port_is_checked_as_serve_s(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["proxy", "--api", "candid", "--upstream", "http://upstream.test", "--port", "-5"])
    assert exited.value.code == 2
    assert "argument --port: must be a whole number from 0 to 65535" in capsys.readouterr().err


def test_the_cluster_refuses_a_variable_once_not_in_every_shard(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BILLING_SANDBOX_QUIET", "maybe")
    assert main(["cluster", "--print-haproxy-config"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("billing-sandbox: BILLING_SANDBOX_QUIET must be true or false")
