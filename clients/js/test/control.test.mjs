// The client against a real `billing-sandbox serve`: health, resets, reference data,
// snapshots, scenarios, pacts, the clock, credentials for the three APIs, tenant ids.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { Sandbox, SandboxError, checkTenantId, isTenantId, tenantId } from "../dist/index.js";
import { startSandbox } from "./sandbox.mjs";
import { decodaPatient, vendorCall } from "./vendor.mjs";

const TIMEOUT = { timeout: 15_000 };
let server;
let sandbox;

before(async () => {
  server = await startSandbox();
  sandbox = new Sandbox(server.url);
}, { timeout: 40_000 });

after(() => server?.stop());

/** A tenant of this test's own, so tests never see each other's records. */
const tenantOf = (t) => sandbox.tenant(tenantId(["control.test.mjs", t.name]));

/** The ids of the Decoda patients the tenant holds (none until it is first used). */
async function patientIds(tenant) {
  const state = await tenant.exportState();
  return (state.apis.decoda?.patients ?? []).map((patient) => patient.id);
}

test("health says ok and names the three APIs; the URL loses its trailing slash", TIMEOUT, async () => {
  const health = await new Sandbox(`${server.url}/`).health();
  assert.equal(health.status, "ok");
  assert.deepEqual([...health.apis].sort(), ["candid", "decoda", "mycure"]);
  assert.equal(typeof health.version, "string");
  assert.equal(new Sandbox({ url: `${server.url}//` }).url, server.url);
});

test("reference data of each API, seeded for the tenant", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  const candid = await tenant.reference("candid");
  assert.ok(candid.service_lines.length > 0);
  assert.match(candid.service_lines[0].service_line_id, /^[0-9a-f-]{36}$/);
  const decoda = await tenant.reference("decoda");
  assert.ok(decoda.patients.length > 0 && decoda.items.length > 0);
  const mycure = await tenant.reference("mycure");
  assert.equal(mycure.organisation, tenant.id);
});

test("a tenant's reset forgets its writes and no other tenant's", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  const other = sandbox.tenant(tenantId(["control.test.mjs", t.name, "other"]));
  const mine = await decodaPatient(server.url, tenant);
  const theirs = await decodaPatient(server.url, other);
  assert.ok((await patientIds(tenant)).includes(mine.id));

  await tenant.reset();
  assert.ok(!(await patientIds(tenant)).includes(mine.id));
  assert.ok((await patientIds(other)).includes(theirs.id));
});

test("the server's reset forgets every tenant", TIMEOUT, async (t) => {
  const first = tenantOf(t);
  const second = sandbox.tenant(tenantId(["control.test.mjs", t.name, "second"]));
  await decodaPatient(server.url, first);
  await decodaPatient(server.url, second);
  await sandbox.reset();
  assert.deepEqual((await first.exportState()).apis, {});
  assert.deepEqual((await second.exportState()).apis, {});
});

test("export and import a tenant's state: a write after the export is undone", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  const kept = await decodaPatient(server.url, tenant);
  const saved = await tenant.exportState();
  assert.equal(saved.format, "billing-sandbox/1");
  assert.equal(saved.tenant, tenant.id);
  const undone = await decodaPatient(server.url, tenant);

  const restored = await tenant.importState(saved);
  assert.deepEqual(restored.tenants[tenant.id], ["decoda"]);
  const ids = await patientIds(tenant);
  assert.ok(ids.includes(kept.id) && !ids.includes(undone.id));
});

test("snapshot() restores the tenant after its callback, also when it throws", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  const kept = await decodaPatient(server.url, tenant);
  let written;
  const answer = await tenant.snapshot(async (saved) => {
    assert.equal(saved.tenant, tenant.id);
    written = await decodaPatient(server.url, tenant);
    assert.ok((await patientIds(tenant)).includes(written.id));
    return "the callback's answer";
  });
  assert.equal(answer, "the callback's answer");
  let ids = await patientIds(tenant);
  assert.ok(ids.includes(kept.id) && !ids.includes(written.id));

  await assert.rejects(
    tenant.snapshot(async () => {
      written = await decodaPatient(server.url, tenant);
      throw new Error("the test failed");
    }),
    { message: "the test failed" },
  );
  ids = await patientIds(tenant);
  assert.ok(ids.includes(kept.id) && !ids.includes(written.id));
});

