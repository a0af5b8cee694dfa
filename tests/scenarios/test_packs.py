"""The shipped packs (`scenarios/*.yaml`): each loads and checks against the specs, applies
cleanly to a fresh tenant through the app, leaves only records that its API serves within its
spec, and shows what docs/scenarios.md says a person will see after applying it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.applications import Starlette

from billing_sandbox.app import create_app, load_specs
from billing_sandbox.clock import ManualClock
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.scenarios import Applied, Applier, catalogue, check_scenario, load_scenario
from billing_sandbox.settings import Settings
from billing_sandbox.state.served import check_served

pytestmark = pytest.mark.anyio
# The docs' pytest example runs as a project of its own would run it.
pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
PACKS = sorted((ROOT / "scenarios").glob("*.yaml"))
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def pack_id(path: Path) -> str:
    return path.stem


async def applied_pack(pack: Path) -> tuple[Starlette, Applied]:
    app = create_app(Settings(), clock=ManualClock(NOW))
    scenario = load_scenario(pack)
    return app, await Applier(app).apply(scenario, scenario.name)


def test_each_api_has_two_packs_or_more() -> None:
    by_api = Counter(api for pack in PACKS for api in load_scenario(pack).apis)
    assert {api: by_api[api] >= 2 for api in ("candid", "decoda", "mycure")} == dict.fromkeys(
        ("candid", "decoda", "mycure"), True
    )


def test_the_catalogue_lists_every_pack_by_its_file_name() -> None:
    listed = catalogue([ROOT / "scenarios"])
    assert {name: path.resolve() for name, path in listed.items()} == {
        pack.stem: pack.resolve() for pack in PACKS
    }


@pytest.mark.parametrize("pack", PACKS, ids=pack_id)
def test_a_pack_loads_and_checks_against_the_specs(pack: Path) -> None:
    scenario = load_scenario(pack)
    assert scenario.name == pack.stem
    assert scenario.description
    assert [str(problem) for problem in check_scenario(scenario, load_specs(Settings()))] == []


@pytest.mark.parametrize("pack", PACKS, ids=pack_id)
async def test_a_pack_applies_to_a_fresh_tenant_and_every_record_is_served_within_its_spec(
    pack: Path,
) -> None:
    app, applied = await applied_pack(pack)
    scenario = load_scenario(pack)
    assert (applied.tenant, applied.steps) == (scenario.name, scenario.size)
    sandbox: Sandbox = app.state.sandbox
    tenant = sandbox.tenant(scenario.name)
    for api in ("candid", "decoda", "mycure"):
        kind = sandbox.kinds[api]
        assert kind.renderings is not None
        # Raises InvalidSnapshot naming the first record served outside its spec.
        check_served(api, kind.renderings(tenant.store(api)), sandbox.api_spec(api))
    async with client_of(app) as client:
        clock = (await client.get(f"/_sandbox/tenants/{scenario.name}/clock")).json()
        # Every pack ends with the clock running at today's time, as a demo needs.
        assert (clock["now"], clock["frozen"]) == (NOW.isoformat(), False)
        for api in scenario.apis:
            answer = await client.get(f"/_sandbox/tenants/{scenario.name}/records/{api}")
            assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("pack", PACKS, ids=pack_id)
async def test_a_pack_shows_what_the_docs_say(pack: Path) -> None:
    shows = SHOWS.get(pack.stem)
    if shows is None:
        pytest.fail(f"{pack.stem}: say in docs/scenarios.md and in SHOWS here what it shows")
    app, applied = await applied_pack(pack)
    async with client_of(app) as client:
        await shows(client, applied)


def test_the_docs_describe_every_pack() -> None:
    page = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
    assert [pack.stem for pack in PACKS if f"### {pack.stem}" not in page] == []


def test_the_docs_pytest_example_passes(pytester: pytest.Pytester) -> None:
    page = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
    [example] = [
        block.split("```", 1)[0]
        for block in page.split("```python\n")[1:]
        if "apply_scenario" in block.split("```", 1)[0]
    ]
    pytester.makepyfile(test_with_scenarios=example)
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


async def test_the_docs_example_of_the_format_checks_and_applies() -> None:
    page = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
    [example] = [
        block.split("```", 1)[0]
        for block in page.split("```yaml\n")[1:]
        if block.startswith("# yaml-language-server") and "scenario: 1" in block
    ]
    scenario = load_scenario(yaml.safe_load(example))
    assert check_scenario(scenario, load_specs(Settings())) == []
    app = create_app(Settings(), clock=ManualClock(NOW))
    applied = await Applier(app).apply(scenario, "acme")
    assert applied.steps == scenario.size == 10
    assert applied.named["visit"]["createdDate"] == days_ago(30)


# ---- what each pack shows ----------------------------------------------------------------


def client_of(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")


async def records(client: httpx.AsyncClient, tenant: str, api: str, kind: str, q: str) -> list[Any]:
    """Every record of a kind whose JSON holds `q`, as the records view serves them."""
    found: list[Any] = []
    while True:
        page = await client.get(
            f"/_sandbox/tenants/{tenant}/records/{api}",
            params={"kind": kind, "q": q, "limit": 100, "offset": len(found)},
        )
        assert page.status_code == 200, page.text
        body = page.json()
        found += body["records"]
        if len(found) >= body["total"]:
            return found


def days_ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat().replace("+00:00", "Z")


def ms_ago(days: float) -> int:
    return int((NOW - timedelta(days=days)).timestamp() * 1000)


async def decoda_overdue_clinic(client: httpx.AsyncClient, applied: Applied) -> None:
    tenant, named = applied.tenant, applied.named
    headers = {"TENANT": tenant, "API-KEY": "any"}

    async def charge(name: str) -> Any:
        found = await client.get(f"/billing/charge/get/{named[name]['id']}", headers=headers)
        assert found.status_code == 200, found.text
        return found.json()

    async def timeline(name: str) -> list[tuple[str, str]]:
        events = await client.get(
            "/billing/charge/timeline", params={"charge_id": named[name]["id"]}, headers=headers
        )
        return sorted((event["type"], event["status"]) for event in events.json())

    # Three balances nobody paid, 90, 75 and 60 days old.
    for name, owed, age in (("rivera_visit", 18500, 90), ("chen_visit", 9500, 75),
                            ("okafor_visit", 12000, 60)):  # fmt: skip
        shown = await charge(name)
        assert (shown["status"], shown["totalOutstanding"]) == ("OUTSTANDING", owed)
        assert named[name]["createdDate"] == days_ago(age)
    # The bounced check: the payment FAILED, the charge owes it all again.
    brooks = await charge("brooks_visit")
    assert (brooks["status"], brooks["totalOutstanding"]) == ("OUTSTANDING", 7500)
    assert ("FAILED_PAYMENT", "FAILED") in await timeline("brooks_visit")
    # The plan half paid: one installment taken, one to come.
    patel = await charge("patel_visit")
    assert (patel["status"], patel["totalOutstanding"]) == ("PAYMENT_PLAN", 12000)
    assert [e for e in await timeline("patel_visit") if e[0] == "SCHEDULED_PAYMENT"] == [
        ("SCHEDULED_PAYMENT", "COMPLETED"),
        ("SCHEDULED_PAYMENT", "SCHEDULED"),
    ]
    # The declined card: the first installment FAILED, nothing paid.
    nguyen = await charge("nguyen_visit")
    assert (nguyen["status"], nguyen["totalOutstanding"]) == ("PAYMENT_PLAN", 30000)
    assert [e for e in await timeline("nguyen_visit") if e[0] == "SCHEDULED_PAYMENT"] == [
        ("SCHEDULED_PAYMENT", "FAILED"),
        ("SCHEDULED_PAYMENT", "SCHEDULED"),
        ("SCHEDULED_PAYMENT", "SCHEDULED"),
    ]
    patients = await records(client, tenant, "decoda", "patients", "RFC-100")
    assert len(patients) == 6


async def decoda_front_desk_day(client: httpx.AsyncClient, applied: Applied) -> None:
    tenant, named = applied.tenant, applied.named
    copays = await records(client, tenant, "decoda", "charges", "Office visit copay")
    assert [c["status"] for c in copays] == ["EXTERNAL_SETTLEMENT"] * 10
    walk_ins = await records(client, tenant, "decoda", "patients", '"FD-')
    assert len(walk_ins) == 10 + 4
    by_id = {c["id"]: c for c in await records(client, tenant, "decoda", "charges", "")}
    assert by_id[named["harper_procedure"]["id"]]["status"] == "EXTERNAL_SETTLEMENT"
    assert by_id[named["mills_copay"]["id"]]["status"] == "EXTERNAL_SETTLEMENT"
    assert by_id[named["mills_copay_again"]["id"]]["status"] == "REFUNDED"
    assert by_id[named["soto_labs"]["id"]]["status"] == "EXTERNAL_SETTLEMENT"
    grant = by_id[named["grant_visit"]["id"]]
    assert (grant["status"], grant["total"], grant["totalOutstanding"]) == ("WRITE_OFF", 4700, 0)
    refunds = await records(client, tenant, "decoda", "refunds", days_ago(0)[:10])
    made_today = {(r["paymentId"], r["amount"], r["reason"]) for r in refunds}
    assert {
        (named["mills_paid_again"]["id"], 5000, "DUPLICATE"),
        (named["soto_check"]["id"], 1000, "OTHER"),
    } <= made_today
    # The day began nine hours before now: the first walk-in came then.
    assert named["harper"]["createdDate"] == (NOW - timedelta(hours=4)).isoformat()[:19] + "Z"


async def candid_token(client: httpx.AsyncClient, tenant: str) -> dict[str, str]:
    token = await client.post(
        "/api/auth/v2/token", json={"client_id": tenant, "client_secret": "any"}
    )
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


async def write_off(client: httpx.AsyncClient, headers: dict[str, str], answer: Any) -> Any:
    found = await client.get(
        f"/api/write-offs/v1/{answer['write_offs'][0]['write_off_id']}", headers=headers
    )
    assert found.status_code == 200, found.text
    return found.json()


async def candid_quarter_end(client: httpx.AsyncClient, applied: Applied) -> None:
    tenant, named = applied.tenant, applied.named
    headers = await candid_token(client, tenant)
    weekly = await records(client, tenant, "candid", "write-offs", "balance under $20 after")
    assert sorted(w["write_off_timestamp"] for w in weekly) == [
        days_ago(91 - 7 * week) for week in range(13)
    ]
    assert len(await records(client, tenant, "candid", "write-offs", ": contractual adj")) == 13
    assert "reverted_by_write_off_id" not in await write_off(client, headers, named["charity"])
    for name in ("charity_again", "wrong_claim"):
        reverted = await write_off(client, headers, named[name])
        assert reverted["reverted_by_write_off_id"], name
    trial = await write_off(client, headers, named["trial"])
    assert (trial["type"], trial["amount_cents"]) == ("non_insurance_payer", 15500)
    reversals = await records(client, tenant, "candid", "write-offs", "reverts_write_off_id")
    mine = {w["reverts_write_off_id"] for w in reversals}
    assert {
        named[n]["write_offs"][0]["write_off_id"] for n in ("charity_again", "wrong_claim")
    } <= mine


async def candid_payer_denials(client: httpx.AsyncClient, applied: Applied) -> None:
    tenant, named = applied.tenant, applied.named
    headers = await candid_token(client, tenant)
    appealed = await write_off(client, headers, named["necessity"])
    assert appealed["reverted_by_write_off_id"]
    for text, count in (("Denial CO-", 6), ("under the $25 threshold", 6),
                        ("benefit maximum reached", 6)):  # fmt: skip
        assert len(await records(client, tenant, "candid", "write-offs", text)) == count, text
    offset = await records(
        client, tenant, "candid", "write-offs",
        "Reverts insurance balance adjustment 5e1f0000-0000-4000-8000-000000000301",
    )  # fmt: skip
    assert [w["amount_cents"] for w in offset] == [-1500]
    reference = (await client.get(f"/_sandbox/tenants/{tenant}/reference/candid")).json()
    curated = {
        a["adjustment_id"]: a for a in reference["insurance_balance_adjustments"]
        if a["adjustment_id"].startswith("5e1f0000")
    }  # fmt: skip
    assert [a.get("reverted") for _, a in sorted(curated.items())] == [True, True]


def finalized(soa: Any) -> bool:
    return "finalizedAt" in soa


async def mycure_facility_month(client: httpx.AsyncClient, applied: Applied) -> None:
    tenant, named = applied.tenant, applied.named
    soas = {s["id"]: s for s in await records(client, tenant, "mycure", "billing-soas", "")}
    acme = soas[named["acme"]["id"]]
    assert finalized(acme) and "Paid in full" in acme["note"]
    assert acme["createdAt"] == ms_ago(30)
    weekly = await records(client, tenant, "mycure", "billing-soas", "SOA-HMO-W")
    assert [finalized(s) for s in weekly if "DRAFT" not in s["externalSOAId"]] == [True] * 3
    assert named["duplicate_copy"]["id"] not in soas
    assert "Paid by check" in soas[named["duplicate"]["id"]]["note"]
    fund = soas[named["fund"]["id"]]
    assert finalized(fund) and "Paid" not in fund["note"]
    drafts = await records(client, tenant, "mycure", "billing-soas", "being prepared")
    assert [finalized(s) for s in drafts] == [False, False]


async def mycure_hmo_open_statements(client: httpx.AsyncClient, applied: Applied) -> None:
    tenant, named = applied.tenant, applied.named
    sent = await records(client, tenant, "mycure", "billing-soas", "claims unit")
    assert sorted(s["createdAt"] for s in sent) == [ms_ago(90 - 15 * n) for n in range(5)]
    assert all(finalized(s) and "Paid" not in s["note"] for s in sent)
    assert sum(s["createdAt"] + 30 * 86_400_000 < ms_ago(0) for s in sent) == 4
    soas = {s["id"]: s for s in await records(client, tenant, "mycure", "billing-soas", "")}
    for name in ("paid", "fund"):
        assert finalized(soas[named[name]["id"]]) and "Paid" in soas[named[name]["id"]]["note"]
    [draft] = await records(client, tenant, "mycure", "billing-soas", "SOA-HMO-2600-DRAFT")
    assert not finalized(draft)


SHOWS: dict[str, Callable[[httpx.AsyncClient, Applied], Awaitable[None]]] = {
    "decoda-overdue-clinic": decoda_overdue_clinic,
    "decoda-front-desk-day": decoda_front_desk_day,
    "candid-quarter-end": candid_quarter_end,
    "candid-payer-denials": candid_payer_denials,
    "mycure-facility-month": mycure_facility_month,
    "mycure-hmo-open-statements": mycure_hmo_open_statements,
}
