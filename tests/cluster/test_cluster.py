"""`billing-sandbox cluster` with Debian's HAProxy, every process on loopback (`pytest -m cluster`).

Every shard's answers carry `X-Sandbox-Shard` (set by HAProxy), which the tests read; where a
tenant should be is `placement.owner`, the same rendezvous hash HAProxy computes."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio_v4

from billing_sandbox.cluster.command import OTHERS_BYTES
from billing_sandbox.cluster.placement import owner, split
from tests.support.kill_loop import (
    KINDS,
    check_acknowledged,
    exports,
    seeded,
    write_and_kill,
)
from tests.support.receiver import receiver

pytestmark = pytest.mark.cluster

HAPROXY = shutil.which("haproxy")
SHARD = "x-sandbox-shard"


@dataclass
class Cluster:
    url: str
    process: subprocess.Popen[str]
    pids: dict[str, int]
    shards: int

    def decoda(self, tenant: str) -> dict[str, str]:
        return {"TENANT": tenant, "API-KEY": "any"}

    def shard_of(self, response: httpx.Response) -> str:
        assert response.status_code < 500, response.text
        return response.headers[SHARD]


def free_run(count: int) -> int:
    """A port with the `count` ports after it free too (the cluster's shards and merger)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base: int = probe.getsockname()[1]
        if base + count >= 65535:
            continue
        try:
            for port in range(base, base + count + 1):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no run of free ports")


@contextmanager
def cluster(shards: int, state_dir: Path, *more: str) -> Iterator[Cluster]:
    if HAPROXY is None:
        pytest.fail("the cluster tests need HAProxy (Debian: apt-get install haproxy)")
    port = free_run(shards + 3)  # HAProxy, the shards, the merger, Redis, the exporter
    command = [sys.executable, "-m", "billing_sandbox", "cluster", "--shards", str(shards),
               "--port", str(port), "--state-dir", str(state_dir), "--records", "20",
               "--quiet", *more]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pids: dict[str, int] = {}
    try:
        deadline = time.monotonic() + 40
        assert process.stdout is not None
        for line in process.stdout:
            words = line.split()
            if len(words) == 4 and words[2] == "pid":
                pids[words[0]] = int(words[3])
            elif len(words) == 3 and words[1] == "pid":  # HAProxy's line names no address
                pids[words[0]] = int(words[2])
            if line.strip() == "ready":
                break
            assert time.monotonic() < deadline, "the cluster did not start"
        else:
            pytest.fail(f"the cluster stopped: {process.communicate()}")
        yield Cluster(f"http://127.0.0.1:{port}", process, pids, shards)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster(3, tmp_path_factory.mktemp("three"), "--restart-delay", "3") as running:
        yield running


def tenants_of_each_shard(shards: int, prefix: str) -> list[str]:
    """One tenant owned by each shard, in shard order."""
    found: dict[int, str] = {}
    number = 0
    while len(found) < shards:
        name = f"{prefix}{number}.test"
        found.setdefault(owner(name, shards), name)
        number += 1
    return [found[shard] for shard in range(shards)]


def test_a_tenant_stays_on_its_shard_whatever_the_api(three: Cluster) -> None:
    base = three.url
    for shard, tenant in enumerate(tenants_of_each_shard(3, "stay-")):
        expected = f"shard{shard}"
        seen = []
        login = httpx.post(f"{base}/api/auth/v2/token",
                           json={"client_id": tenant, "client_secret": "x"})  # fmt: skip
        seen.append(three.shard_of(login))
        form = httpx.post(f"{base}/api/auth/v2/token",
                          data={"client_id": tenant, "client_secret": "x"})  # fmt: skip
        seen.append(three.shard_of(form))
        candid = {"Authorization": f"Bearer {login.json()['access_token']}"}
        seen.append(three.shard_of(httpx.get(f"{base}/api/write-offs/v1?limit=1", headers=candid)))
        sign_in = {"strategy": "local", "email": f"Ana@{tenant.upper()}", "password": "x"}
        signed = httpx.post(f"{base}/authentication", json=sign_in)
        seen.append(three.shard_of(signed))
        access = signed.json()["accessToken"]
        mycure = {"Authorization": f"Bearer {access}"}
        seen.append(three.shard_of(httpx.get(f"{base}/billing-soas?$limit=1", headers=mycure)))
        again = httpx.post(
            f"{base}/authentication", json={"strategy": "jwt", "accessToken": access}
        )
        seen.append(three.shard_of(again))
        decoda = httpx.get(f"{base}/billing/charge/list", headers=three.decoda(tenant))
        seen.append(three.shard_of(decoda))
        seen.append(three.shard_of(httpx.get(f"{base}/_sandbox/tenants/{tenant}/clock")))
        assert seen == [expected] * len(seen), (tenant, seen)


def test_tenants_spread_across_the_shards(three: Cluster) -> None:
    names = [f"spread-{n}" for n in range(300)]
    owned = split(names, 3)
    for tenants in owned.values():
        assert 0.2 <= len(tenants) / len(names) <= 0.5, {k: len(v) for k, v in owned.items()}
    with httpx.Client(base_url=three.url) as client:
        for name in names[:60]:
            answer = client.get("/billing/charge/get/nope", headers=three.decoda(name))
            assert answer.status_code == 404
            assert answer.headers[SHARD] == f"shard{owner(name, 3)}", name


def test_global_calls_reach_every_shard_and_are_merged(three: Cluster) -> None:
    base = three.url
    tenants = tenants_of_each_shard(3, "global-")
    rule = {"match": {"operationId": "listCharges"}, "effect": {"status": 503}}
    made = httpx.post(f"{base}/_sandbox/faults", json=rule)
    assert made.status_code == 201, made.text
    try:
        for tenant in tenants:
            failed = httpx.get(f"{base}/billing/charge/list", headers=three.decoda(tenant))
            assert failed.status_code == 503, failed.text
        [merged] = httpx.get(f"{base}/_sandbox/faults").json()["faults"]
        assert merged["fired"] == 3
        # The dashboard's charts count every shard's requests, not one shard's.
        traffic = httpx.get(f"{base}/_sandbox/traffic?minutes=1").json()
        assert sum(s["failures"] for s in traffic["apis"]["decoda"]) >= 3
    finally:
        assert httpx.delete(f"{base}/_sandbox/faults").status_code == 200
    journal = httpx.get(f"{base}/_sandbox/requests?limit=1000").json()
    shards_seen = {e["shard"] for e in journal["requests"] if e["tenant"] in tenants}
    assert shards_seen == {"shard0", "shard1", "shard2"}
    times = [entry["time"] for entry in journal["requests"]]
    assert times == sorted(times, reverse=True)
    # A write on every shard, then the global reset: every tenant forgets it.
    made_ids = {}
    for tenant in tenants:
        patient = httpx.post(f"{base}/user/patient/create", json={"firstName": "Gone"},
                             headers=three.decoda(tenant))  # fmt: skip
        made_ids[tenant] = patient.json()["id"]
    listed = httpx.get(f"{base}/_sandbox/tenants").json()["tenants"]
    assert {(t["id"], t["shard"]) for t in listed} >= {
        (tenant, f"shard{shard}") for shard, tenant in enumerate(tenants)
    }
    assert httpx.post(f"{base}/_sandbox/reset").json()["down"] == []
    for tenant, patient_id in made_ids.items():
        gone = httpx.get(f"{base}/user/patient/{patient_id}", headers=three.decoda(tenant))
        assert gone.status_code == 404, tenant


def test_a_dead_shard_costs_only_its_tenants_and_comes_back_with_its_state(
    three: Cluster,
) -> None:
    base = three.url
    tenants = tenants_of_each_shard(3, "dead-")
    victim = tenants[1]
    kept = httpx.post(f"{base}/user/patient/create", json={"firstName": "Kept"},
                      headers=three.decoda(victim))  # fmt: skip
    assert kept.status_code == 200
    assert httpx.post(f"{base}/_sandbox/state/save").status_code == 200
    os.kill(three.pids["shard1"], signal.SIGKILL)
    time.sleep(0.5)
    for tenant in (tenants[0], tenants[2]):
        alive = httpx.get(f"{base}/billing/charge/list", headers=three.decoda(tenant))
        assert alive.status_code == 200
    lost = httpx.get(f"{base}/billing/charge/list", headers=three.decoda(victim))
    assert lost.status_code == 503
    health = httpx.get(f"{base}/_sandbox/health").json()
    assert health["status"] == "degraded" and health["down"] == ["shard1"]
    journal = httpx.get(f"{base}/_sandbox/requests").json()
    assert journal["down"] == ["shard1"]
    deadline = time.monotonic() + 20
    while httpx.get(f"{base}/_sandbox/health").json()["down"]:
        assert time.monotonic() < deadline, "the shard did not come back"
        time.sleep(0.3)
    back = httpx.get(f"{base}/user/patient/{kept.json()['id']}", headers=three.decoda(victim))
    assert back.status_code == 200 and back.json()["firstName"] == "Kept"


def test_a_socket_names_its_organisation_and_hears_its_shard(three: Cluster) -> None:
    tenant = tenants_of_each_shard(3, "sock-")[2]
    sign_in = {"strategy": "local", "email": f"ana@{tenant}", "password": "x"}
    signed = httpx.post(f"{three.url}/authentication", json=sign_in)
    access = signed.json()["accessToken"]

    async def listen() -> Any:
        client = socketio_v4.AsyncClient(reconnection=False)
        heard: asyncio.Queue[Any] = asyncio.Queue()
        client.on("billing-soas created", heard.put)
        await client.connect(f"{three.url}?organization={tenant}", transports=["websocket"])
        try:
            acked = await client.call(
                "create", ("authentication", {"strategy": "jwt", "accessToken": access}), timeout=5
            )
            assert acked[0] is None, acked
            async with httpx.AsyncClient(base_url=three.url) as rest:
                reference = (await rest.get(f"/_sandbox/tenants/{tenant}/reference/mycure")).json()
                body = {"facility": reference["facilities"][0]["id"], "type": "organization",
                        "customer": reference["customers"]["organizations"][0]["id"]}  # fmt: skip
                made = await rest.post("/billing-soas", json=body,
                                       headers={"Authorization": f"Bearer {access}"})  # fmt: skip
                assert made.status_code == 201, made.text
            return await asyncio.wait_for(heard.get(), 5), made.json()
        finally:
            await client.disconnect()

    event, made = asyncio.run(listen())
    assert event["id"] == made["id"]


def test_a_webhook_is_sent_by_its_tenants_shard(three: Cluster) -> None:
    tenant = tenants_of_each_shard(3, "hook-")[1]
    headers = three.decoda(tenant)
    with receiver() as hook:
        made = httpx.post(f"{three.url}/webhook/decoda/create", headers=headers,
                          json={"url": hook.url, "subscriptions": ["PATIENT_UPDATED"]})  # fmt: skip
        assert three.shard_of(made) == "shard1"
        patient = httpx.post(f"{three.url}/user/patient/create", json={}, headers=headers).json()
        sent = httpx.post(f"{three.url}/_sandbox/tenants/{tenant}/decoda/events",
                          json={"type": "PATIENT_UPDATED", "id": patient["id"]})  # fmt: skip
        assert three.shard_of(sent) == "shard1"
        [got] = hook.wait_for(1)
    assert patient["id"] in got.body.decode()


def test_adding_a_shard_moves_about_a_quarter_of_the_tenants_intact(tmp_path: Path) -> None:
    names = [f"move-{n}.test" for n in range(40)]
    made: dict[str, str] = {}
    with cluster(3, tmp_path) as before:
        for name in names:
            patient = httpx.post(f"{before.url}/user/patient/create", json={"firstName": name},
                                 headers=before.decoda(name))  # fmt: skip
            made[name] = patient.json()["id"]
        snapshot = httpx.get(f"{before.url}/_sandbox/state")
        assert snapshot.status_code == 200
    moved = [name for name in names if owner(name, 3) != owner(name, 4)]
    assert 0.1 <= len(moved) / len(names) <= 0.45, len(moved)
    with cluster(4, tmp_path) as after:
        restored = httpx.put(f"{after.url}/_sandbox/state", content=snapshot.content,
                             headers={"Content-Type": "application/json"})  # fmt: skip
        assert restored.status_code == 200, restored.text
        for name in names:
            found = httpx.get(f"{after.url}/user/patient/{made[name]}", headers=after.decoda(name))
            assert found.status_code == 200 and found.json()["firstName"] == name, name
            assert found.headers[SHARD] == f"shard{owner(name, 4)}"
        listed = httpx.get(f"{after.url}/_sandbox/tenants").json()["tenants"]
    held = [t["id"] for t in listed if t["id"] in made]
    assert sorted(held) == sorted(names)  # each tenant on one shard, none twice


def test_the_printed_config_is_one_haproxy_accepts(tmp_path: Path) -> None:
    printed = subprocess.run(
        [
            sys.executable,
            "-m",
            "billing_sandbox",
            "cluster",
            "--shards",
            "3",
            "--print-haproxy-config",
            "--shard-urls",
            "http://127.0.0.2:8000,http://127.0.0.3:8000,http://127.0.0.4:8000",
            "--merger-url",
            "http://127.0.0.5:8100",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    config = tmp_path / "haproxy.cfg"
    config.write_text(printed.stdout)
    assert "server shard2 127.0.0.4:8000" in printed.stdout
    assert HAPROXY is not None
    checked = subprocess.run([HAPROXY, "-c", "-q", "-f", str(config)], capture_output=True)
    assert checked.returncode == 0, checked.stderr


def test_strict_credentials_route_each_login_to_its_mapped_tenant(tmp_path: Path) -> None:
    shared = next(f"shared-{n}.test" for n in range(100) if owner(f"shared-{n}.test", 3) == 2)
    listed = tmp_path / "credentials.yaml"
    listed.write_text(
        "candid:\n"
        f"  - {{client_id: ci-bot, client_secret: s1, tenant: {shared}}}\n"
        f"  - {{client_id: dev-bot, client_secret: s2, tenant: {shared}}}\n"
        "decoda:\n"
        f"  - {{tenant_header: front, api_key: k1, tenant: {shared}}}\n"
        "mycure:\n"
        f"  - {{email: Ana@Elsewhere.test, password: pw, tenant: {shared}}}\n"
    )
    with cluster(3, tmp_path / "state", "--credentials", str(listed)) as running:
        base = running.url
        for client_id, secret in (("ci-bot", "s1"), ("dev-bot", "s2")):
            token = httpx.post(f"{base}/api/auth/v2/token",
                               json={"client_id": client_id, "client_secret": secret})  # fmt: skip
            assert token.status_code == 200 and running.shard_of(token) == "shard2", client_id
        decoda = httpx.get(
            f"{base}/billing/charge/list", headers={"TENANT": "front", "API-KEY": "k1"}
        )
        assert decoda.status_code == 200 and running.shard_of(decoda) == "shard2"
        sign_in = {"strategy": "local", "email": "ana@elsewhere.test", "password": "pw"}
        signed = httpx.post(f"{base}/authentication", json=sign_in)
        assert signed.status_code == 201 and running.shard_of(signed) == "shard2"
        listed_tenants = httpx.get(f"{base}/_sandbox/tenants").json()["tenants"]
    assert {(t["id"], t["shard"]) for t in listed_tenants} == {(shared, "shard2")}


def test_the_merged_stream_resumes_every_shard_where_it_was(three: Cluster) -> None:
    tenants = tenants_of_each_shard(3, "stream-")
    start = "shard0=0,shard1=0,shard2=0"
    for tenant in tenants:
        assert httpx.get(
            f"{three.url}/billing/charge/list", headers=three.decoda(tenant)
        ).is_success
    streamed = httpx.get(
        f"{three.url}/_sandbox/requests/stream?seconds=1",
        headers={"Last-Event-ID": start},
        timeout=10,
    )
    blocks = [b for b in streamed.text.split("\n\n") if "event: request" in b]
    ids = [line[4:] for b in blocks for line in b.splitlines() if line.startswith("id: ")]
    mine = [b for b in blocks if any(f'"tenant":"{t}"' in b for t in tenants)]
    assert len(mine) == 3 and {f'"shard":"shard{n}"' in " ".join(mine) for n in range(3)} == {True}
    # Resumed at the last id: every shard's entries so far were seen, so none comes again.
    again = httpx.get(
        f"{three.url}/_sandbox/requests/stream?seconds=1",
        headers={"Last-Event-ID": ids[-1]},
        timeout=10,
    )
    assert not any(f'"tenant":"{t}"' in again.text for t in tenants)


def test_a_shard_killed_with_sigkill_comes_back_with_everything_it_acknowledged(
    tmp_path: Path,
) -> None:
    """Concurrent writers on all three APIs for two tenants of shard1, through HAProxy; SIGKILL
    of the shard at a random moment; once the cluster has restarted it, every write it
    acknowledged is there, once and as it was answered (tokens issued before the kill still
    work)."""
    tenants = [name for name in (f"acked-{n}.test" for n in range(100)) if owner(name, 2) == 1]
    tenants = tenants[:2]
    with cluster(2, tmp_path, "--restart-delay", "0.5") as running:
        base = running.url
        headers = seeded(base, tenants)
        before = exports(base, tenants)
        delay = random.Random("shard-kill").uniform(0.3, 0.8)
        victim = running.pids["shard1"]
        tally = asyncio.run(
            write_and_kill(base, headers, delay, lambda: os.kill(victim, signal.SIGKILL), False)
        )
        deadline = time.monotonic() + 40
        while True:
            try:
                os.kill(victim, 0)  # until the cluster has seen it die (and reaped it)
            except ProcessLookupError:
                if not httpx.get(f"{base}/_sandbox/health").json()["down"]:
                    break  # restarted
            assert time.monotonic() < deadline, "the shard did not come back"
            time.sleep(0.2)
        after = exports(base, tenants)
        check_acknowledged(base, after, before, tally)
        # Tokens issued before the kill still let their holders in.
        for held in headers.values():
            for kind in KINDS:
                read = httpx.get(base + kind.listing, headers=held[kind.api])
                assert read.status_code == 200, read.text


def resident_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) * 1024


def test_a_capped_cluster_shares_its_memory_among_its_shards(tmp_path: Path) -> None:
    # `--max-memory` is the whole cluster's: each shard gets an equal share of what the other
    # processes leave, and those hold no more than was set aside for them.
    with cluster(2, tmp_path, "--max-memory", "2G") as running:
        share = str((2 * 10**9 - OTHERS_BYTES) // 2).encode()
        for name in ("shard0", "shard1"):
            given = Path(f"/proc/{running.pids[name]}/cmdline").read_bytes().split(b"\0")
            assert given[given.index(b"--max-memory") + 1] == share, given
        with httpx.Client(base_url=running.url, timeout=10) as client:
            for tenant in tenants_of_each_shard(2, "capped"):
                assert client.get("/billing/charge/list", headers=running.decoda(tenant)).is_success
            assert client.get("/_sandbox/requests", params={"limit": 50}).is_success
            assert client.get("/_sandbox/tenants").is_success
        others = [
            running.process.pid,
            *(running.pids[name] for name in ("merger", "redis", "haproxy")),
        ]
        held = {pid: resident_bytes(pid) for pid in others}
        assert sum(held.values()) < OTHERS_BYTES, held
