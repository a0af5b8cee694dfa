"""`serve --recordings DIR`: which recorded exchanges are read, which are passed over or
skipped (and said so), and a directory that cannot be read stops the start with exit 2."""

from __future__ import annotations

from pathlib import Path
from typing import IO

import anyio
import httpx
import pytest
import yaml
from starlette.applications import Starlette

from billing_sandbox.api import Api
from billing_sandbox.apis import VENDOR_APIS
from billing_sandbox.app import create_app
from billing_sandbox.cli import main, parse_args
from billing_sandbox.cli.banner import banner
from billing_sandbox.cli.serve import settings_of
from billing_sandbox.clock import ManualClock
from billing_sandbox.recordings import Notice, RecordingError, Recordings, load_exchanges
from billing_sandbox.settings import Settings
from billing_sandbox.spec.document import load_spec
from tests.candid.helpers import CURATED_WRITE_OFF, UNKNOWN, WRITE_OFFS, auth
from tests.support.processes import serving
from tests.support.proxying import proxied

pytestmark = pytest.mark.anyio


async def record(app: Starlette, directory: Path) -> Path:
    """A token, a write-off, a 404 and a page, recorded from the sandbox itself."""
    async with proxied("candid", app, record_dir=directory) as proxy:
        headers = await auth(proxy, "someone")
        for path in (f"{WRITE_OFFS}/{CURATED_WRITE_OFF}", f"{WRITE_OFFS}/{UNKNOWN}"):
            await proxy.get(path, headers=headers)
        await proxy.get(WRITE_OFFS, params={"limit": 3}, headers=headers)
    return directory


@pytest.fixture
async def directory(app: Starlette, tmp_path: Path) -> Path:
    return await record(app, tmp_path)


def edit(path: Path, change: dict[str, object]) -> None:
    data = yaml.safe_load(path.read_text())
    data.update(change)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


async def test_only_answers_that_hold_records_are_read(directory: Path, clock: ManualClock) -> None:
    found = create_app(Settings(recordings_dir=directory), clock=clock).state.sandbox.recordings
    assert [e.source for e in found.of("candid")] == [
        "000002-getWriteOff-200.yaml", "000004-getWriteOffs-200.yaml"
    ]  # fmt: skip
    assert (found.ignored, found.skipped) == (2, ())  # the token and the 404
    assert found.of("decoda") == found.of("mycure") == ()


async def test_a_head_answer_holds_no_records(directory: Path, clock: ManualClock) -> None:
    path = directory / "000002-getWriteOff-200.yaml"
    data = yaml.safe_load(path.read_text())
    data["request"]["method"], data["response"]["body"] = "HEAD", None
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    found = create_app(Settings(recordings_dir=directory), clock=clock).state.sandbox.recordings
    assert (found.ignored, found.notices) == (3, ())
    assert [e.source for e in found.of("candid")] == ["000004-getWriteOffs-200.yaml"]


async def test_an_answer_that_breaks_the_spec_today_is_skipped_and_named(
    directory: Path, clock: ManualClock
) -> None:
    path = directory / "000002-getWriteOff-200.yaml"
    data = yaml.safe_load(path.read_text())
    del data["response"]["body"]["amount_cents"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    found = create_app(Settings(recordings_dir=directory), clock=clock).state.sandbox.recordings
    [skipped] = found.skipped
    assert skipped.source == path.name
    assert "breaks the spec at $" in skipped.reason and "amount_cents" in skipped.reason
    assert [e.source for e in found.of("candid")] == ["000004-getWriteOffs-200.yaml"]


async def test_an_undeclared_status_and_an_unknown_api_are_skipped(
    directory: Path, clock: ManualClock
) -> None:
    edit(directory / "000002-getWriteOff-200.yaml", {"api": "stripe"})
    page = directory / "000004-getWriteOffs-200.yaml"
    data = yaml.safe_load(page.read_text())
    data["response"]["status"] = 203
    page.write_text(yaml.safe_dump(data, sort_keys=False))
    found = create_app(Settings(recordings_dir=directory), clock=clock).state.sandbox.recordings
    reasons = {s.source: s.reason for s in found.skipped}
    assert reasons == {
        "000002-getWriteOff-200.yaml": "no API of the sandbox is called 'stripe'",
        "000004-getWriteOffs-200.yaml": "status 203 is not declared for getWriteOffs",
    }


def test_a_missing_directory_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match=r"recordings directory .*nowhere does not exist"):
        create_app(Settings(recordings_dir=tmp_path / "nowhere"))


