"""`billing-sandbox cluster` refusing what it cannot do, with one line and exit 2."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from billing_sandbox.cli import main
from billing_sandbox.cluster import command
from billing_sandbox.cluster.command import (
    OTHERS_BYTES,
    SECRET_FILE,
    _memory_share,
    _shard_command,
    _shard_environment,
)
from billing_sandbox.cluster.haproxy import Address


def test_a_cluster_needs_a_shard(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cluster", "--shards", "0"]) == 2
    assert "at least one shard" in capsys.readouterr().err


def test_without_haproxy_it_says_how_to_get_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cluster", "--shards", "2", "--haproxy", "/nonexistent/haproxy"]) == 2
    assert "apt-get install haproxy" in capsys.readouterr().err


def test_a_shard_url_must_be_a_base_url(capsys: pytest.CaptureFixture[str]) -> None:
    given = ["cluster", "--print-haproxy-config", "--shard-urls", "shard0"]
    assert main(given) == 2
    assert "is not a base URL" in capsys.readouterr().err


def test_a_broken_credentials_file_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "credentials.yaml"
    broken.write_text("candid: 3\n")
    assert main(["cluster", "--print-haproxy-config", "--credentials", str(broken)]) == 2
    assert "candid must be a list" in capsys.readouterr().err


def test_the_printed_config_names_the_default_ports(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cluster", "--shards", "2", "--port", "9000", "--print-haproxy-config"]) == 0
    printed = capsys.readouterr().out
    assert "bind 127.0.0.1:9000" in printed
    assert "server shard1 127.0.0.1:9002" in printed and "server merger 127.0.0.1:9003" in printed


def test_haproxys_exporter_takes_the_port_after_redis_unless_given_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 9000 HAProxy, 9001-9002 the shards, 9003 the merger, 9004 Redis: 9005 the exporter.
    assert main(["cluster", "--shards", "2", "--port", "9000", "--print-haproxy-config"]) == 0
    assert "frontend metrics\n    bind 127.0.0.1:9005\n" in capsys.readouterr().out
    given = [
        "cluster",
        "--port",
        "9000",
        "--haproxy-metrics-port",
        "9100",
        "--print-haproxy-config",
    ]
    assert main(given) == 0
    assert "frontend metrics\n    bind 127.0.0.1:9100\n" in capsys.readouterr().out


def test_each_shard_is_named_in_its_metrics_whatever_every_shard_is_given() -> None:
    command = _shard_command(1, Address("127.0.0.1", 9002), None, ["--shard", "all", "--seed", "1"])
    assert command[-2:] == ["--shard", "shard1"]  # the last one given is the one serve takes


def test_every_shard_gets_one_signing_key_kept_in_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tokens issued by one shard verify on every shard, and after the cluster restarts.
    monkeypatch.delenv("BILLING_SANDBOX_SECRET", raising=False)
    first = _shard_environment(tmp_path)["BILLING_SANDBOX_SECRET"]
    assert len(first) >= 32
    assert (tmp_path / SECRET_FILE).stat().st_mode & 0o077 == 0
    assert _shard_environment(tmp_path)["BILLING_SANDBOX_SECRET"] == first
    # Without a state directory, a new key per cluster; a configured one always wins.
    assert _shard_environment(None)["BILLING_SANDBOX_SECRET"] not in ("", first)
    monkeypatch.setenv("BILLING_SANDBOX_SECRET", "configured-secret-of-the-team-0123456789")
    configured = _shard_environment(tmp_path)["BILLING_SANDBOX_SECRET"]
    assert configured == "configured-secret-of-the-team-0123456789"


def test_without_redis_it_says_how_to_get_it(capsys: pytest.CaptureFixture[str]) -> None:
    # Any program stands for HAProxy, so that the test needs none installed.
    given = ["cluster", "--shards", "2", "--haproxy", sys.executable,
             "--redis-server", "/nonexistent/redis-server"]  # fmt: skip
    assert main(given) == 2
    assert "apt-get install redis-server" in capsys.readouterr().err


def test_every_shard_is_told_the_clusters_redis() -> None:
    # MYCURE's socket events cross the shards through it (a plain `serve` is told none).
    told = _shard_environment(None, Address("127.0.0.1", 9004))
    assert told["BILLING_SANDBOX_REDIS_URL"] == "redis://127.0.0.1:9004/0"


# ---- the cluster's memory cap, shared among its shards ----


def test_each_shard_gets_an_equal_share_of_what_the_others_leave() -> None:
    share = (2 * 10**9 - OTHERS_BYTES) // 3
    assert _memory_share(2 * 10**9, 3) == ["--max-memory", str(share)]
    assert _memory_share(0, 3) == []  # no cap: none for the shards either


def test_a_cap_too_small_for_its_shards_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    given = ["cluster", "--shards", "2", "--max-memory", "600M"]
    assert main(given) == 2  # before anything starts
    said = capsys.readouterr().err
    assert "leaves 172 MB for each of 2 shards" in said
    assert "at least 768 MB" in said


def test_the_cap_is_read_from_its_variable_and_given_to_every_shard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The variable is the whole cluster's, as the flag is: never each shard's whole cap.
    monkeypatch.setenv("BILLING_SANDBOX_MAX_MEMORY", "1G")
    given: list[list[str]] = []

    def run(_options: object, serve_options: list[str], *_: object) -> int:
        given.append(serve_options)
        return 0

    monkeypatch.setattr(command, "_run", run)
    assert main(["cluster", "--shards", "2", "--seed", "3"]) == 0
    assert given == [["--seed", "3", "--max-memory", str((10**9 - OTHERS_BYTES) // 2)]]
    # The flag wins over the variable.
    assert main(["cluster", "--shards", "2", "--max-memory", "2G"]) == 0
    assert given[-1] == ["--max-memory", str((2 * 10**9 - OTHERS_BYTES) // 2)]


def test_the_merger_is_not_refused_for_a_cap_its_shards_share(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The merger is `cluster --merge-only`, with the cluster's variables and the default
    # `--shards`: a cap that fits one shard must not refuse it.
    monkeypatch.setenv("BILLING_SANDBOX_MAX_MEMORY", "600M")
    served: list[object] = []
    monkeypatch.setattr(command, "_serve_merger", lambda at, shards: served.append(at))
    assert main(["cluster", "--merge-only", "--shard-urls", "http://127.0.0.1:9001"]) == 0
    assert len(served) == 1
