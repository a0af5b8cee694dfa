"""The write-ahead log: what a restart replays, a torn tail, damage, a full disk, compaction."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing_sandbox.app import create_app
from billing_sandbox.cli import main
from billing_sandbox.settings import Settings
from billing_sandbox.state import wal
from billing_sandbox.state.durable import WriteAhead
from tests.decoda.helpers import PATIENT, creds
from tests.decoda.hooks import register, settled
from tests.mycure.helpers import FACILITY, HMO, ORG
from tests.support.processes import free_port

pytestmark = pytest.mark.anyio

TENANTS = ("acme", "globex")
CANDID_WRITE_OFF = {
    "type": "patient",
    "patient_external_id": "SANDBOX-PATIENT-0001",
    "amount_cents": 1500,
    "write_off_timestamp": "2026-01-05T10:00:00Z",
    "write_off_reason": "SMALL_BALANCE",
    "service_line_id": "5e1f0000-0000-4000-8000-000000000001",
}


def settings_for(state_file: Path, **more: Any) -> Settings:
    return Settings(records=10, state_file=state_file, **more)


@asynccontextmanager
async def server(state_file: Path, **more: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A sandbox on `state_file`, in process, on the real clock. It runs no lifespan, so it
    never saves at the end: dropping it is a kill, and the next one starts from the log."""
    app = create_app(settings_for(state_file, **more))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        client.app = app  # type: ignore[attr-defined]
        yield client
    await app.state.courier.close()


async def exports(client: httpx.AsyncClient, tenants: tuple[str, ...] = TENANTS) -> bytes:
    parts = [(await client.get(f"/_sandbox/tenants/{tenant}/state")).content for tenant in tenants]
    return b"\n".join(parts)


async def write_in_every_api(client: httpx.AsyncClient, tenant: str) -> None:
    patient = await client.post(
        "/v1/patient/create", json={"firstName": "Ada", "lastName": tenant}, headers=creds(tenant)
    )
    assert patient.status_code == 200, patient.text
    charge = await client.post(
        "/billing/payment-terminal/charge/create",
        json={"patientId": PATIENT, "totalOutstanding": 1234},
        headers=creds(tenant),
    )
    assert charge.status_code == 200, charge.text
    token = await client.post(
        "/api/auth/v2/token", json={"client_id": tenant, "client_secret": "x"}
    )
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    written = await client.post(
        "/api/write-offs/v1", json={"write_offs": [CANDID_WRITE_OFF]}, headers=bearer
    )
    assert written.status_code == 200, written.text
    signed_in = await client.post(
        "/authentication",
        json={"strategy": "local", "email": f"{tenant}@{ORG}", "password": "x"},
    )
    soa = await client.post(
        "/billing-soas",
        json={"facility": FACILITY, "type": "organization", "customer": HMO},
        headers={"Authorization": f"Bearer {signed_in.json()['accessToken']}"},
    )
    assert soa.status_code == 201, soa.text


# ---- what a restart replays ----


