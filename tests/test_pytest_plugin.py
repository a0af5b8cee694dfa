"""The pytest plugin: its fixtures, used here directly, and its entry point, from outside."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from billing_sandbox.settings import Settings
from billing_sandbox.testing import (
    FaultRule,
    Faults,
    SandboxError,
    SandboxServer,
    SandboxTenant,
    SandboxTenantFactory,
    serve,
    tenant_id,
)
from tests.candid.helpers import patient_item

# `pytester` runs pytest in a temporary directory: how a project that installed us sees us.
pytest_plugins = ["pytester"]

SOA = {"facility": "5eb00000000000000000fa01", "type": "insurance-contract",
       "customer": "5eb00000000000000000cc01", "paymentTerms": 30}  # fmt: skip


@pytest.fixture
def http(billing_sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=billing_sandbox.url, timeout=10) as client:
        yield client


def test_decoda_records_belong_to_the_tenant_that_made_them(
    http: httpx.Client, sandbox_tenant: SandboxTenant, sandbox_tenant_factory: SandboxTenantFactory
) -> None:
    mine, other = sandbox_tenant.decoda_headers, sandbox_tenant_factory("other").decoda_headers
    made = http.post("/user/patient/create", json={"firstName": "Ada", "lastName": "Lovelace"},
                     headers=mine)  # fmt: skip
    assert made.status_code == 200
    path = f"/user/patient/{made.json()['id']}"
    assert http.get(path, headers=mine).json()["firstName"] == "Ada"
    unseen = http.get(path, headers=other)
    assert unseen.status_code == 404
    assert unseen.json() == {"detail": f"Patient {made.json()['id']} not found"}


def test_mycure_records_belong_to_the_tenant_that_made_them(
    http: httpx.Client, sandbox_tenant: SandboxTenant, sandbox_tenant_factory: SandboxTenantFactory
) -> None:
    mine, other = sandbox_tenant.mycure_headers(), sandbox_tenant_factory("other").mycure_headers()
    made = http.post("/billing-soas", json=SOA, headers=mine)
    assert made.status_code == 201
    path = f"/billing-soas/{made.json()['id']}"
    assert http.get(path, headers=mine).json() == made.json()
    unseen = http.get(path, headers=other)
    assert (unseen.status_code, unseen.json()["name"]) == (404, "NotFound")
    found = http.get("/billing-soas", params={"$limit": 1000}, headers=other).json()
    assert made.json()["id"] not in {soa["id"] for soa in found}


def test_candid_records_belong_to_the_tenant_that_made_them(
    http: httpx.Client, sandbox_tenant: SandboxTenant, sandbox_tenant_factory: SandboxTenantFactory
) -> None:
    mine, other = sandbox_tenant.candid_headers(), sandbox_tenant_factory("other").candid_headers()
    made = http.post("/api/write-offs/v1", json={"write_offs": [patient_item()]}, headers=mine)
    assert made.status_code == 200
    path = f"/api/write-offs/v1/{made.json()['write_offs'][0]['write_off_id']}"
    assert http.get(path, headers=mine).status_code == 200
    assert http.get(path, headers=other).status_code == 404


def test_one_tenant_id_names_the_tenant_in_all_three_apis(
    http: httpx.Client, sandbox_tenant: SandboxTenant
) -> None:
    account = http.post(
        "/authentication",
        json={"strategy": "local", "email": sandbox_tenant.mycure_email, "password": "any"},
    ).json()
    reference = sandbox_tenant.reference("mycure")
    assert account["uid"] in {a["uid"] for a in reference["accounts"]}
    assert sandbox_tenant.mycure_organisation == sandbox_tenant.candid_client_id
    assert sandbox_tenant.decoda_headers["TENANT"] == sandbox_tenant.id


def test_tenants_are_named_after_the_test_and_made_once_per_name(
    request: pytest.FixtureRequest,
    sandbox_tenant: SandboxTenant,
    sandbox_tenant_factory: SandboxTenantFactory,
) -> None:
    assert sandbox_tenant.id == tenant_id(request.node.nodeid)
    assert sandbox_tenant.id.startswith("test-tenants-are-named-after-the-test")
    assert sandbox_tenant_factory("") is sandbox_tenant
    assert sandbox_tenant_factory("b") is sandbox_tenant_factory("b")
    assert sandbox_tenant_factory("b").id != sandbox_tenant.id


def test_tenant_ids_are_stable_unique_and_valid_email_domains() -> None:
    node = "tests/test_x.py::test_" + "very_long_name_" * 10 + "[param/with spaces]"
    assert tenant_id(node) == tenant_id(node)
    assert len({tenant_id(node), tenant_id(node, "b"), tenant_id("tests/test_y.py::test_z")}) == 3
    label = tenant_id(node).removesuffix(".test")
    assert len(label) <= 63 and label == label.strip("-") and label.islower()
    assert tenant_id("tests/a.py::test_same") != tenant_id("tests/b.py::test_same")


def test_reset_empties_the_tenant(http: httpx.Client, sandbox_tenant: SandboxTenant) -> None:
    made = http.post("/billing-soas", json=SOA, headers=sandbox_tenant.mycure_headers())
    path = f"/billing-soas/{made.json()['id']}"
    sandbox_tenant.reset()
    assert http.get(path, headers=sandbox_tenant.mycure_headers()).status_code == 404


def test_a_tenant_id_must_be_usable_as_an_email_domain() -> None:
    with pytest.raises(ValueError, match="lower-case"):
        SandboxTenant("Acme", "http://127.0.0.1:1")


def test_a_refused_call_says_what_the_sandbox_answered(billing_sandbox: SandboxServer) -> None:
    tenant = billing_sandbox.tenant("x")
    with pytest.raises(SandboxError, match="answered 422"):
        SandboxTenant(tenant.id, tenant.base_url, candid_client_secret="").candid_token()


INNER = """
import sys


