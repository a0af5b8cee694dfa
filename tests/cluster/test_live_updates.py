"""MYCURE live updates through a cluster (issue 35), with the official `@mycure/sdk-js` over
socket.io-client 2 (`watchers.js`, installed with npm as tests/mycure/test_sdk.py does).

A socket carries no routing hint, so it lands on whichever shard HAProxy picks for it; each
organisation's tenant is owned by its own shard; the events cross through the cluster's Redis."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio_v4

from billing_sandbox.cluster.haproxy import NO_TENANT
from billing_sandbox.cluster.placement import owner
from tests.cluster.test_cluster import Cluster, cluster, tenants_of_each_shard
from tests.support.mycure_sdk import installed_sdk

pytestmark = pytest.mark.cluster

SHARDS = 3
WITHIN_MS = 1000


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    watchers = Path(__file__).parent / "watchers.js"
    return installed_sdk(tmp_path_factory, "mycure-sdk-cluster", [watchers]) / "watchers.js"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster(SHARDS, tmp_path_factory.mktemp("live"), "--restart-delay", "0.5") as up:
        yield up


class Watchers:
    """`watchers.js`, running: one round of writes and what every watcher saw, per call."""

    def __init__(self, script: Path, base: str, orgs: list[str]) -> None:
        self.process = subprocess.Popen(
            ["node", str(script), base, *orgs],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self._answer(60) == {"ready": True}

    def round(self, tag: str, retry_ms: int = 0) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"round": tag, "retryMs": retry_ms}) + "\n")
        self.process.stdin.flush()
        answer: dict[str, Any] = self._answer(60 + retry_ms / 1000)
        return answer

    def _answer(self, seconds: float) -> Any:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], seconds)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            self.process.kill()
            pytest.fail(f"watchers.js said nothing: {self.process.communicate()[1][-2000:]}")
        return json.loads(line)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate(timeout=10)


def organisations() -> list[str]:
    """One organisation owned by each shard, and a second one on the sockets' own shard."""
    orgs = tenants_of_each_shard(SHARDS, "live-")
    sockets_shard = owner(NO_TENANT, SHARDS)
    orgs.append(next(f"live-more{n}.test" for n in range(1000)
                     if owner(f"live-more{n}.test", SHARDS) == sockets_shard))  # fmt: skip
    return orgs


def check(answer: dict[str, Any], orgs: list[str]) -> None:
    """Every watcher saw its organisation's create, patch and remove in time, and nothing else."""
    assert [result["org"] for result in answer["results"]] == orgs
    for result in answer["results"]:
        for step in ("createdMs", "patchedMs", "removedMs"):
            assert result[step] is not None and result[step] < WITHIN_MS, result
    assert answer["leaked"] == {org: [] for org in orgs}


def wait_until_whole(base: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if not httpx.get(f"{base}/_sandbox/health").json()["down"]:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the cluster did not come back"
        time.sleep(0.2)


def test_every_organisations_watcher_hears_its_own_events_wherever_its_tenant_is(
    sdk: Path, running: Cluster
) -> None:
    orgs = organisations()
    assert {owner(org, SHARDS) for org in orgs} == set(range(SHARDS))
    watchers = Watchers(sdk, running.url, orgs)
    try:
        check(watchers.round("first"), orgs)
        # The dashboard counts each organisation's sockets, whichever shard they are on.
        during = httpx.get(f"{running.url}/_sandbox/tenants").json()["tenants"]
        assert all(t["sockets"] >= 1 for t in during if t["id"] in orgs), during
    finally:
        watchers.stop()
    # The sockets' shard signed them in by their tokens alone: each organisation's tenant (and
    # its accounts) is on its owner only.
    listed = httpx.get(f"{running.url}/_sandbox/tenants").json()["tenants"]
    held = {(t["id"], t["shard"]) for t in listed if t["id"] in orgs}
    assert held == {(org, f"shard{owner(org, SHARDS)}") for org in orgs}


def test_after_a_shard_or_redis_is_killed_the_sockets_come_back_and_hear_the_next_events(
    sdk: Path, running: Cluster
) -> None:
    orgs = organisations()
    watchers = Watchers(sdk, running.url, orgs)
    try:
        check(watchers.round("before"), orgs)
        # The shard the sockets are on: every socket drops and must reconnect (and sign in
        # again, as the SDK does by itself).
        os.kill(running.pids[f"shard{owner(NO_TENANT, SHARDS)}"], signal.SIGKILL)
        time.sleep(1)
        wait_until_whole(running.url)
        answer = watchers.round("after-shard", retry_ms=20_000)
        check(answer, orgs)
        # Redis: the shards' listeners reconnect to the restarted one.
        os.kill(running.pids["redis"], signal.SIGKILL)
        time.sleep(1)
        check(watchers.round("after-redis", retry_ms=20_000), orgs)
    finally:
        watchers.stop()


def test_a_socket_sign_in_on_a_shard_without_the_tenant_checks_the_token(
    running: Cluster,
) -> None:
    """The sockets' shard owns neither organisation: a genuine access token signs in there, a
    tampered one or a refresh token does not, and neither builds the tenant there."""
    org = next(o for o in tenants_of_each_shard(SHARDS, "token-")
               if owner(o, SHARDS) != owner(NO_TENANT, SHARDS))  # fmt: skip
    sign_in_body = {"strategy": "local", "email": f"ana@{org}", "password": "x"}
    signed = httpx.post(f"{running.url}/authentication", json=sign_in_body).json()
    access, refresh = signed["accessToken"], signed["refreshToken"]
    head, payload, signature = access.split(".")
    tampered = f"{head}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"

    async def sign_in(token: Any) -> Any:
        client = socketio_v4.AsyncClient(reconnection=False)
        await client.connect(running.url, transports=["websocket"])
        try:
            return await client.call(
                "create", ("authentication", {"strategy": "jwt", "accessToken": token}), timeout=5
            )
        finally:
            await client.disconnect()

    accepted = asyncio.run(sign_in(access))
    assert accepted[0] is None and accepted[1]["uid"] == signed["uid"], accepted
    for refused in (tampered, refresh):
        error = asyncio.run(sign_in(refused))
        assert (error["name"], error["code"]) == ("NotAuthenticated", 401), error
    listed = httpx.get(f"{running.url}/_sandbox/tenants").json()["tenants"]
    assert {t["shard"] for t in listed if t["id"] == org} == {f"shard{owner(org, SHARDS)}"}