async def test_every_write_of_every_api_survives_a_kill(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    async with server(state_file) as client:
        for tenant in TENANTS:
            await write_in_every_api(client, tenant)
        before = await exports(client, (*TENANTS, ORG))
    # Nothing was saved since the first start's empty snapshot: it is all in the log.
    assert b'"tenants":{}' in state_file.read_bytes()
    async with server(state_file) as client:
        assert await exports(client, (*TENANTS, ORG)) == before


async def test_control_changes_survive_a_kill(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    async with server(state_file) as client:
        await write_in_every_api(client, "acme")
        await write_in_every_api(client, "globex")
        clock = await client.post("/_sandbox/tenants/acme/clock", json={"advanceSeconds": 86400})
        assert clock.status_code == 200, clock.text
        assert (await client.post("/_sandbox/tenants/globex/reset")).status_code == 200
        limits = {"decoda": {"requests": 5, "perSeconds": 60}}
        limited = await client.put("/_sandbox/tenants/acme/rate-limits", json=limits)
        assert limited.status_code == 200, limited.text
        state = (await client.get("/_sandbox/tenants/acme/state")).content
        restored = await client.put(
            "/_sandbox/tenants/initech/state",
            content=state.replace(b'"tenant":"acme"', b'"tenant":"initech"'),
        )
        assert restored.status_code == 200, restored.text
        before = await exports(client, ("acme", "globex", "initech"))
        rate_limits = (await client.get("/_sandbox/tenants/acme/rate-limits")).json()
    async with server(state_file) as client:
        assert await exports(client, ("acme", "globex", "initech")) == before
        assert (await client.get("/_sandbox/tenants/acme/rate-limits")).json() == rate_limits


async def test_a_reset_of_everyone_is_kept_as_a_new_snapshot(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    async with server(state_file) as client:
        await write_in_every_api(client, "acme")
        assert (await client.post("/_sandbox/reset")).status_code == 200
        await write_in_every_api(client, "globex")
        before = await exports(client)
    async with server(state_file) as client:
        assert await exports(client) == before


async def test_webhook_tries_taken_and_settled_survive_a_kill(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    async with server(state_file) as client:
        # Nobody listens on port 9 of loopback: each try fails, and a retry is scheduled.
        await register(client, f"http://127.0.0.1:{free_port()}/hook", ["PATIENT_CREATED"])
        await write_in_every_api(client, "acme")
        await settled(client.app)  # type: ignore[attr-defined]
        before = await exports(client, ("acme",))
    assert b'"tries":1' in before
    async with server(state_file) as client:
        assert await exports(client, ("acme",)) == before


# ---- replaying any prefix gives the state of that moment ----

OPERATIONS = ("patient", "charge", "write-off", "soa", "clock", "reset")


async def apply(client: httpx.AsyncClient, operation: str, tenant: str) -> None:
    body: dict[str, Any]
    if operation == "patient":
        body = {"firstName": "P", "lastName": tenant}
        await client.post("/v1/patient/create", json=body, headers=creds(tenant))
    elif operation == "charge":
        body = {"patientId": PATIENT, "totalOutstanding": 99}
        await client.post(
            "/billing/payment-terminal/charge/create", json=body, headers=creds(tenant)
        )
    elif operation == "write-off":
        token = await client.post(
            "/api/auth/v2/token", json={"client_id": tenant, "client_secret": "x"}
        )
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        body = {"write_offs": [CANDID_WRITE_OFF]}
        await client.post("/api/write-offs/v1", json=body, headers=bearer)
    elif operation == "soa":
        signed_in = await client.post(
            "/authentication",
            json={"strategy": "local", "email": f"{tenant}@{ORG}", "password": "x"},
        )
        bearer = {"Authorization": f"Bearer {signed_in.json()['accessToken']}"}
        body = {"facility": FACILITY, "type": "organization", "customer": HMO}
        await client.post("/billing-soas", json=body, headers=bearer)
    elif operation == "clock":
        await client.post(f"/_sandbox/tenants/{tenant}/clock", json={"advanceSeconds": 3600})
    else:
        await client.post(f"/_sandbox/tenants/{tenant}/reset")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(OPERATIONS), st.sampled_from(TENANTS)), min_size=1, max_size=6
    )
)
def test_replaying_any_prefix_of_the_log_gives_the_state_of_that_moment(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, str]]
) -> None:
    async def check() -> None:
        folder = tmp_path_factory.mktemp("prefix")
        state_file = folder / "state.json"
        tenants = (*TENANTS, ORG)
        moments: list[tuple[int, bytes]] = []
        async with server(state_file) as client:
            durable = client.app.state.sandbox.changes  # type: ignore[attr-defined]
            assert isinstance(durable, WriteAhead)
            moments.append((durable.file.size, await exports(client, tenants)))
            for operation, tenant in steps:
                await apply(client, operation, tenant)
                moments.append((durable.file.size, await exports(client, tenants)))
        log = (folder / "state.json.log").read_bytes()
        for size, expected in moments:
            prefix = tmp_path_factory.mktemp("replay")
            (prefix / "state.json.log").write_bytes(log[:size])
            async with server(prefix / "state.json") as client:
                assert await exports(client, tenants) == expected

    anyio.run(check)


# ---- a torn tail, damage, a full disk, a directory that cannot be written ----