def test_a_test_without_the_fixtures_starts_nothing():
    assert "billing_sandbox.app" not in sys.modules


def test_the_fixtures(billing_sandbox, sandbox_tenant, sandbox_tenant_factory):
    import httpx

    assert billing_sandbox.settings.seed == 7
    other = sandbox_tenant_factory("other")
    with httpx.Client(base_url=billing_sandbox.url) as http:
        made = http.post("/user/patient/create", headers=sandbox_tenant.decoda_headers,
                         json={"firstName": "Ada", "lastName": "Lovelace"}).json()
        path = "/user/patient/" + made["id"]
        assert http.get(path, headers=sandbox_tenant.decoda_headers).status_code == 200
        assert http.get(path, headers=other.decoda_headers).status_code == 404
        assert http.get("/billing-soas", headers=other.mycure_headers()).status_code == 200
        assert http.get("/api/write-offs/v1", headers=other.candid_headers()).status_code == 200
"""


def test_the_entry_point_gives_a_project_the_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(INNER)
    result = pytester.runpytest_subprocess("-W", "error", "--billing-sandbox-seed", "7")
    result.assert_outcomes(passed=2)
    assert not list(pytester.path.glob("**/*.json"))  # no pact is written unless asked for


def test_a_running_sandbox_is_used_with_its_control_token(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(Settings(control_token="s3cret")) as running:
        with pytest.raises(SandboxError, match="answered 401"):
            SandboxTenant("anyone", running.url).reset()  # no token: the control API refuses
        # The plugin reads the token as the server does; it needs it to empty each tenant.
        monkeypatch.setenv("BILLING_SANDBOX_CONTROL_TOKEN", "s3cret")
        pytester.makeini(f"[pytest]\nbilling_sandbox_url = {running.url}/\n")
        pytester.makepyfile(f"""
            def test_it(billing_sandbox, sandbox_tenant):
                assert billing_sandbox.url == "{running.url}"
                assert billing_sandbox.settings is None
                sandbox_tenant.candid_headers()
                assert sandbox_tenant.clock.freeze().frozen
                assert billing_sandbox.control.faults.rules() == []
        """)
        pytester.runpytest_subprocess("-W", "error").assert_outcomes(passed=1)


def test_a_seed_for_a_running_sandbox_is_refused(
    pytester: pytest.Pytester, billing_sandbox: SandboxServer
) -> None:
    pytester.makepyfile("def test_it(billing_sandbox):\n    pass\n")
    args = ("--billing-sandbox-url", billing_sandbox.url, "--billing-sandbox-seed", "1")
    result = pytester.runpytest(*args)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*--billing-sandbox-seed seeds a sandbox the plugin starts*"])


def test_a_running_sandbox_is_used_without_importing_the_server(
    pytester: pytest.Pytester, billing_sandbox: SandboxServer
) -> None:
    """The route for a project with its own Faker: the sandbox runs as a tool in its own
    environment, and the plugin (installed `--no-deps`) reaches it by URL. Then the plugin
    imports neither Faker nor the server stack, so neither needs to be installed."""
    pytester.makepyfile("""
        import sys

        # Faker itself may be loaded by its own pytest plugin; the sandbox's seeding, the only
        # importer of Faker here, must not be.
        SERVER_STACK = ("billing_sandbox.sandbox", "billing_sandbox.app", "starlette", "uvicorn")

        def test_it(billing_sandbox, sandbox_tenant):
            import httpx

            sandbox_tenant.candid_headers()
            sandbox_tenant.mycure_headers()
            with sandbox_tenant.snapshot(), sandbox_tenant.faults.injected(status=500):
                sandbox_tenant.clock.advance(60)
                charge = httpx.get(billing_sandbox.url + "/billing/charge/get/chg_sandbox_0001",
                                   headers=sandbox_tenant.decoda_headers)
                assert charge.status_code == 500
            assert sandbox_tenant.journal.wait_for(operation_id="getCharge").status == 500
            assert [name for name in SERVER_STACK if name in sys.modules] == []
    """)
    result = pytester.runpytest_subprocess(
        "-W", "error", "--billing-sandbox-url", billing_sandbox.url
    )
    result.assert_outcomes(passed=1)


def test_a_tenant_starts_empty_on_a_sandbox_that_outlived_its_last_run(
    pytester: pytest.Pytester, billing_sandbox: SandboxServer
) -> None:
    """The same test gets the same tenant id on every run: the plugin empties it of what the
    last run left there (records, fault rules, journal entries, a moved clock)."""
    inner = pytester.makepyfile("""
        import httpx

        def test_it(billing_sandbox, sandbox_tenant, request):
            leave = request.config.getoption("--leave")
            assert sandbox_tenant.faults.rules() == []
            assert sandbox_tenant.journal.query().entries == []
            assert not sandbox_tenant.clock.state().frozen
            if leave:
                # Past the fixtures' clients, whose rules go after each test: as a run that
                # was killed midway leaves them.
                httpx.post(billing_sandbox.url + "/_sandbox/faults",
                           json={"match": {"tenant": sandbox_tenant.id}, "effect": {"status": 500}})
                sandbox_tenant.clock.freeze()
                httpx.get(billing_sandbox.url + "/billing/charge/list",
                          headers=sandbox_tenant.decoda_headers)
    """)
    pytester.makeconftest(
        "def pytest_addoption(parser):\n    parser.addoption('--leave', action='store_true')\n"
    )
    url = ("--billing-sandbox-url", billing_sandbox.url)
    faults = billing_sandbox.tenant(tenant_id(f"{inner.name}::test_it")).faults
    pytester.runpytest(*url, "--leave").assert_outcomes(passed=1)
    assert [rule.effect for rule in faults.rules()] == [{"status": 500}]
    pytester.runpytest(*url).assert_outcomes(passed=1)
    assert faults.rules() == []


TWO_TESTS = """
    def test_one(sandbox_tenant):
        pass

    def test_two(billing_sandbox):
        pass
