"""`billing-sandbox scenario check|record`, and `serve --scenario`: a file checked offline (exit
0, 1 with each problem in its place, 2 unreadable), a tenant recorded from a running sandbox,
and scenarios applied at start (one that fails stops the start in one line naming the step)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from billing_sandbox.cli import main
from billing_sandbox.scenarios import catalogue
from billing_sandbox.settings import Settings
from billing_sandbox.testing import serve
from tests.support.processes import serving

GOOD = {
    "scenario": 1,
    "name": "one-patient",
    "apis": ["decoda"],
    "steps": [{"name": "zia", "call": "POST /user/patient/create", "body": {"firstName": "Zia"}}],
}
# A file that names no earlier step, and one whose bodies their operation's spec refuses.
UNREFERENCED = {
    "scenario": 1,
    "name": "unreferenced",
    "apis": ["decoda"],
    "steps": [{"call": "GET /user/patient/${nobody.id}"}, {"call": "GET /user/patient/${x}"}],
}
BAD = {
    "scenario": 1,
    "name": "bad-bodies",
    "apis": ["decoda"],
    "steps": [
        {"call": "POST /user/patient/create", "body": {"firstName": 7}},
        {"call": "POST /user/patient/create", "body": {"lastName": ["Rivera"]}},
    ],
}
# Valid, but its second step is refused by the vendor when it runs.
FAILS = {
    "scenario": 1,
    "name": "fails-at-its-charge",
    "apis": ["decoda"],
    "steps": [
        {"name": "ada", "call": "POST /user/patient/create", "body": {"firstName": "Ada"}},
        {
            "name": "charge",
            "call": "POST /billing/payment-terminal/charge/create",
            "body": {"patientId": "pat_nobody", "totalOutstanding": 500},
        },
    ],
}


def write(folder: Path, scenario: dict[str, Any]) -> Path:
    path = folder / f"{scenario['name']}.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False))
    return path


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another socket listens on: a server whose start went on would stop at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


# ---- scenario check ----


def test_a_good_file_and_every_shipped_pack_check_clean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path, GOOD)
    packs = [str(path) for path in catalogue().values()]
    assert main(["scenario", "check", str(good), *packs]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{good}: ok (one-patient, 1 step to run)"
    assert len(out) == 1 + len(packs)
    assert all(": ok (" in line for line in out)


def test_each_problem_is_a_line_naming_the_file_and_the_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = write(tmp_path, GOOD), write(tmp_path, BAD)
    unreferenced = write(tmp_path, UNREFERENCED)
    assert main(["scenario", "check", str(good), str(bad), str(unreferenced)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{good}: ok (one-patient, 1 step to run)"
    places = [line.split(": ")[:2] for line in out[1:]]
    assert places == [
        [str(bad), "steps[0].body.firstName"],
        [str(bad), "steps[1].body.lastName"],
        [str(unreferenced), "steps[0].call"],
        [str(unreferenced), "steps[1].call"],
    ]


def test_a_file_that_is_not_yaml_is_a_problem_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("scenario: 1\nname: [unclosed\n")
    assert main(["scenario", "check", str(broken)]) == 1
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{broken}: ")


def test_a_file_that_cannot_be_read_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path, GOOD)
    assert main(["scenario", "check", str(good), str(tmp_path / "missing.yaml")]) == 2
    said = capsys.readouterr()
    missing = tmp_path / "missing.yaml"
    assert said.err == f"billing-sandbox: {missing}: cannot be read (No such file or directory)\n"
    assert said.out.startswith(f"{good}: ok")


def test_check_needs_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["scenario", "check"])
    assert exited.value.code == 2
    assert "FILE" in capsys.readouterr().err


# ---- scenario record ----


def test_a_recorded_tenant_is_written_as_a_file_that_checks_and_rebuilds_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve(Settings(records=5)) as running:
        source = running.tenant("recorded")
        made = httpx.post(f"{running.url}/user/patient/create", json={"firstName": "Kept"},
                          headers=source.decoda_headers)  # fmt: skip
        assert made.status_code == 200, made.text
        out = tmp_path / "kept.yaml"
        assert main(["scenario", "record", "--base-url", running.url, "--tenant", "recorded",
                     "-o", str(out)]) == 0  # fmt: skip
        assert capsys.readouterr().out.startswith(f"wrote {out}: 1 step from tenant recorded")
        assert main(["scenario", "check", str(out)]) == 0
        # Applied to the tenant made afresh, it makes the same patient again.
        source.reset()
        patient = f"{running.url}/user/patient/{made.json()['id']}"
        assert httpx.get(patient, headers=source.decoda_headers).status_code == 404
        assert source.apply_scenario(out)["steps"] == 1
        again = httpx.get(patient, headers=source.decoda_headers)
        assert again.json()["firstName"] == "Kept"


def test_record_writes_to_standard_output_with_a_dash(capsys: pytest.CaptureFixture[str]) -> None:
    with serve(Settings(records=5)) as running:
        tenant = running.tenant("to-stdout")
        httpx.post(f"{running.url}/user/patient/create", json={"firstName": "Out"},
                   headers=tenant.decoda_headers)  # fmt: skip
        argv = ["scenario", "record", "--base-url", running.url, "--tenant", "to-stdout", "-o", "-"]
        assert main(argv) == 0
    recorded = yaml.safe_load(capsys.readouterr().out)
    assert recorded["steps"][0]["body"]["firstName"] == "Out"


def test_record_names_the_file_after_the_scenario_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    with serve(Settings(records=5)) as running:
        tenant = running.tenant("clinic-a.test")
        httpx.post(f"{running.url}/user/patient/create", json={"firstName": "Named"},
                   headers=tenant.decoda_headers)  # fmt: skip
        argv = ["scenario", "record", "--base-url", running.url, "--tenant", "clinic-a.test"]
        assert main(argv) == 0
    written = yaml.safe_load((tmp_path / "clinic-a-test.yaml").read_text())
    assert written["name"] == "clinic-a-test"
    assert capsys.readouterr().out.startswith("wrote clinic-a-test.yaml: 1 step from tenant")


def test_record_says_in_one_line_what_the_sandbox_answered(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with serve(Settings(records=5)) as running:
        argv = ["scenario", "record", "--base-url", running.url, "--tenant", "untouched", "-o", "-"]
        assert main(argv) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(
        f"billing-sandbox: {running.url}/_sandbox/tenants/untouched/scenario answered 404: "
    )


def test_record_says_when_nothing_answers(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, never listening
        assert main(["scenario", "record", "--base-url", url, "--tenant", "t"]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"billing-sandbox: no sandbox answers at {url}")


# ---- serve --scenario ----


def test_serve_applies_start_scenarios_each_to_its_tenant(tmp_path: Path) -> None:
    good = write(tmp_path, GOOD)
    flags = ["--scenario", str(good), "--scenario", f"{good}@elsewhere"]
    flags += ["--scenario", "decoda-front-desk-day@desk"]
    with serving("--records", "5", *flags) as (base, server):
        assert server.stdout is not None
        banner = list(iter(server.stdout.readline, "Press Ctrl+C to stop.\n"))
        applied = [line.strip() for line in banner if line.startswith("  scenario ")]
        assert applied[:2] == [
            "scenario   one-patient applied to tenant one-patient (1 step)",
            "scenario   one-patient applied to tenant elsewhere (1 step)",
        ]
        assert applied[2].startswith("scenario   decoda-front-desk-day applied to tenant desk (")
        for tenant in ("one-patient", "elsewhere"):
            found = httpx.get(f"{base}/_sandbox/tenants/{tenant}/records/decoda",
                              params={"kind": "patients", "q": "Zia"}).json()  # fmt: skip
            assert found["total"] == 1, tenant
        held = httpx.get(f"{base}/_sandbox/tenants").json()["tenants"]
        assert {"one-patient", "elsewhere", "desk"} <= {t["id"] for t in held}


def test_a_restart_on_a_state_file_keeps_the_tenant_a_start_scenario_made(tmp_path: Path) -> None:
    good = write(tmp_path, GOOD)
    flags = ("--state-file", str(tmp_path / "state.json"), "--scenario", f"{good}@kept")
    headers = {"TENANT": "kept", "API-KEY": "any"}
    search = {"kind": "patients", "q": "Zia"}
    with serving(*flags) as (base, server):
        made = httpx.post(
            f"{base}/user/patient/create", json={"firstName": "Later"}, headers=headers
        )
        assert made.status_code == 200, made.text
        server.terminate()
        server.wait(timeout=15)
    with serving(*flags) as (base, server):
        assert server.stdout is not None
        banner = list(iter(server.stdout.readline, "Press Ctrl+C to stop.\n"))
        assert any("tenant kept kept as the state file holds it" in line for line in banner)
        # The write made after the scenario survived, and the scenario was not applied twice.
        later = httpx.get(f"{base}/user/patient/{made.json()['id']}", headers=headers)
        assert later.status_code == 200, later.text
        found = httpx.get(f"{base}/_sandbox/tenants/kept/records/decoda", params=search).json()
        assert found["total"] == 1, found


def test_a_start_scenario_that_fails_stops_the_start_in_one_line_naming_the_step(
    tmp_path: Path, taken_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    fails = write(tmp_path, FAILS)
    assert main(["serve", "--port", str(taken_port), "--quiet", "--scenario", f"{fails}@acme"]) == 2
    said = capsys.readouterr()
    assert said.out == ""  # no banner: it never served
    [line] = said.err.splitlines()
    assert line.startswith(
        "billing-sandbox: scenario fails-at-its-charge on tenant acme: step 1 (steps[1], named "
        "'charge') failed: POST /billing/payment-terminal/charge/create answered 404"
    )


@pytest.mark.parametrize(
    ("given", "says"),
    [
        (
            "decoda-overdue",
            "scenario decoda-overdue: no scenario pack is named 'decoda-overdue'; the packs are: ",
        ),
        (
            "nowhere/missing.yaml",
            "scenario nowhere/missing.yaml: nowhere/missing.yaml cannot be read",
        ),
    ],
)
def test_a_start_scenario_that_cannot_be_found_stops_the_start(
    given: str, says: str, taken_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--port", str(taken_port), "--scenario", given]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"billing-sandbox: {says}")


def test_an_invalid_start_scenario_names_its_problem(
    tmp_path: Path, taken_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path, BAD)
    assert main(["serve", "--port", str(taken_port), "--scenario", str(bad)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    said = "billing-sandbox: scenario bad-bodies on tenant bad-bodies: steps[0].body.firstName: "
    assert line.startswith(said)
    assert "steps[1].body.lastName: " in line  # every problem, in one line


def test_the_start_scenarios_come_from_their_variables_too(
    tmp_path: Path, taken_port: int, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    write(tmp_path, FAILS)
    monkeypatch.setenv("BILLING_SANDBOX_SCENARIOS_DIR", str(tmp_path))
    monkeypatch.setenv("BILLING_SANDBOX_SCENARIOS", "fails-at-its-charge@acme")
    assert main(["serve", "--port", str(taken_port)]) == 2
    assert "scenario fails-at-its-charge on tenant acme: step 1" in capsys.readouterr().err


def test_reset_every_without_start_scenarios_exits_2(
    taken_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--port", str(taken_port), "--reset-every", "24h"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "resets the tenants of the start scenarios, and none is given" in line


def test_a_reset_every_flag_it_cannot_read_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--scenario", "x", "--reset-every", "daily"])
    assert exited.value.code == 2
    assert "argument --reset-every: must be a period such as 24h" in capsys.readouterr().err
