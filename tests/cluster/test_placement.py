"""Who owns a tenant, and the HAProxy config that computes the same (no HAProxy needed here)."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import pytest

from billing_sandbox.cluster import haproxy
from billing_sandbox.cluster.haproxy import Address, TenantMaps
from billing_sandbox.cluster.merge import _cursor, merged_traffic
from billing_sandbox.cluster.placement import owner, score, split

NAMES = [f"tenant-{n}" for n in range(3000)]


def test_the_score_is_haproxys_crc32_with_avalanche_of_tenant_colon_shard() -> None:
    # As HAProxy 2.6 answered `concat(:N),crc32(1)` of these (the cluster tests check it live).
    assert [score("acme", n) for n in (0, 1, 7)] == [3125147998, 4223073877, 3081535556]
    assert [score("x", n) for n in (0, 1, 7)] == [1856649035, 440712004, 96803686]
    assert zlib.crc32(b"acme:1") != score("acme", 1)


def test_the_owner_is_the_highest_score() -> None:
    for name in NAMES[:200]:
        best = owner(name, 5)
        assert all(score(name, best) >= score(name, other) for other in range(5))


@pytest.mark.parametrize("shards", [2, 3, 5])
def test_tenants_spread_evenly(shards: int) -> None:
    counts = [len(owned) for owned in split(NAMES, shards).values()]
    assert max(counts) / min(counts) < 1.2, counts


def test_adding_a_shard_moves_only_what_the_new_shard_wins() -> None:
    moved = [name for name in NAMES if owner(name, 3) != owner(name, 4)]
    assert all(owner(name, 4) == 3 for name in moved)
    assert 0.2 < len(moved) / len(NAMES) < 0.3


def test_a_cluster_has_a_shard() -> None:
    with pytest.raises(ValueError, match="at least one"):
        owner("acme", 0)


def config(control_open: bool = True, maps: TenantMaps | None = None) -> str:
    shards = [Address("127.0.0.1", 8001 + n) for n in range(3)]
    return haproxy.config(
        Address("127.0.0.1", 8000), shards, Address("127.0.0.1", 8004), control_open, maps
    )


def test_each_shard_wins_only_by_beating_every_other() -> None:
    text = config()
    assert "use_backend shard1 if beats_1_0 beats_1_2" in text
    assert "acl beats_1_0 var(txn.h1),sub(txn.h0) gt 0" in text  # a tie goes to shard 0
    assert "acl beats_1_2 var(txn.h1),sub(txn.h2) ge 0" in text
    assert "http-request set-var(txn.h2) var(txn.key),concat(:2),crc32(1)" in text
    assert "server shard2 127.0.0.1:8003" in text and "server merger 127.0.0.1:8004" in text


def test_without_a_token_the_control_api_stays_on_this_machine() -> None:
    assert "!open_control !local" in config(control_open=True)
    assert "!local" not in config(control_open=False)


def test_the_calls_about_every_tenant_go_to_the_merger() -> None:
    text = config()
    assert "acl merged path /_sandbox/health /_sandbox/reset" in text
    assert "use_backend merger if merged" in text


def test_strict_credentials_maps_are_used_only_when_given() -> None:
    assert "map(" not in config()
    text = config(maps=TenantMaps(candid=Path("/m/candid.map"), decoda=Path("/m/decoda.map")))
    assert "var(txn.from_login),map(/m/candid.map)" in text
    assert "req.hdr(TENANT),concat(|,txn.api_key),map(/m/decoda.map)" in text
    assert "mycure" not in text.split("map(")[-1]


def test_haproxys_exporter_is_on_loopback_whatever_the_cluster_listens_on() -> None:
    # It asks for no credentials: only a scraper on this machine may reach it.
    assert "prometheus-exporter" not in config()
    shards = [Address("0.0.0.0", 8001 + n) for n in range(3)]
    text = haproxy.config(
        Address("0.0.0.0", 8000), shards, Address("0.0.0.0", 8004), metrics_port=8006
    )
    assert "frontend metrics\n    bind 127.0.0.1:8006\n" in text
    assert "    http-request use-service prometheus-exporter if { path /metrics }\n" in text


def test_the_merged_streams_cursor_reads_each_shards_last_entry() -> None:
    names = ["shard0", "shard1", "shard2"]
    assert _cursor("shard0=12,shard2=40", names) == {"shard0": 12, "shard2": 40}
    assert _cursor("shard9=1,shard1=x,junk", names) == {}


def test_the_merged_traffic_adds_each_second_of_every_shard() -> None:
    def second(ago: int, requests: int, failures: int, buckets: list[int]) -> dict[str, Any]:
        return {"ago": ago, "requests": requests, "failures": failures, "buckets": buckets}

    shard0: dict[str, Any] = {
        "minutes": 5,
        "bucketBounds": [0.001],
        "apis": {"decoda": [second(3, 2, 0, [2, 0]), second(1, 1, 1, [0, 1])], "candid": []},
    }
    shard1: dict[str, Any] = {"minutes": 5, "bucketBounds": [0.001], "apis": {
        "decoda": [second(2, 4, 1, [3, 1]), second(1, 5, 0, [5, 0])], "candid": []}}  # fmt: skip
    merged = merged_traffic([shard0, shard1])
    assert merged["minutes"] == 5 and merged["bucketBounds"] == [0.001]
    assert merged["apis"]["candid"] == []
    assert merged["apis"]["decoda"] == [
        second(3, 2, 0, [2, 0]), second(2, 4, 1, [3, 1]), second(1, 6, 1, [5, 1])
    ]  # fmt: skip
    assert shard0["apis"]["decoda"][1]["requests"] == 1  # the shards' answers are left as they were