"""


def test_a_refused_control_token_ends_the_session_at_the_start_saying_401(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(Settings(control_token="s3cret")) as running:
        monkeypatch.setenv("BILLING_SANDBOX_CONTROL_TOKEN", "wrong")
        pytester.makepyfile(TWO_TESTS)
        result = pytester.runpytest_subprocess("--billing-sandbox-url", running.url)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    said = [line for line in (*result.outlines, *result.errlines) if "billing-sandbox:" in line]
    assert len(said) == 1, result.outlines
    assert f"GET {running.url}/_sandbox/faults answered 401" in said[0]
    assert "set BILLING_SANDBOX_CONTROL_TOKEN to the token the sandbox" in said[0]
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_an_unreachable_url_ends_the_session_once_in_one_line(pytester: pytest.Pytester) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, never listening
        pytester.makepyfile(TWO_TESTS)
        result = pytester.runpytest_subprocess("--billing-sandbox-url", url)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    said = [line for line in (*result.outlines, *result.errlines) if url in line]
    assert len(said) == 1, output
    assert f"billing-sandbox: no sandbox answers at {url} (ConnectError" in said[0]
    advice = "start the sandbox there (billing-sandbox serve) or correct --billing-sandbox-url"
    assert advice in said[0]
    # No test ran, so none reports an error of its own, with or without a traceback.
    assert "no tests ran" in output
    for noise in ("Traceback", "ERROR at setup", "SandboxError"):
        assert noise not in output


# An operation no other test calls: the inner test's whole-server rules match it.
INNER_MARK = "sendWebhookDeliveryV1"


def inner_rules(faults: Faults) -> list[FaultRule]:
    """The rules the inner test below adds: on its operation, or matching one of its tenants."""
    return [
        rule
        for rule in faults.rules()
        if rule.match.get("operationId") == INNER_MARK
        or rule.match.get("tenant", "").startswith("test-adds-rules")
    ]


def test_the_fault_rules_a_test_added_are_removed_after_it_and_only_those(
    pytester: pytest.Pytester, billing_sandbox: SandboxServer
) -> None:
    """On a shared sandbox: the rules a test added through the fixtures go after it, its
    tenants' and whole-server ones alike; a rule someone else added stays, and so does one
    a fixture of a wider scope added."""
    pytester.makepyfile(f"""
        import pytest

        MARK = "{INNER_MARK}"

        @pytest.fixture(scope="module")
        def outage(billing_sandbox):
            with billing_sandbox.tenant("module-outage.test").faults.injected(status=503) as rule:
                yield rule

        def test_adds_rules(billing_sandbox, sandbox_tenant, sandbox_tenant_factory, outage):
            sandbox_tenant.faults.add(status=500)
            sandbox_tenant_factory("b").faults.add(status=503, count=1)
            billing_sandbox.control.faults.add(operation_id=MARK, status=502)  # every tenant's
            billing_sandbox.tenant("elsewhere.test").faults.add(operation_id=MARK, status=504)

        def test_the_next_test_finds_none_of_them(billing_sandbox, outage):
            rules = billing_sandbox.control.faults.rules()
            assert outage in rules
            for rule in rules:
                assert rule.match.get("operationId") != MARK
                assert not rule.match.get("tenant", "").startswith("test-adds-rules")
    """)
    faults = billing_sandbox.control.faults
    with faults.injected(tenant="someone-elses.test", status=503) as theirs:
        try:
            result = pytester.runpytest_subprocess("--billing-sandbox-url", billing_sandbox.url)
            assert inner_rules(faults) == []
            assert theirs in faults.rules()
            result.assert_outcomes(passed=2)
        finally:
            for rule in inner_rules(faults):  # left by a plugin that did not remove them
                faults.remove(rule)


# ---- scenarios: `sandbox_tenant.apply_scenario(…)` and `@pytest.mark.scenario(…)` ----

ZIA: dict[str, Any] = {
    "scenario": 1,
    "name": "one-patient",
    "apis": ["decoda"],
    "steps": [{"name": "zia", "call": "POST /user/patient/create", "body": {"firstName": "Zia"}}],
}


def patients_named(tenant: SandboxTenant, name: str) -> int:
    found = tenant.control.server.connection.control(
        "GET", f"/tenants/{tenant.id}/records/decoda", params={"kind": "patients", "q": name}
    )
    total: int = found["total"]
    return total


def test_a_scenario_is_applied_by_mapping_file_or_pack_name(
    sandbox_tenant: SandboxTenant, tmp_path: Path
) -> None:
    applied = sandbox_tenant.apply_scenario(ZIA)
    assert (applied["tenant"], applied["steps"]) == (sandbox_tenant.id, 1)
    assert applied["named"]["zia"]["firstName"] == "Zia"
    # A file is read here (YAML; a bare date stays text) and sent whole.
    file = tmp_path / "born.yaml"
    file.write_text(
        "scenario: 1\nname: born\napis: [decoda]\nsteps:\n  - name: born\n"
        "    call: POST /user/patient/create\n"
        "    body: {firstName: Zia, dateOfBirth: 1986-12-09}\n"
    )
    born = sandbox_tenant.apply_scenario(file)
    assert born["named"]["born"]["dateOfBirth"].startswith("1986-12-09")
    assert sandbox_tenant.apply_scenario(str(file))["steps"] == 1
    assert patients_named(sandbox_tenant, "Zia") == 3
    assert sandbox_tenant.apply_scenario("decoda-front-desk-day")["steps"] > 10


def test_a_scenario_that_fails_raises_naming_the_step_and_changes_nothing(
    sandbox_tenant: SandboxTenant,
) -> None:
    failing = {**ZIA, "steps": [*ZIA["steps"], {"call": "GET /billing/charge/get/chg_nope"}]}
    before = sandbox_tenant.export_state()
    with pytest.raises(SandboxError) as raised:
        sandbox_tenant.apply_scenario(failing)
    assert raised.value.status == 422
    assert raised.value.message.startswith("StepFailed: step 1 (steps[1]) failed: GET ")
    assert raised.value.body["answer"]["status"] == 404
    assert sandbox_tenant.export_state() == before


def test_an_unknown_pack_or_unreadable_file_is_said_plainly(
    sandbox_tenant: SandboxTenant, tmp_path: Path
) -> None:
    with pytest.raises(SandboxError, match="no scenario pack is named 'no-such-pack'") as raised:
        sandbox_tenant.apply_scenario("no-such-pack")
    assert raised.value.status == 404
    with pytest.raises(ValueError, match="cannot read the scenario file"):
        sandbox_tenant.apply_scenario(tmp_path / "missing.yaml")


MARKED = """
    import pytest

    pytestmark = pytest.mark.scenario("one-patient.yaml")

    def count(tenant, name):
        found = tenant.control.server.connection.control(
            "GET", f"/tenants/{tenant.id}/records/decoda",
            params={"kind": "patients", "q": name})
        return found["total"]

    @pytest.mark.scenario("decoda-front-desk-day")
    def test_marked_by_module_and_by_name(sandbox_tenant):
        assert count(sandbox_tenant, "Zia") == 1
        assert sandbox_tenant.journal.query(operation_id="createPatient").entries

    def test_marked_by_module_only_through_the_factory(sandbox_tenant_factory):
        assert count(sandbox_tenant_factory(""), "Zia") == 1
        assert count(sandbox_tenant_factory("other"), "Zia") == 0

    @pytest.mark.scenario()
    def test_a_marker_without_a_scenario(sandbox_tenant):
        pass
