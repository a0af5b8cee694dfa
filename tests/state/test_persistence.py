"""The state file: a real `billing-sandbox serve --state-file` keeps its data across restarts,
saves on request, and a save interrupted by a crash never harms the last good file."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager
from pathlib import Path
from typing import BinaryIO

import anyio
import httpx
import orjson
import pytest

from billing_sandbox.app import create_app
from billing_sandbox.settings import Settings
from billing_sandbox.state.persistence import StateFileError, write_atomically
from tests.support.processes import free_port, serving

pytestmark = pytest.mark.anyio

DECODA = {"TENANT": "demo", "API-KEY": "k"}
PATIENT = "pat_sandbox_0001"


def serve(state_file: Path) -> AbstractContextManager[tuple[str, subprocess.Popen[str]]]:
    """`billing-sandbox serve --state-file …` on a free port, until the block ends."""
    return serving("--records", "20", "--state-file", str(state_file))


def stop(server: subprocess.Popen[str], how: signal.Signals) -> str:
    """Stop the server with a signal; what it printed on the way out."""
    server.send_signal(how)
    out, err = server.communicate(timeout=15)
    assert "Traceback" not in err, err
    return out


def new_charge(base: str, owed: int) -> str:
    body = {"patientId": PATIENT, "totalOutstanding": owed}
    made = httpx.post(f"{base}/billing/payment-terminal/charge/create", json=body, headers=DECODA)
    assert made.status_code == 200, made.text
    charge_id: str = made.json()["id"]
    return charge_id


def get_charge(base: str, charge_id: str) -> httpx.Response:
    return httpx.get(f"{base}/billing/charge/get/{charge_id}", headers=DECODA)


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_restart_keeps_the_data(tmp_path: Path, how: signal.Signals) -> None:
    state_file = tmp_path / "state.json"
    with serve(state_file) as (base, server):
        charge_id = new_charge(base, 1234)
        before = get_charge(base, charge_id).content
        out = stop(server, how)
    assert f"state saved to {state_file} (1 tenant)" in out
    with serve(state_file) as (base, server):
        assert get_charge(base, charge_id).content == before
        after_restart = new_charge(base, 1)
        stop(server, signal.SIGINT)
    # Ids go on as they would have without the restart.
    with serve(tmp_path / "never-restarted.json") as (base, server):
        assert new_charge(base, 1234) == charge_id
        assert new_charge(base, 1) == after_restart


def test_a_save_on_request_survives_a_kill(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    with serve(state_file) as (base, server):
        charge_id = new_charge(base, 500)
        saved = httpx.post(f"{base}/_sandbox/state/save")
        assert saved.status_code == 200, saved.text
        assert saved.json()["saved"] == str(state_file)
        assert saved.json()["tenants"] == ["demo"]
        # The file is the export, the key the server signs tokens with (never exported)
        # and where its write-ahead log goes on from.
        kept = orjson.loads(state_file.read_bytes())
        assert isinstance(kept.pop("signingSecret"), str)
        # The first start wrote generation 1 (with the key); this save, generation 2.
        assert (kept.pop("generation"), kept.pop("seq")) == (2, 1)
        assert kept.pop("rateLimits") == {}
        assert kept == httpx.get(f"{base}/_sandbox/state").json()
        # Not in the snapshot, but in the log: the kill below loses neither.
        later = new_charge(base, 600)
        exported = httpx.get(f"{base}/_sandbox/tenants/demo/state").content
        server.kill()
        server.communicate(timeout=15)
    with serve(state_file) as (base, server):
        assert get_charge(base, charge_id).status_code == 200
        assert get_charge(base, later).status_code == 200
        assert httpx.get(f"{base}/_sandbox/tenants/demo/state").content == exported
        stop(server, signal.SIGINT)


def test_a_corrupt_state_file_stops_the_start_with_a_message(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    state_file.write_text('{"format": "billing-sandbox/1", "tenants": {"demo": []}}')
    command = [sys.executable, "-m", "billing_sandbox", "serve", "--port", str(free_port()),
               "--state-file", str(state_file)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith(f"billing-sandbox: state file {state_file} cannot be loaded")
    assert "tenant 'demo': invalid snapshot: snapshot: expected an object" in done.stderr
    assert "Traceback" not in done.stderr


# ---- atomic saves, in process ----


@asynccontextmanager
async def client_for(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app in process (no lifespan: nothing is saved at the end of a test)."""
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
        yield c


