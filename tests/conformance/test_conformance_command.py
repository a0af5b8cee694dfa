"""`billing-sandbox conformance`: 0 on the sandbox, 1 on a drifted server, 2 when it cannot run.

Runs are kept small (a few operations, 5 examples) so the module takes seconds, not minutes;
the full fuzzing of each API is test_*_fuzz.py's job.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from billing_sandbox.conformance import main
from billing_sandbox.conformance.answers import expected_statuses
from billing_sandbox.conformance.apis import APIS
from billing_sandbox.conformance.command import is_loopback
from billing_sandbox.conformance.runner import Plan, command, config_text
from billing_sandbox.settings import Settings
from tests.conformance.drifted import DRIFTS, LABELS, serve_drifted
from tests.support.live import live_server
from tests.support.processes import serving

SECRET = "s3cret-never-shown"
ENV = {
    "BILLING_SANDBOX_CONFORMANCE_CANDID_CLIENT_SECRET": SECRET,
    "BILLING_SANDBOX_CONFORMANCE_DECODA_API_KEY": SECRET,
    "BILLING_SANDBOX_CONFORMANCE_MYCURE_PASSWORD": SECRET,
}
CREDENTIALS = [
    "--candid-client-id",
    "conformance-cmd",
    "--decoda-tenant",
    "conformance-cmd",
    "--mycure-email",
    "cmd@conformance-cmd.test",
]
SMALL = ["--max-examples", "5", "--seed", "20261121"]


def conformance(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    out = io.StringIO()
    code = main([*args, *CREDENTIALS, *SMALL], environ=ENV if env is None else env, out=out)
    return code, out.getvalue()


def only(*operation_ids: str) -> list[str]:
    return [arg for op in operation_ids for arg in ("--include-operation-id", op)]


@pytest.mark.fuzz  # a whole schemathesis run: the fuzz step's
def test_the_sandbox_conforms_with_a_junit_report_and_no_secret_anywhere(tmp_path: Path) -> None:
    with live_server() as url:
        code, output = conformance(
            "--api", "decoda", "--base-url", url, "--report-dir", str(tmp_path),
            *only("createPatientV1", "getPatientV1", "getCharge"),
        )  # fmt: skip
    assert code == 0, output
    assert output.rstrip().endswith("conforms")
    # createPatientV1 → getPatientV1 is a link: the stateful phase ran.
    assert "stateful on" in output
    assert "POST /v1/patient/create" in output
    assert "response_schema_conformance" in output
    junit = (tmp_path / "junit.xml").read_text()
    assert "<testsuite" in junit
    for report in (output, *(p.read_text() for p in tmp_path.iterdir())):
        assert SECRET not in report


# A one-letter secret (the sandbox accepts any non-empty one), JSON keywords, and field names
# of the events: masking them must leave every report readable, and the run's verdict intact.
@pytest.mark.fuzz  # a whole schemathesis run: the fuzz step's
@pytest.mark.parametrize("secret", ["e", "true"])
def test_a_secret_that_is_short_or_a_json_word_leaves_the_reports_whole(
    secret: str, tmp_path: Path
) -> None:
    env = {"BILLING_SANDBOX_CONFORMANCE_CANDID_CLIENT_SECRET": secret}
    with live_server() as url:
        code, output = conformance(
            "--api", "candid", "--base-url", url, "--report-dir", str(tmp_path),
            *only("getWriteOffs"), env=env,
        )  # fmt: skip
    assert code == 0, output
    assert "Traceback" not in output
    assert output.rstrip().endswith("conforms")
    events = (tmp_path / "events.ndjson").read_text().splitlines()
    assert events and all(isinstance(json.loads(line), dict) for line in events)
    report = ElementTree.parse(tmp_path / "junit.xml")  # noqa: S314 (our own run's report)
    assert report.getroot().tag == "testsuites"


WEBHOOK_WRITES = ("createWebhook", "updateWebhook")


@pytest.mark.fuzz  # a whole schemathesis run: the fuzz step's
def test_the_shipped_answers_accept_the_webhook_host_rule() -> None:
    """A webhook URL with a public host (or none) is Decoda's documented 422: with no other
    flag, the command expects it rather than calling the sandbox non-conforming."""
    with live_server() as url:
        code, output = conformance("--api", "decoda", "--base-url", url, *only(*WEBHOOK_WRITES))
    assert code == 0, output
    assert output.rstrip().endswith("conforms")


@pytest.mark.fuzz  # a whole schemathesis run: the fuzz step's
def test_expected_statuses_replace_an_operations_shipped_answers() -> None:
    """`ID=` takes the shipped 422 away: the same run then finds the webhook host rule's
    answers unexpected, which shows that the shipped answers are what accepted them."""
    with live_server() as url:
        code, output = conformance(
            "--api", "decoda", "--base-url", url, *only(*WEBHOOK_WRITES),
            "--expected-statuses", "createWebhook=", "--expected-statuses", "updateWebhook=409,5xx",
        )  # fmt: skip
    assert code == 1, output
    assert "createWebhook: business-rule statuses none (--expected-statuses)" in output
    assert "updateWebhook: business-rule statuses 409, 5xx (--expected-statuses)" in output
    verdict = output.rstrip().splitlines()[-1]
    assert verdict.startswith("does not conform:")
    assert "POST /webhook/decoda/create" in verdict
    assert "PUT /webhook/decoda/update/{webhook_id}" in verdict
    assert "positive_data_acceptance (ST202 Schema-valid request rejected)" in output


@pytest.mark.parametrize(
    ("flag", "problem"),
    [
        ("createWebhook", "is not ID=STATUS,..."),
        ("createWebhook=42", "is not ID=STATUS,..."),
        ("=422", "is not ID=STATUS,..."),
    ],
)
def test_a_malformed_expected_status_is_refused_by_the_parser(
    flag: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        conformance(
            "--api", "decoda", "--base-url", "http://127.0.0.1:9", "--expected-statuses", flag
        )
    assert exited.value.code == 2
    assert problem in capsys.readouterr().err


def test_expected_statuses_for_an_unknown_operation_cannot_run() -> None:
    code, output = conformance(
        "--api", "mycure", "--base-url", "http://127.0.0.1:9",
        "--expected-statuses", "createWebhook=422",
    )  # fmt: skip
    assert code == 2
    assert "cannot run: no operation createWebhook in mycure-billing-soas.yaml" in output


@pytest.mark.fuzz
def test_with_no_other_flag_the_sandbox_conforms_to_each_of_its_specs() -> None:
    """`billing-sandbox conformance --api API --base-url SANDBOX` and the API's credentials,
    every operation, stateful on: the shipped answers (answers.py) hold the sandbox's business
    rules. One example per operation and phase keeps it to about 80 s (the coverage phase,
    whose cases do not depend on it, is most of that), hence the fuzz step of CI."""
    with live_server() as url:
        for api in sorted(APIS):
            out = io.StringIO()
            bounded = ["--max-examples", "1", "--seed", "20261121"]
            code = main(["--api", api, "--base-url", url, *CREDENTIALS, *bounded], ENV, out)
            assert code == 0, out.getvalue()
            assert "stateful on" in out.getvalue()
            assert out.getvalue().rstrip().endswith("conforms")


def test_any_failure_is_exit_2_with_a_message_never_a_traceback(tmp_path: Path) -> None:
    """A report directory that cannot be written is no `CannotRun` the command foresaw."""
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    with live_server() as url:
        code, output = conformance(
            "--api", "candid", "--base-url", url, "--report-dir", str(blocked / "report"),
            *only("getWriteOffs"),
        )  # fmt: skip
    assert code == 2, output
    assert "billing-sandbox conformance: cannot run:" in output
    assert SECRET not in output


@pytest.mark.fuzz  # a whole schemathesis run: the fuzz step's
def test_a_drifted_server_fails_naming_each_operation_and_the_check_that_caught_it() -> None:
    with serve_drifted() as url:
        code, output = conformance(
            "--api", "decoda", "--base-url", url, "--no-stateful",
            *only(*DRIFTS, "getCharge"),
        )  # fmt: skip
    assert code == 1, output
    verdict = output.rstrip().splitlines()[-1]
    for operation_id, check in DRIFTS.items():
        assert LABELS[operation_id] in verdict
        assert f"{LABELS[operation_id]}: {check}" in output
    # The one operation that did not drift is not blamed.
    assert "GET /billing/charge/get/{id}:" not in output
    assert "GET /billing/charge/get/{id}" not in verdict
    # Each failure comes with a request to reproduce it, the API key masked.
    assert "reproduce: curl -X GET -H 'API-KEY: [masked]' -H 'TENANT: conformance-cmd'" in output
    assert "differs:   Received: 203" in output
    assert 'differs:   "firstName" is a required property' in output
    assert SECRET not in output


def test_an_unreachable_server_cannot_run() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, never listening
    code, output = conformance("--api", "decoda", "--base-url", url)
    assert code == 2
    assert f"cannot run: cannot reach {url}" in output


@pytest.mark.parametrize("api", ["candid", "decoda", "mycure"])
def test_refused_credentials_cannot_run(api: str, tmp_path: Path) -> None:
    listed = tmp_path / "credentials.yaml"
    listed.write_text(
        "candid: [{client_id: conformance-cmd, client_secret: right}]\n"
        "decoda: [{tenant_header: conformance-cmd, api_key: right}]\n"
        "mycure: [{email: cmd@conformance-cmd.test, password: right}]\n"
    )
    with live_server(Settings(credentials_file=listed)) as url:
        code, output = conformance("--api", api, "--base-url", url)
    assert code == 2, output
    assert "refused" in output
    assert SECRET not in output


def test_missing_credentials_cannot_run() -> None:
    code, output = conformance("--api", "mycure", "--base-url", "http://127.0.0.1:9", env={})
    assert code == 2
    assert "MYCURE needs --mycure-email and a password" in output


def test_off_loopback_it_says_it_is_read_only_before_anything_else() -> None:
    code, output = conformance("--api", "mycure", "--base-url", "http://sandbox.invalid")
    assert code == 2
    first_lines = output.splitlines()[:3]
    assert (
        "read-only: http://sandbox.invalid is not on loopback, so only GET operations run"
        in (first_lines[1])
    )
    assert "cannot reach http://sandbox.invalid" in output


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8000", True),
        ("http://localhost:8000", True),
        ("http://[::1]:8000", True),
        ("https://api.joincandidhealth.com", False),
        ("http://10.0.0.5:8000", False),
    ],
)
def test_loopback_is_decided_from_the_url_alone(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback


def test_a_read_only_run_sends_no_undeclared_method_probes(tmp_path: Path) -> None:
    plan = Plan(
        api=APIS["candid"],
        spec=Settings().specs_dir / APIS["candid"].spec_file,
        base_url="https://api.example.test",
        operation_ids=("getWriteOffs", "getWriteOff"),
        expected_statuses=expected_statuses("candid"),
        max_examples=5,
        seed=None,
        stateful=False,
        read_only=True,
        rate_limit="10/s",
        report_dir=tmp_path,
    )
    config = config_text(plan)
    assert "unexpected-methods = []" in config
    # The credential is a reference to the environment, never its value.
    assert 'bearer = "${BILLING_SANDBOX_CONFORMANCE_AUTH_BEARERAUTH}"' in config
    args = command(Path("st"), plan, tmp_path / "c.toml")
    assert args[args.index("--rate-limit") + 1] == "10/s"
    assert args[args.index("--phases") + 1] == "examples,coverage,fuzzing"
    assert [args[i + 1] for i, a in enumerate(args) if a == "--include-operation-id"] == [
        "getWriteOffs",
        "getWriteOff",
    ]


@pytest.mark.fuzz  # a whole schemathesis run: the fuzz step's
def test_the_command_line_against_a_sandbox_process_exits_0(tmp_path: Path) -> None:
    """Both ends as a user runs them: `billing-sandbox serve` and `billing-sandbox conformance`
    as processes, the secret in the environment."""
    with serving() as (url, _):
        check = [
            sys.executable, "-m", "billing_sandbox", "conformance", "--api", "mycure",
            "--base-url", url, "--mycure-email", "cli@conformance-cli.test",
            *SMALL, *only("findBillingSoas", "getBillingSoa"),
        ]  # fmt: skip
        done = subprocess.run(
            check, env={**os.environ, **ENV}, cwd=tmp_path, capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "conforms" in done.stdout
    assert SECRET not in done.stdout + done.stderr


def test_the_targets_are_the_served_apis_own_descriptors() -> None:
    from billing_sandbox.apis import VENDOR_APIS

    # One statement of each vendor fact: a renamed spec file or title reaches conformance.
    assert [(a.name, a.title, a.spec_file) for a in APIS.values()] == [
        (api.name, api.title, api.spec_file) for api in VENDOR_APIS
    ]


@pytest.mark.parametrize(("api", "scheme", "key"), [("candid", "BearerAuth", "bearer"),
                                                    ("decoda", "ApiKey", "api_key")])  # fmt: skip
def test_the_credentials_go_to_the_security_schemes_the_spec_declares(
    api: str, scheme: str, key: str, tmp_path: Path
) -> None:
    plan = Plan(
        api=APIS[api],
        spec=Settings().specs_dir / APIS[api].spec_file,
        base_url="http://127.0.0.1:1",
        operation_ids=(),
        max_examples=1,
        seed=None,
        stateful=False,
        read_only=True,
        rate_limit=None,
        report_dir=tmp_path,
        expected_statuses=expected_statuses(api),
    )
    assert f"[auth.openapi.{scheme}]\n{key} = " in config_text(plan)