test("a bad snapshot is refused with a 422 naming where it is wrong", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  const error = await rejection(tenant.importState({ format: "billing-sandbox/0", tenant: tenant.id, clock: {}, apis: {} }));
  assert.ok(error instanceof SandboxError);
  assert.equal(error.status, 422);
  assert.match(error.sandboxMessage, /format/);
});

test("the server's whole state exports and imports", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  const patient = await decodaPatient(server.url, tenant);
  const everything = await sandbox.exportState();
  assert.equal(everything.format, "billing-sandbox/1");
  assert.ok(tenant.id in everything.tenants);
  const restored = await sandbox.importState(everything);
  assert.ok(tenant.id in restored.tenants);
  assert.ok((await patientIds(tenant)).includes(patient.id));
});

test("scenario packs are listed, and one applies by name", TIMEOUT, async (t) => {
  const packs = await sandbox.scenarios();
  const overdue = packs.find((pack) => pack.name === "decoda-overdue-clinic");
  assert.ok(overdue, `packs: ${packs.map((pack) => pack.name).join(", ")}`);
  assert.equal(overdue.source, "shipped");
  assert.deepEqual(overdue.apis, ["decoda"]);

  const tenant = tenantOf(t);
  const applied = await tenant.applyScenario("decoda-overdue-clinic");
  assert.equal(applied.tenant, tenant.id);
  assert.equal(applied.scenario, "decoda-overdue-clinic");
  assert.ok(applied.steps > 0);
  assert.ok(Object.keys(applied.named).length > 0);
});

test("a scenario given whole applies; its named steps answer", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  const applied = await tenant.applyScenario({
    scenario: 1,
    name: "one-patient",
    apis: ["decoda"],
    steps: [{ name: "patient", call: "POST /user/patient/create", body: { firstName: "Ada", lastName: "Rivera" } }],
  });
  assert.equal(applied.steps, 1);
  assert.ok((await patientIds(tenant)).includes(applied.named.patient.id));
});

test("an unknown pack is a SandboxError 404 with the sandbox's message and the packs there are", TIMEOUT, async (t) => {
  const error = await rejection(tenantOf(t).applyScenario("decoda-overdu"));
  assert.ok(error instanceof SandboxError);
  assert.equal(error.status, 404);
  assert.match(error.sandboxMessage, /^no scenario pack is named 'decoda-overdu'; the packs are: /);
  assert.match(error.message, /answered 404: UnknownScenario: no scenario pack is named/);
  assert.equal(error.body.error, "UnknownScenario");
  assert.ok(error.body.available.includes("decoda-overdue-clinic"));
});

test("a scenario that cannot run is a 422 listing its problems; a file path is refused before any call", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  const error = await rejection(
    tenant.applyScenario({ scenario: 1, name: "broken", apis: ["decoda"], steps: [{ call: "POST /nowhere/at-all" }] }),
  );
  assert.equal(error.status, 422);
  assert.equal(error.body.error, "ScenarioInvalid");
  assert.ok(error.body.problems.length > 0);

  await assert.rejects(tenant.applyScenario("./scenarios/mine.yaml"), TypeError);
});

test("pacts: none before a call, then one per provider the tenant called", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  assert.deepEqual(await tenant.pacts("web"), []);
  await decodaPatient(server.url, tenant);
  const pacts = await tenant.pacts("web");
  assert.equal(pacts.length, 1);
  assert.equal(pacts[0].consumer.name, "web");
  assert.equal(pacts[0].provider.name, "decoda-billing");
  assert.equal(pacts[0].metadata.pactSpecification.version, "4.0");
  assert.equal((await tenant.pacts())[0].consumer.name, "consumer");
});