"""


def test_the_scenario_marker_applies_to_the_tests_tenant_first(
    pytester: pytest.Pytester, billing_sandbox: SandboxServer
) -> None:
    pytester.makefile(".yaml", **{"one-patient": yaml.safe_dump(ZIA)})
    pytester.makepyfile(MARKED)
    result = pytester.runpytest("--billing-sandbox-url", billing_sandbox.url, "-W", "error")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*@pytest.mark.scenario takes the scenarios to apply*"])


def test_the_scenario_marker_is_registered_for_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(MARKED)
    result = pytester.runpytest("--strict-markers", "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.scenario(name_or_path, ...): apply these*"])


PACT_TESTS = """
import httpx
import pytest


@pytest.mark.scenario("decoda-front-desk-day")
def test_reads_charges(billing_sandbox, sandbox_tenant):
    got = httpx.get(billing_sandbox.url + "/billing/charge/list",
                    headers=sandbox_tenant.decoda_headers)
    assert got.status_code == 200


def test_reads_write_offs(billing_sandbox, sandbox_tenant):
    got = httpx.get(billing_sandbox.url + "/api/write-offs/v1",
                    headers=sandbox_tenant.candid_headers())
    assert got.status_code == 200


def test_fails_after_a_call(billing_sandbox, sandbox_tenant):
    httpx.get(billing_sandbox.url + "/billing/charge/get/chg_sandbox_0001",
              headers=sandbox_tenant.decoda_headers)
    assert False, "a failing test's calls are no part of the contract"
