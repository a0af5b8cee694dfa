"""`serve --max-memory BYTES` and `--max-render-bytes BYTES` (and their variables): sizes with
units, refused in one line when they are not sizes, and where a cap cannot be kept."""

from __future__ import annotations

import gc
import socket
from collections.abc import Iterator

import pytest

from billing_sandbox.cli import main, parse_args
from billing_sandbox.cli.serve import settings_of
from billing_sandbox.settings import Settings, parse
from billing_sandbox.tenants import memory


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port already listened on: a server that did start would stop at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 0),
        ("536870912", 536_870_912),
        ("512M", 512_000_000),
        ("512mb", 512_000_000),
        ("2G", 2_000_000_000),
        ("1GiB", 1 << 30),
        ("1536Mi", 1536 << 20),
        (" 64 KiB ", 64 << 10),
        ("4096b", 4096),
    ],
)
def test_a_size_is_bytes_or_a_unit_of_1000s_or_of_1024s(text: str, size: int) -> None:
    assert parse("max_memory", text) == size
    assert parse("max_render_bytes", text) == size
    assert parse("max_render_memory", text) == size


@pytest.mark.parametrize("text", ["lots", "1.5G", "-1", "", "5ib", "2GG", "1 G B"])
def test_a_bad_size_flag_exits_2_saying_what_it_takes(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--max-memory", text])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        "billing-sandbox serve: error: argument --max-memory: must be a size in bytes, "
        f"such as 536870912, 512M or 1GiB, not {text!r}"
    )
    assert "Traceback" not in err


def test_a_bad_size_variable_exits_2_in_one_line(
    taken_port: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BILLING_SANDBOX_MAX_RENDER_BYTES", "4 megs")
    assert main(["serve", "--port", str(taken_port)]) == 2
    assert capsys.readouterr().err == (
        "billing-sandbox: BILLING_SANDBOX_MAX_RENDER_BYTES must be a size in bytes, such as "
        "536870912, 512M or 1GiB, not '4 megs'\n"
    )


def test_the_flags_reach_the_settings_over_their_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = Settings()
    assert (defaults.max_memory, defaults.max_render_bytes) == (0, 4 << 20)
    assert defaults.max_render_memory == 64 << 20
    monkeypatch.setenv("BILLING_SANDBOX_MAX_MEMORY", "1G")
    monkeypatch.setenv("BILLING_SANDBOX_MAX_RENDER_MEMORY", "8Mi")
    from_variables = settings_of(parse_args(["serve"]))
    assert (from_variables.max_memory, from_variables.max_render_memory) == (10**9, 8 << 20)
    flags = ["--max-memory", "2GiB", "--max-render-bytes", "1M", "--max-render-memory", "0"]
    chosen = settings_of(parse_args(["serve", *flags]))
    assert (chosen.max_memory, chosen.max_render_bytes) == (2 << 30, 10**6)
    assert chosen.max_render_memory == 0


def test_a_cap_the_system_cannot_read_stops_the_start_in_one_line(
    taken_port: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(memory, "STATM", "/nowhere/statm")
    assert main(["serve", "--port", str(taken_port), "--max-memory", "1G"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "billing-sandbox: max_memory (BILLING_SANDBOX_MAX_MEMORY) needs /nowhere/statm "
    )
    assert err.count("\n") == 1


def test_serve_freezes_what_it_built_before_it_listens(taken_port: int) -> None:
    """The app's startup objects are kept out of full collections (`cli/heap.py`): `serve`
    freezes them before it listens, here on a port already taken, so it stops right after."""
    gc.collect()
    gc.freeze()  # whatever this process holds already: not counted as serve's
    before = gc.get_freeze_count()
    try:
        with pytest.raises(SystemExit) as exited:  # uvicorn's own exit: it could not bind
            main(["serve", "--port", str(taken_port)])
        assert exited.value.code == 3
        # What `serve` built that this process did not hold already (most of the app's
        # modules and specs are imported and cached by then).
        assert gc.get_freeze_count() - before > 1_000
    finally:
        gc.unfreeze()