test("the clock freezes, advances and resumes", TIMEOUT, async (t) => {
  const clock = tenantOf(t).clock;
  const at = new Date("2026-03-01T09:00:00Z");
  const frozen = await clock.freeze(at);
  assert.equal(frozen.frozen, true);
  assert.equal(Date.parse(frozen.now), at.getTime());
  // Seeded payment plans whose installments the new time passes are settled on the way.
  assert.ok(Array.isArray(frozen.settledInstallments));

  assert.equal(Date.parse((await clock.advance(3600)).now), at.getTime() + 3_600_000);
  const later = await clock.advance({ days: 1, hours: 1, minutes: 1, seconds: 1 });
  assert.equal(Date.parse(later.now), at.getTime() + 3_600_000 + 90_061_000);
  assert.equal((await clock.now()).getTime(), Date.parse(later.now));

  await clock.freeze("2026-04-01T00:00:00+02:00");
  assert.equal(Date.parse((await clock.state()).now), Date.parse("2026-03-31T22:00:00Z"));

  const resumed = await clock.resume();
  assert.equal(resumed.frozen, false);
  // freeze() with no instant stops the clock where it is now.
  const here = await clock.freeze();
  assert.equal(here.frozen, true);
  assert.ok(Math.abs(Date.parse(here.now) - Date.parse(resumed.now)) < 5_000);
});

test("the clock refuses what the sandbox would: back, fractions, an invalid Date, a bad date-time", TIMEOUT, async (t) => {
  const clock = tenantOf(t).clock;
  await assert.rejects(clock.advance(-1), RangeError);
  await assert.rejects(clock.advance(1.5), RangeError);
  await assert.rejects(clock.advance({ weeks: 1 }), RangeError);
  await assert.rejects(clock.freeze(new Date("not a date")), RangeError);
  const error = await rejection(clock.freeze("tomorrow"));
  assert.equal(error.status, 422);
});

test("credentials open each API as the tenant: Candid, Decoda and MYCURE answer, journaled under its id", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  const candid = await vendorCall(server.url, "GET", "/api/write-offs/v1?limit=1", { headers: await tenant.candidHeaders() });
  assert.equal(candid.status, 200, JSON.stringify(candid.body));
  const decoda = await vendorCall(server.url, "GET", "/billing/charge/list", { headers: tenant.decodaHeaders() });
  assert.equal(decoda.status, 200, JSON.stringify(decoda.body));
  const mycure = await vendorCall(server.url, "GET", "/billing-soas", { headers: await tenant.mycureHeaders() });
  assert.equal(mycure.status, 200, JSON.stringify(mycure.body));

  assert.deepEqual(tenant.decodaHeaders(), { TENANT: tenant.id, "API-KEY": "sandbox-api-key" });
  assert.equal(tenant.mycureEmail, `tester@${tenant.id}`);
  assert.match(await tenant.candidToken(), /\S{20,}/);
  assert.match(await tenant.mycureToken(), /\S{20,}/);
  const page = await tenant.journal.query();
  assert.deepEqual(new Set(page.requests.filter((e) => e.status === 200).map((e) => e.api)), new Set(["candid", "decoda", "mycure"]));
});

test("credentials of one's own are sent instead of the made-up ones", TIMEOUT, async () => {
  const tenant = sandbox.tenant("acme.test", { decodaApiKey: "key-of-mine" });
  assert.deepEqual(tenant.decodaHeaders(), { TENANT: "acme.test", "API-KEY": "key-of-mine" });
});

test("tenant ids: stable, unique per title path, valid, and checked", () => {
  const id = tenantId(["checkout.spec.ts", "Checkout", "pays a charge — with a card!"]);
  assert.equal(id, tenantId(["checkout.spec.ts", "Checkout", "pays a charge — with a card!"]));
  assert.match(id, /^pays-a-charge-with-a-card-[0-9a-f]{10}\.test$/);
  assert.notEqual(id, tenantId(["refund.spec.ts", "Checkout", "pays a charge — with a card!"]));
  assert.notEqual(tenantId(["a b"]), tenantId(["a", "b"]));
  const long = tenantId(["x".repeat(500)]);
  assert.ok(long.length <= 63 && isTenantId(long), long);
  assert.match(tenantId(["¿¡!"]), /^test-[0-9a-f]{10}\.test$/);

  assert.equal(checkTenantId("clinic-a.test"), "clinic-a.test");
  for (const bad of ["Acme", "a b", "a/b", "-a", "a.", "", "x".repeat(64), "ann@clinic"]) {
    assert.equal(isTenantId(bad), false, bad);
    assert.throws(() => sandbox.tenant(bad), RangeError);
  }
});

async function rejection(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("expected the call to be refused");
}