async def good_file(state_file: Path) -> tuple[str, bytes]:
    """A state file saved by a server with one charge made; the charge's id and the bytes."""
    async with client_for(Settings(records=20, state_file=state_file)) as client:
        body = {"patientId": PATIENT, "totalOutstanding": 777}
        made = await client.post(
            "/billing/payment-terminal/charge/create", json=body, headers=DECODA
        )
        assert made.status_code == 200, made.text
        assert (await client.post("/_sandbox/state/save")).status_code == 200
    return str(made.json()["id"]), await anyio.Path(state_file).read_bytes()


async def assert_loads(state_file: Path, charge_id: str) -> None:
    async with client_for(Settings(records=20, state_file=state_file)) as client:
        found = await client.get(f"/billing/charge/get/{charge_id}", headers=DECODA)
        assert found.status_code == 200, found.text


async def names(folder: Path) -> list[str]:
    return sorted([path.name async for path in anyio.Path(folder).iterdir()])


async def test_a_write_failing_halfway_leaves_the_last_good_file(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    charge_id, good = await good_file(state_file)

    def fail_halfway(file: BinaryIO, data: bytes) -> None:
        file.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_atomically(
            state_file, b'{"format": "billing-sandbox/1", "tenants": {}}', fail_halfway
        )
    assert await anyio.Path(state_file).read_bytes() == good
    # No temporary file left behind (the log is the state's own).
    assert await names(tmp_path) == ["state.json", "state.json.log"]
    await assert_loads(state_file, charge_id)


CRASH = """
import os, signal, sys
from pathlib import Path
from billing_sandbox.state.persistence import write_atomically

def crash_halfway(file, data):
    file.write(data[: len(data) // 2])
    file.flush()
    os.kill(os.getpid(), signal.SIGKILL)

write_atomically(Path(sys.argv[1]), b'{"format": "billing-sandbox/1", "tenants": {}}' * 1000,
                 crash_halfway)
"""


async def test_a_process_killed_mid_save_leaves_the_last_good_file(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    charge_id, good = await good_file(state_file)
    done = await anyio.run_process([sys.executable, "-c", CRASH, str(state_file)], check=False)
    assert done.returncode == -signal.SIGKILL
    assert await anyio.Path(state_file).read_bytes() == good
    [leftover] = [name for name in await names(tmp_path) if not name.startswith("state.json")]
    assert leftover.startswith(".state.json.") and leftover.endswith(".tmp")
    await assert_loads(state_file, charge_id)
    # Loading cleared what the crash left.
    assert await names(tmp_path) == ["state.json", "state.json.log"]


async def test_a_failed_save_is_a_500_and_keeps_serving(tmp_path: Path) -> None:
    folder = anyio.Path(tmp_path / "gone")
    await folder.mkdir()
    async with client_for(Settings(records=20, state_file=Path(folder) / "state.json")) as client:
        for made in ("state.json", "state.json.log"):
            await (folder / made).unlink()
        await folder.rmdir()
        response = await client.post("/_sandbox/state/save")
        assert response.status_code == 500, response.text
        assert response.json()["error"] == "SaveFailed"
        assert "could not save the state file" in response.json()["message"]
        assert (await client.get("/_sandbox/health")).status_code == 200


async def test_saving_without_a_state_file_is_a_409() -> None:
    async with client_for(Settings(records=20)) as client:
        response = await client.post("/_sandbox/state/save")
    assert response.status_code == 409, response.text
    assert response.json()["error"] == "NoStateFile"
    assert "--state-file" in response.json()["message"]


def test_a_state_file_in_a_missing_folder_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(StateFileError, match="does not exist"):
        create_app(Settings(state_file=tmp_path / "nowhere" / "state.json"))


def test_a_missing_state_file_starts_empty(tmp_path: Path) -> None:
    app = create_app(Settings(state_file=tmp_path / "state.json"))
    assert app.state.sandbox.tenants() == {}


def test_the_state_file_can_come_from_the_environment() -> None:
    env = {"BILLING_SANDBOX_STATE_FILE": "/var/lib/sandbox/state.json"}
    assert Settings.from_env(env).state_file == Path("/var/lib/sandbox/state.json")
    assert Settings.from_env({"BILLING_SANDBOX_STATE_FILE": ""}).state_file is None