async def test_a_torn_last_record_is_dropped_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state_file = tmp_path / "state.json"
    async with server(state_file) as client:
        await write_in_every_api(client, "acme")
        before = await exports(client)
    log_file = tmp_path / "state.json.log"
    whole = log_file.read_bytes()
    record = wal.frame({"t": "call", "seq": 10_000})
    log_file.write_bytes(whole + record[: len(record) // 2])  # the kill came mid-append
    with caplog.at_level(logging.WARNING, logger="billing_sandbox"):
        async with server(state_file) as client:
            assert await exports(client) == before
    torn = [r for r in caplog.records if "cut short" in r.getMessage()]
    assert len(torn) == 1
    assert f"at byte {len(whole)}" in torn[0].getMessage()


def test_damage_before_the_end_stops_the_start_naming_file_and_offset(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"

    async def write() -> None:
        async with server(state_file) as client:
            await write_in_every_api(client, "acme")

    anyio.run(write)
    log_file = tmp_path / "state.json.log"
    data = bytearray(log_file.read_bytes())
    second = data.index(b"\n") + 1  # the first record after the header
    data[second + 40] ^= 0x01  # one bit flipped inside it; later records follow
    log_file.write_bytes(bytes(data))
    command = [sys.executable, "-m", "billing_sandbox", "serve", "--port", str(free_port()),
               "--state-file", str(state_file)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert str(log_file) in done.stderr
    assert f"the record at byte {second} is damaged" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("path", "json_body", "envelope"),
    [
        ("/v1/patient/create", {"firstName": "A", "lastName": "B"}, "detail"),
        (
            "/billing/payment-terminal/charge/create",
            {"patientId": PATIENT, "totalOutstanding": 5},
            "detail",
        ),
    ],
)
async def test_a_full_disk_refuses_the_write_with_a_503_and_changes_nothing(
    tmp_path: Path, path: str, json_body: dict[str, Any], envelope: str
) -> None:
    async with server(tmp_path / "state.json") as client:
        await write_in_every_api(client, "acme")
        before = await exports(client)
        durable = client.app.state.sandbox.changes  # type: ignore[attr-defined]
        full = os.open("/dev/full", os.O_WRONLY)
        try:
            os.dup2(full, durable.file._fd)  # every write to the log now fails: ENOSPC
        finally:
            os.close(full)
        refused = await client.post(path, json=json_body, headers=creds())
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == "application/json"
        assert "could not write it to its state log" in refused.json()[envelope]
        assert await exports(client) == before
        # The other APIs say it in their own words.
        token = await client.post(
            "/api/auth/v2/token", json={"client_id": "acme", "client_secret": "x"}
        )
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        candid = await client.post(
            "/api/write-offs/v1", json={"write_offs": [CANDID_WRITE_OFF]}, headers=bearer
        )
        assert candid.status_code == 503
        assert candid.json()["errorName"] == "HttpServiceUnavailableError"
        reset = await client.post("/_sandbox/tenants/acme/reset")
        assert reset.status_code == 503
        assert reset.json()["error"] == "StorageUnavailable"
        assert await exports(client) == before


def test_a_directory_that_cannot_be_written_stops_the_start(tmp_path: Path) -> None:
    # Root may write anywhere on an ordinary filesystem; /proc/self is not one.
    command = [sys.executable, "-m", "billing_sandbox", "serve", "--port", str(free_port()),
               "--state-file", "/proc/self/state.json"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert "cannot be written to" in done.stderr
    assert "Traceback" not in done.stderr


# ---- compaction ----


async def test_compaction_between_writes_loses_and_repeats_nothing(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    async with server(state_file) as client:
        durable = client.app.state.sandbox.changes  # type: ignore[attr-defined]
        await write_in_every_api(client, "acme")
        await write_in_every_api(client, "globex")
        durable.start_compaction()
        # Writes while it exports tenant by tenant: to both, before and after each's export.
        for _ in range(3):
            await write_in_every_api(client, "acme")
            await write_in_every_api(client, "globex")
        if durable.compacting is not None:
            await durable.compacting
        assert not (tmp_path / "state.json.log.old").exists()
        await write_in_every_api(client, "acme")
        before = await exports(client, (*TENANTS, ORG))
    async with server(state_file) as client:
        assert await exports(client, (*TENANTS, ORG)) == before


async def test_a_compaction_cut_off_midway_loses_nothing(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    async with server(state_file) as client:
        durable = client.app.state.sandbox.changes  # type: ignore[attr-defined]
        await write_in_every_api(client, "acme")
        # A compaction's first step (the log set aside, a new one begun), then a kill before
        # its snapshot is in place: the old log and the new one are left, the old snapshot.
        durable.file.close()
        os.replace(durable.path, durable.old_path)
        durable.file.open(durable.generation + 1, durable._seeding())
        await write_in_every_api(client, "globex")
        before = await exports(client, (*TENANTS, ORG))
    assert (tmp_path / "state.json.log.old").exists()
    async with server(state_file) as client:
        assert await exports(client, (*TENANTS, ORG)) == before
    assert not (tmp_path / "state.json.log.old").exists()  # folded in at that start


def test_the_fsync_setting_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--fsync", "sometimes"])
    assert stopped.value.code == 2
    assert "invalid choice: 'sometimes'" in capsys.readouterr().err


def test_a_log_of_other_seed_data_stops_the_start(tmp_path: Path) -> None:
    # Its calls were made on that data: replayed on another, they would make another state.
    state_file = tmp_path / "state.json"

    async def write() -> None:
        async with server(state_file) as client:
            await write_in_every_api(client, "acme")

    anyio.run(write)
    command = [sys.executable, "-m", "billing_sandbox", "serve", "--port", str(free_port()),
               "--state-file", str(state_file), "--seed", "5"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert "was written by a server with --seed 0 and --records 10" in done.stderr
    assert "Traceback" not in done.stderr


async def test_a_token_issued_before_any_save_still_opens_the_api_after_a_kill(
    tmp_path: Path,
) -> None:
    state_file = tmp_path / "state.json"
    async with server(state_file) as client:
        token = await client.post(
            "/api/auth/v2/token", json={"client_id": "acme", "client_secret": "x"}
        )
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        assert (await client.get("/api/write-offs/v1", headers=bearer)).status_code == 200
    async with server(state_file) as client:
        assert (await client.get("/api/write-offs/v1", headers=bearer)).status_code == 200