def test_a_file_that_is_not_an_exchange_stops_the_start_naming_it(tmp_path: Path) -> None:
    (tmp_path / "000001-notes.yaml").write_text("just: notes\n")
    with pytest.raises(RecordingError, match=r"000001-notes\.yaml: not a recorded exchange"):
        create_app(Settings(recordings_dir=tmp_path))


def test_serve_says_why_it_cannot_read_recordings_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["serve", "--recordings", str(tmp_path / "nowhere")])
    assert status == 2
    assert "recordings directory" in capsys.readouterr().err


def test_serve_takes_the_directory_from_its_flag_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (
        settings_of(parse_args(["serve", "--recordings", str(tmp_path)])).recordings_dir == tmp_path
    )
    monkeypatch.setenv("BILLING_SANDBOX_RECORDINGS_DIR", str(tmp_path))
    assert settings_of(parse_args(["serve"])).recordings_dir == tmp_path


async def test_the_banner_says_what_was_loaded_and_what_was_skipped(
    directory: Path, clock: ManualClock
) -> None:
    edit(directory / "000002-getWriteOff-200.yaml", {"api": "stripe"})
    settings = Settings(recordings_dir=directory)
    text = banner(settings, create_app(settings, clock=clock).state.sandbox.recordings)
    assert f"recorded   {directory}: candid 1 exchanges with records" in text
    assert "2 without records passed over; 1 skipped (see below)" in text
    assert "skipped 000002-getWriteOff-200.yaml: no API of the sandbox is called 'stripe'" in text
    assert "recorded" not in banner(Settings())


def read_banner(stream: IO[str]) -> str:
    """Up to the banner's last line, no further (nothing more comes), or to the end of output
    if the server stops first."""
    lines = []
    while (line := stream.readline()) and not line.startswith("Press Ctrl+C"):
        lines.append(line)
    return "".join(lines)


def test_serve_process_answers_recorded_write_offs_to_any_tenant(tmp_path: Path) -> None:
    """The README's command: `billing-sandbox serve --recordings DIR`, as a process."""
    directory = anyio.run(record, create_app(), tmp_path)
    [page] = [e for e in load_exchanges(directory) if e.operation_id == "getWriteOffs"]
    recorded = page.response.body["items"]
    with serving("--records", "20", "--recordings", str(directory)) as (base, server):
        assert server.stdout is not None
        banner = read_banner(server.stdout)
        assert f"recorded   {directory}: candid 2 exchanges with records" in banner
        token = httpx.post(
            f"{base}/api/auth/v2/token", json={"client_id": "another", "client_secret": "s"}
        ).json()["access_token"]
        for write_off in recorded:
            got = httpx.get(
                f"{base}{WRITE_OFFS}/{write_off['write_off_id']}",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert got.json() == write_off


def test_a_record_loaded_with_a_change_is_listed_apart_from_skipped_ones(tmp_path: Path) -> None:
    found = Recordings(
        tmp_path,
        notices=(Notice("a.yaml", "gone"), Notice("b.yaml", "loaded, but …", loaded=True)),
    )
    assert (found.skipped, found.changed) == (found.notices[:1], found.notices[1:])
    assert "; 1 skipped; 1 loaded with changes (see below)" in found.summary()
    assert [str(n) for n in found.notices] == [
        "skipped a.yaml: gone",
        "changed b.yaml: loaded, but …",
    ]


@pytest.mark.parametrize("api", VENDOR_APIS, ids=lambda api: api.name)
def test_every_operation_an_api_reads_records_from_is_in_its_spec(api: Api) -> None:
    """A renamed operation would otherwise pass its recordings over without a word."""
    spec = load_spec(Settings().specs_dir / api.spec_file)
    assert api.store is not None
    assert api.store.load_recorded is not None
    assert api.store.recorded_operations
    assert api.store.recorded_operations <= {op.operation_id for op in spec.operations}
