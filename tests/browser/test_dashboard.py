"""The dashboard in a real browser: Debian's Chromium, headless, driven by Playwright, against
`billing-sandbox serve` run as a process on a free loopback port (`pytest -m browser`).

Each test writes a screenshot of what it saw under the run's temporary directory."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Dialog, Page, expect, sync_playwright

from billing_sandbox.ui.pages import PAGES
from tests.support.processes import serving
from tests.support.receiver import receiver

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
UI = "/_sandbox/ui"
DECODA = {"TENANT": "acme", "API-KEY": "any"}
SCRIPT = '<script>window.__pwned = 1</script>"><img src=x onerror="window.__pwned = 2">'


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"the browser tests need Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with serving("--records", "20") as (url, _):
        yield url


@pytest.fixture
def page(
    browser: Browser, base: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Page]:
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.set_default_timeout(5000)
    yield opened
    opened.screenshot(path=str(tmp_path / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert errors == [], errors  # no script error on any page


def test_every_page_answers_and_names_itself(page: Page) -> None:
    for path, _, title in PAGES:
        page.goto(UI + path)
        expect(page.locator("h1")).to_have_text(title)
        expect(page.locator('nav a[aria-current="page"]')).to_have_text(title)
    page.goto(UI + "/")
    expect(page.locator(".curl code").first).to_contain_text("curl -s -X POST http://127.0.0.1:")


def test_calls_appear_live_and_a_failure_shows_why(page: Page, base: str) -> None:
    page.goto(UI + "/requests")
    expect(page.locator("#live")).to_contain_text("live")
    assert httpx.get(f"{base}/billing/charge/list", headers=DECODA).status_code == 200
    bad = httpx.get(f"{base}/billing/charge/list?status=NOPE", headers=DECODA)
    assert bad.status_code == 422
    # Within 2 s, without a reload.
    rows = page.locator("#requests tbody tr")
    expect(rows.filter(has_text="/billing/charge/list").first).to_be_visible(timeout=2000)
    failing = page.locator('#requests tbody tr[data-status="422"]')
    expect(failing).to_have_count(1, timeout=2000)
    failing.get_by_role("button").click()
    expect(page.locator("#detail-problems")).to_contain_text("status")
    expect(page.locator("#detail-response")).to_contain_text("NOPE")
    # The filter for failures hides the success.
    page.get_by_label("only failures").check()
    expect(page.locator("#requests tbody tr:visible")).to_have_count(1)


def test_a_fault_added_in_the_form_fails_the_next_call_until_removed(page: Page, base: str) -> None:
    page.goto(UI + "/faults")
    form = page.locator("#add-fault")
    form.get_by_label("API").select_option("decoda")
    form.get_by_label("Operation").fill("listCharges")
    form.get_by_label("Tenant").fill("faulty")
    form.get_by_label("Effect").select_option("status")
    form.get_by_label("Status or milliseconds").fill("503")
    form.get_by_role("button", name="Add rule").click()
    expect(page.locator("#status")).to_contain_text("added")
    headers = {"TENANT": "faulty", "API-KEY": "any"}
    assert httpx.get(f"{base}/billing/charge/list", headers=headers).status_code == 503
    page.reload()
    rule = page.locator("#faults tbody tr[data-rule]")
    expect(rule.locator(".fired")).to_have_text("1")
    page.goto(UI + "/requests")
    expect(page.locator('#requests tbody tr[data-status="503"] .tag').first).to_be_visible()
    page.goto(UI + "/faults")
    page.locator("#faults tbody tr[data-rule]").get_by_role("button", name="Remove").click()
    expect(page.locator("#faults tbody tr[data-rule]")).to_have_count(0)
    assert httpx.get(f"{base}/billing/charge/list", headers=headers).status_code == 200


def test_every_effect_the_form_offers_makes_a_rule(page: Page, base: str) -> None:
    page.goto(UI + "/faults")
    form = page.locator("#add-fault")
    effects = form.get_by_label("Effect").locator("option")
    kinds = [effects.nth(i).get_attribute("value") for i in range(effects.count())]
    assert len(kinds) >= 10
    for kind in kinds:
        assert kind is not None
        form.get_by_label("Tenant").fill("form-kinds")
        form.get_by_label("Effect").select_option(kind)
        form.get_by_label("Status or milliseconds").fill("503" if kind == "status" else "10")
        form.get_by_role("button", name="Add rule").click()
        expect(page.locator("#status")).to_contain_text("added")
        page.locator("#status").evaluate("node => { node.textContent = '' }")
    rules = httpx.get(f"{base}/_sandbox/faults").json()["faults"]
    assert len([r for r in rules if r["match"].get("tenant") == "form-kinds"]) == len(kinds)
    assert httpx.delete(f"{base}/_sandbox/faults").status_code == 200


def test_advancing_a_clock_in_the_ui_expires_a_candid_token(page: Page, base: str) -> None:
    token = httpx.post(
        f"{base}/api/auth/v2/token", json={"client_id": "clocky", "client_secret": "x"}
    ).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{base}/api/write-offs/v1?limit=1", headers=bearer).status_code == 200
    page.goto(UI + "/tenants")
    row = page.locator('#tenants tr[data-tenant="clocky"]')
    clock = row.locator("td.clock")
    # Readable: an instant in UTC, and how far it is from the server's time.
    expect(clock.locator("time")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$"))
    expect(clock).to_contain_text("in step with the server")
    row.get_by_label("how far to advance clocky's clock").fill("1")
    row.get_by_label("unit to advance clocky's clock by").select_option("days")
    row.get_by_role("button", name="Advance").click()
    expect(page.locator("#status")).to_have_text("clocky's clock advanced 1 day.")
    expect(clock).to_contain_text("+1 day ahead")
    assert httpx.get(f"{base}/api/write-offs/v1?limit=1", headers=bearer).status_code == 401
    row.get_by_role("button", name="Freeze clock").click()
    expect(clock.locator(".frozen")).to_have_text("frozen")


def test_reset_download_and_upload_round_trip_a_tenant(
    page: Page, base: str, tmp_path: Path
) -> None:
    headers = {"TENANT": "snap", "API-KEY": "any"}
    made = httpx.post(f"{base}/user/patient/create", json={"firstName": "Kept"}, headers=headers)
    assert made.status_code == 200, made.text
    patient = f"{base}/user/patient/{made.json()['id']}"
    page.goto(UI + "/tenants?tenant=snap")
    row = page.locator('#tenants tr[data-tenant="snap"]')
    with page.expect_download() as downloading:
        row.get_by_role("button", name="Download snapshot").click()
    snapshot = tmp_path / "snap.json"
    downloading.value.save_as(snapshot)
    assert json.loads(snapshot.read_text())["tenant"] == "snap"
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Reset").click()
    expect(page.locator("#status")).to_contain_text("reset")
    assert httpx.get(patient, headers=headers).status_code == 404
    row = page.locator('#tenants tr[data-tenant="snap"]')
    row.get_by_label("snapshot file for snap").set_input_files(str(snapshot))
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Restore snapshot").click()
    expect(page.locator("#status")).to_contain_text("restored")
    assert httpx.get(patient, headers=headers).json()["firstName"] == "Kept"


def test_records_are_a_table_of_key_fields_newest_first_with_the_json_on_demand(
    page: Page, base: str
) -> None:
    headers = {"TENANT": "newest", "API-KEY": "any"}
    made = httpx.post(
        f"{base}/user/patient/create",
        json={"firstName": "Newest", "lastName": "Made"},
        headers=headers,
    )
    assert made.status_code == 200, made.text
    page.goto(UI + "/records?tenant=newest&api=decoda")
    summary = page.locator("#records-summary")
    expect(summary).to_have_text(re.compile("^charges 1\u2013"))
    headings = page.locator("#records thead th")
    expect(headings).to_contain_text(["charge", "patient", "total", "status", "created"])
    rows = page.locator("#records tbody tr.record")
    assert_newest_first(page)
    # The patient just made comes first among the patients.
    page.get_by_label("Kind").select_option("patients")
    page.get_by_role("button", name="Show").click()
    expect(summary).to_contain_text("patients 1\u2013")
    first = rows.first
    expect(first.locator("th")).to_have_text(made.json()["id"])
    expect(first.locator("td").first).to_have_text("Newest Made")
    # Its JSON only when asked for, and hidden again on a second click.
    json_rows = page.locator("#records tr.json")
    expect(json_rows.locator("pre")).to_have_count(0)
    toggle = first.get_by_role("button", name="JSON")
    toggle.click()
    expect(json_rows.locator("pre")).to_have_count(1)
    expect(json_rows.locator("pre")).to_contain_text('"firstName": "Newest"')
    expect(toggle).to_have_attribute("aria-expanded", "true")
    toggle.click()
    expect(json_rows.locator("pre")).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    # The other APIs too: Candid's write-offs by their date, MYCURE's statements by createdAt.
    for api, kind in (("candid", "write-offs"), ("mycure", "billing-soas")):
        page.get_by_label("API").select_option(api)
        page.get_by_role("button", name="Show").click()
        expect(summary).to_have_text(re.compile(f"^{kind} 1\u2013"))
        assert_newest_first(page)


def assert_newest_first(page: Page) -> None:
    """Each row's last date (when it was made) is no later than the row's above, on a full
    page of rows (the summary, read first, says the page has loaded)."""
    made: list[str] = page.locator("#records tbody tr.record").evaluate_all(
        "rows => rows.map(r => [...r.querySelectorAll('time')].pop().getAttribute('datetime'))"
    )
    assert len(made) >= 10 and made == sorted(made, reverse=True), made
    assert made[0] != made[-1]


def test_destructive_actions_stand_apart_and_each_asks_first(
    page: Page, base: str, tmp_path: Path
) -> None:
    headers = {"TENANT": "careful", "API-KEY": "any"}
    made = httpx.post(f"{base}/user/patient/create", json={}, headers=headers)
    assert made.status_code == 200, made.text
    patient = f"{base}/user/patient/{made.json()['id']}"
    page.goto(UI + "/tenants?tenant=careful")
    row = page.locator('#tenants tr[data-tenant="careful"]')
    safe = row.get_by_role("group", name="careful's clock and snapshot")
    danger = row.get_by_role("group", name="destructive: careful")
    for name in ("Reset", "Restore snapshot"):
        expect(danger.get_by_role("button", name=name, exact=True)).to_be_visible()
        expect(safe.get_by_role("button", name=name, exact=True)).to_have_count(0)
    for name in ("Freeze clock", "Advance", "Resume clock", "Download snapshot"):
        expect(safe.get_by_role("button", name=name, exact=True)).to_be_visible()
        expect(danger.get_by_role("button", name=name, exact=True)).to_have_count(0)
    # Set apart in colour too: the destructive cell and buttons are not drawn as the others.
    look = "e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor].join()"
    reset = danger.get_by_role("button", name="Reset", exact=True)
    download = safe.get_by_role("button", name="Download snapshot")
    assert reset.evaluate(look) != download.evaluate(look)
    assert row.locator("td.danger").evaluate(look) != row.locator("td.clock").evaluate(look)
    with page.expect_download() as downloading:
        download.click()
    snapshot = tmp_path / "careful.json"
    downloading.value.save_as(snapshot)
    later = httpx.post(f"{base}/user/patient/create", json={}, headers=headers)
    later_patient = f"{base}/user/patient/{later.json()['id']}"

    # Each asks first; answered "no", it changes nothing.
    asked: list[str] = []

    def refuse(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)
    status = page.locator("#status")
    danger.get_by_role("button", name="Reset", exact=True).click()
    expect(status).to_have_text("careful left as it was.")
    status.evaluate("node => { node.textContent = '' }")
    danger.get_by_label("snapshot file for careful").set_input_files(str(snapshot))
    danger.get_by_role("button", name="Restore snapshot").click()
    expect(status).to_have_text("careful left as it was.")
    page.get_by_role("button", name="Reset every tenant").click()
    expect(status).to_have_text("Every tenant left as it was.")
    page.remove_listener("dialog", refuse)
    assert len(asked) == 3, asked
    assert "careful" in asked[0] and "careful.json" in asked[1] and "every tenant" in asked[2]
    assert httpx.get(patient, headers=headers).status_code == 200
    assert httpx.get(later_patient, headers=headers).status_code == 200
    # Answered "yes", it does what it says.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Reset every tenant").click()
    expect(status).to_have_text("Every tenant reset.")
    assert httpx.get(patient, headers=headers).status_code == 404


def test_markup_in_records_and_requests_is_shown_as_text(page: Page, base: str) -> None:
    headers = {"TENANT": "xss", "API-KEY": "any"}
    made = httpx.post(f"{base}/user/patient/create", json={"firstName": SCRIPT}, headers=headers)
    assert made.status_code == 200, made.text
    httpx.get(f"{base}/billing/charge/list", params={"patient_id": SCRIPT}, headers=headers)
    page.goto(UI + "/records?tenant=xss&api=decoda")
    page.get_by_label("Kind").select_option("patients")
    page.get_by_label("Search").fill("pwned")
    page.get_by_role("button", name="Show").click()
    # The seeded charges stay on the page until the search answers: wait for its summary (a
    # locator matching the charges' fourteen records would fail at once, in strict mode).
    expect(page.locator("#records-summary")).to_have_text("patients 1\u20131 of 1, newest first")
    # As text: in the table's name column, and in the record's JSON (its quotes escaped).
    row = page.locator("#records tbody tr.record")
    expect(row).to_have_count(1)
    expect(row.locator("td").first).to_have_text(SCRIPT)
    row.get_by_role("button", name="JSON").click()
    shown = page.locator("#records pre")
    expect(shown).to_have_count(1)
    expect(shown).to_contain_text("<script>window.__pwned = 1</script>")
    expect(shown).to_contain_text("<img src=x onerror=")
    page.goto(UI + "/requests")
    page.get_by_label("Tenant").fill("xss")
    created = page.locator("#requests tbody tr:visible", has_text="/user/patient/create")
    created.get_by_role("button").click()
    expect(page.locator("#detail-request")).to_contain_text("<script>window.__pwned = 1</script>")
    listed = page.locator("#requests tbody tr:visible", has_text="/billing/charge/list")
    listed.get_by_role("button").click()
    expect(page.locator("#detail-facts")).to_contain_text("window.__pwned")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#records img, #requests img, #detail img").count() == 0


def test_a_delivery_shows_its_tries_and_sending_again_adds_one(page: Page, base: str) -> None:
    headers = {"TENANT": "hooks", "API-KEY": "any"}
    with receiver() as hook:
        made = httpx.post(
            f"{base}/webhook/decoda/create",
            json={"url": hook.url, "subscriptions": ["PATIENT_UPDATED"]},
            headers=headers,
        )
        assert made.status_code == 200, made.text
        patient = httpx.post(f"{base}/user/patient/create", json={}, headers=headers).json()
        triggered = httpx.post(
            f"{base}/_sandbox/tenants/hooks/decoda/events",
            json={"type": "PATIENT_UPDATED", "id": patient["id"]},
        )
        assert triggered.status_code == 200, triggered.text
        hook.wait_for(1)
        page.goto(UI + "/events?tenant=hooks")
        page.get_by_role("button", name="Show").click()
        row = page.locator("#deliveries tbody tr[data-delivery]")
        expect(row.locator(".try-count")).to_contain_text("1")
        row.get_by_role("button", name="Send again").click()
        expect(page.locator("#status")).to_contain_text("sent again")
        hook.wait_for(2)
        expect(row.locator(".tries li")).to_have_count(2, timeout=3000)


def test_a_narrow_window_keeps_everything_in_reach_of_the_keyboard(
    browser: Browser, base: str, tmp_path: Path
) -> None:
    context = browser.new_context(base_url=base, viewport={"width": 390, "height": 844})
    page = context.new_page()
    for path in ("/", "/requests", "/tenants", "/faults", "/events", "/records"):
        page.goto(UI + path)
        page.screenshot(path=str(tmp_path / f"narrow{path.replace('/', '-')}.png"), full_page=True)
        # Nothing wider than the window (tables scroll inside their own box).
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
        unlabelled: Any = page.evaluate(
            """[...document.querySelectorAll('input:not([type=hidden]), select, button')]
               .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                            && !e.textContent.trim()).map(e => e.outerHTML)"""
        )
        assert unlabelled == [], (path, unlabelled)
    page.goto(UI + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "billing-sandbox"
    context.close()


def test_with_a_token_the_dashboard_asks_for_it_once(browser: Browser, tmp_path: Path) -> None:
    with serving("--records", "20", "--control-token", "open-sesame") as (url, _):
        context = browser.new_context(base_url=url)
        page = context.new_page()
        page.goto(UI + "/tenants")
        expect(page.locator("h1")).to_have_text("Sign in to the dashboard")
        page.get_by_label("Control token").fill("wrong")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator(".problem")).to_contain_text("not the control token")
        page.get_by_label("Control token").fill("open-sesame")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("h1")).to_have_text("Tenants")
        [cookie] = context.cookies()
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
        # The page's calls to the control API go with the cookie: one that changes state too.
        page.locator("#pick-tenant").get_by_label("Tenant").fill("acme")
        page.locator("#pick-tenant").get_by_role("button").click()
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator('#tenants tr[data-tenant="acme"]').get_by_role("button", name="Reset").click()
        expect(page.locator("#status")).to_contain_text("acme reset")
        page.screenshot(path=str(tmp_path / "signed-in.png"), full_page=True)
        context.close()


def test_a_scenario_pack_is_applied_to_a_tenant_from_the_tenants_page(
    page: Page, base: str
) -> None:
    page.goto(UI + "/tenants")
    pack = page.locator('#scenario-packs tr[data-scenario="decoda-front-desk-day"]')
    expect(pack).to_contain_text("decoda")
    form = page.locator("#apply-scenario")
    form.get_by_label("Scenario").select_option("decoda-front-desk-day")
    form.get_by_label("To tenant").fill("desk-demo")
    # It writes, so it asks first; answered "no", nothing is sent.
    page.once("dialog", lambda dialog: dialog.dismiss())
    form.get_by_role("button", name="Apply scenario").click()
    expect(page.locator("#status")).to_have_text("desk-demo left as it was.")
    assert httpx.get(f"{base}/_sandbox/tenants/desk-demo/records/decoda").json()["total"] > 0
    held = httpx.get(f"{base}/_sandbox/tenants").json()["tenants"]
    assert "desk-demo" not in {t["id"] for t in held if t["written"]}
    page.once("dialog", lambda dialog: dialog.accept())
    form.get_by_role("button", name="Apply scenario").click()
    expect(page.locator("#status")).to_have_text(
        re.compile(r"^decoda-front-desk-day applied to desk-demo: \d+ steps\.$")
    )
    expect(page.locator('#tenants tr[data-tenant="desk-demo"]')).to_contain_text("yes")
    found = httpx.get(f"{base}/_sandbox/requests", params={"tenant": "desk-demo"}).json()
    assert len(found["requests"]) > 10


def test_a_scenario_that_fails_shows_the_step_and_the_answer(page: Page, base: str) -> None:
    rule = {"match": {"tenant": "desk-down", "operationId": "createPatient"},
            "effect": {"status": 503}, "count": 1}  # fmt: skip
    assert httpx.post(f"{base}/_sandbox/faults", json=rule).status_code == 201
    page.goto(UI + "/tenants")
    form = page.locator("#apply-scenario")
    expect(form.get_by_label("Scenario").locator("option")).not_to_have_count(0)
    form.get_by_label("Scenario").select_option("decoda-front-desk-day")
    form.get_by_label("To tenant").fill("desk-down")
    page.once("dialog", lambda dialog: dialog.accept())
    form.get_by_role("button", name="Apply scenario").click()
    failure = page.locator("#scenario-failure")
    expect(failure).to_be_visible()
    expect(page.locator("#status")).to_have_text(
        "decoda-front-desk-day was not applied: desk-down is as it was."
    )
    expect(page.locator("#scenario-failure-summary")).to_contain_text(
        "failed: POST /user/patient/create"
    )
    expect(page.locator("#scenario-failure-request")).to_contain_text(
        '"path": "/user/patient/create"'
    )
    expect(page.locator("#scenario-failure-answer")).to_contain_text('"status": 503')


@contextmanager
def own_server_page(browser: Browser, tmp_path: Path, *args: str) -> Iterator[tuple[Page, str]]:
    """A page on a server of its own (`serve ARGS`), for what the module's shared server's
    other traffic would blur; no script error on it either."""
    with serving(*args) as (url, _):
        context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 800})
        opened = context.new_page()
        errors: list[str] = []
        opened.on("pageerror", lambda error: errors.append(str(error)))
        opened.set_default_timeout(5000)
        yield opened, url
        opened.screenshot(path=str(tmp_path / "own-server.png"), full_page=True)
        context.close()
    assert errors == [], errors


def test_the_overview_charts_each_apis_traffic_live(browser: Browser, tmp_path: Path) -> None:
    with own_server_page(browser, tmp_path) as (page, base):
        page.goto(UI + "/")
        chart = page.locator('#traffic figure[data-api="decoda"]')
        expect(chart.locator("svg[role=img]")).to_have_attribute("aria-label", re.compile("decoda"))
        expect(chart).to_have_attribute("data-requests", "0")
        flat = chart.locator("path.requests").get_attribute("d")
        for _ in range(5):
            assert httpx.get(f"{base}/billing/charge/list", headers=DECODA).status_code == 200
        bad = httpx.get(f"{base}/billing/charge/list?status=NOPE", headers=DECODA)
        assert bad.status_code == 422
        # Within a few seconds, without a reload: the line rises, the numbers say the failure.
        expect(chart).to_have_attribute("data-requests", "6", timeout=4000)
        assert chart.locator("path.requests").get_attribute("d") != flat
        numbers = chart.locator(".numbers")
        expect(numbers).to_contain_text("6 requests, 1 failed in 5 minutes")
        expect(numbers).to_have_attribute("data-p50", re.compile(r"^\d+(\.\d+)? ms$"))
        expect(numbers).to_have_attribute("data-p99", re.compile(r"^\d+(\.\d+)? ms$"))
        # The failure draws the red line off the chart's floor (y 100); Candid's stays flat.
        failures = chart.locator("path.failures").get_attribute("d") or ""
        assert re.search(r"[ML]\d+ (?!100\.00)", failures), failures
        candid = page.locator('#traffic figure[data-api="candid"]')
        expect(candid).to_have_attribute("data-requests", "0")
        expect(candid.locator(".numbers")).to_contain_text("no request in the last minute")


def test_with_metrics_off_the_overview_says_so(browser: Browser, tmp_path: Path) -> None:
    with own_server_page(browser, tmp_path, "--no-metrics") as (page, _):
        page.goto(UI + "/")
        expect(page.locator("#traffic-off")).to_contain_text("Metrics are off")
        expect(page.locator("#traffic")).to_have_count(0)