"""


def test_the_session_s_pacts_are_written_one_per_provider(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(PACT_TESTS)
    result = pytester.runpytest_subprocess(
        "--billing-sandbox-pacts", "pacts", "--billing-sandbox-pact-consumer", "front-desk"
    )
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["billing-sandbox: pacts written: *front-desk-*.json*"])
    folder = pytester.path / "pacts"
    assert sorted(p.name for p in folder.iterdir()) == [
        "front-desk-candid-write-offs.json",
        "front-desk-decoda-billing.json",
    ]
    decoda = json.loads((folder / "front-desk-decoda-billing.json").read_text())
    assert decoda["consumer"] == {"name": "front-desk"}
    [interaction] = decoda["interactions"]  # the failing test's call is not in it
    assert interaction["request"]["path"] == "/billing/charge/list"
    assert interaction["providerStates"] == [{"name": "decoda-front-desk-day", "params": {}}]
    assert interaction["comments"]["testname"].endswith("::test_reads_charges")
    # The plugin's sandbox keeps whole answers while it writes pacts: the body is expected.
    assert interaction["response"]["body"]["content"]


def test_a_consumer_name_that_cannot_name_a_file_ends_the_session(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(PACT_TESTS)
    result = pytester.runpytest_subprocess(
        "--billing-sandbox-pacts", "pacts", "--billing-sandbox-pact-consumer", "../up"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*billing-sandbox: a pact consumer name is*"])
