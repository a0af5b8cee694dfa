// The request journal through the client against a real `billing-sandbox serve`: a page,
// every entry, waiting for a request (found, and timing out with what arrived instead).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { JournalTimeout, Sandbox, tenantId } from "../dist/index.js";
import { startSandbox } from "./sandbox.mjs";
import { decodaPatient, listDecodaCharges, vendorCall } from "./vendor.mjs";

const TIMEOUT = { timeout: 15_000 };
let server;
let sandbox;

before(async () => {
  server = await startSandbox();
  sandbox = new Sandbox(server.url);
}, { timeout: 40_000 });

after(() => server?.stop());

const tenantOf = (t, name = "") => sandbox.tenant(tenantId(["journal.test.mjs", t.name, name]));
const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test("query(): one page, newest first, filtered; before pages on", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  const patient = await decodaPatient(server.url, tenant);
  await listDecodaCharges(server.url, tenant);
  await listDecodaCharges(server.url, tenant);

  const page = await tenant.journal.query();
  assert.deepEqual(page.requests.map((e) => e.operationId), ["listCharges", "listCharges", "createPatient"]);
  assert.equal(page.nextBefore, null);
  const [newest, , oldest] = page.requests;
  assert.ok(newest.seq > oldest.seq);
  assert.equal(oldest.tenant, tenant.id);
  assert.equal(oldest.api, "decoda");
  assert.equal(oldest.method, "POST");
  assert.equal(oldest.path, "/user/patient/create");
  assert.equal(oldest.status, 200);
  assert.equal(JSON.parse(oldest.responseBody).id, patient.id);

  const first = await tenant.journal.query({ limit: 2 });
  assert.equal(first.requests.length, 2);
  assert.equal(first.nextBefore, first.requests[1].seq);
  const rest = await tenant.journal.query({ limit: 2, before: first.nextBefore });
  assert.deepEqual(rest.requests.map((e) => e.seq), [oldest.seq]);

  const created = await tenant.journal.query({ operationId: "createPatient", status: 200, api: "decoda" });
  assert.deepEqual(created.requests.map((e) => e.seq), [oldest.seq]);
  assert.deepEqual((await tenant.journal.query({ since: new Date(Date.now() + 3_600_000) })).requests, []);
  assert.equal((await tenant.journal.query({ until: new Date().toISOString() })).requests.length, 3);
  // The server's journal holds every tenant's: a tenant filter there is the same page.
  assert.deepEqual((await sandbox.journal.query({ tenant: tenant.id })).requests, page.requests);
});

test("entries(): every matching entry, newest first, across pages", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  for (let i = 0; i < 3; i += 1) await listDecodaCharges(server.url, tenant);
  const seen = [];
  for await (const entry of tenant.journal.entries({ operationId: "listCharges" })) seen.push(entry.seq);
  assert.equal(seen.length, 3);
  assert.deepEqual(seen, [...seen].sort((a, b) => b - a));
});

test("waitFor(filters): the request made after the call began", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  await decodaPatient(server.url, tenant); // before the wait: not what it waits for
  const waiting = tenant.journal.waitFor({ operationId: "createPatient", status: 200 });
  await delay(150);
  const patient = await decodaPatient(server.url, tenant);
  const entry = await waiting;
  assert.equal(JSON.parse(entry.responseBody).id, patient.id);
});

test("waitFor(predicate): the first request that arrived and satisfies it", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  const waiting = tenant.journal.waitFor((entry) => entry.method === "GET" && entry.path === "/billing/charge/list");
  await delay(150);
  await decodaPatient(server.url, tenant);
  await listDecodaCharges(server.url, tenant);
  await listDecodaCharges(server.url, tenant);
  const entry = await waiting;
  const listed = (await tenant.journal.query({ operationId: "listCharges" })).requests;
  assert.equal(entry.seq, Math.min(...listed.map((e) => e.seq)));
});

test("waitFor(…, {after}) counts entries past that sequence number", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  await decodaPatient(server.url, tenant);
  const entry = await tenant.journal.waitFor({ operationId: "createPatient" }, { after: 0, timeoutMs: 1_000 });
  assert.equal(entry.operationId, "createPatient");
  await assert.rejects(tenant.journal.waitFor({ operationId: "createPatient" }, { after: entry.seq, timeoutMs: 200 }), JournalTimeout);
});

test("waitFor() timing out throws JournalTimeout listing what arrived instead", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  await decodaPatient(server.url, tenant); // before the wait: listed nowhere
  const started = performance.now();
  const waiting = tenant.journal.waitFor({ operationId: "createCharge", status: 200 }, { timeoutMs: 700 });
  const caught = waiting.catch((error) => error);
  await delay(150);
  await listDecodaCharges(server.url, tenant);
  await vendorCall(server.url, "POST", "/billing/payment-terminal/charge/create", {
    headers: tenant.decodaHeaders(),
    body: { patientId: "pat_nobody", totalOutstanding: 100 },
  });
  const error = await caught;
  const elapsed = performance.now() - started;

  assert.ok(error instanceof JournalTimeout, String(error));
  assert.ok(error instanceof Error);
  assert.equal(error.name, "JournalTimeout");
  assert.ok(elapsed >= 700 && elapsed < 3_000, `waited ${elapsed} ms`);
  assert.match(error.message, new RegExp(`^no request in the journal of ${server.url} matched `));
  assert.match(error.message, new RegExp(`operationId="createCharge", status=200, tenant="${tenant.id.replaceAll(".", "\\.")}"`));
  assert.match(error.message, / within 0\.7 s; arrived instead: GET \/billing\/charge\/list → 200; POST \/billing\/payment-terminal\/charge\/create → 4\d\d$/);
  assert.deepEqual(error.seen.map((e) => e.operationId), ["listCharges", "createCharge"]);
});

test("waitFor() timing out with nothing arrived says so; a predicate is shown as written", TIMEOUT, async (t) => {
  const error = await tenantOf(t)
    .journal.waitFor((entry) => entry.status === 418, { timeoutMs: 200, intervalMs: 20 })
    .catch((caught) => caught);
  assert.ok(error instanceof JournalTimeout);
  assert.match(error.message, /matched tenant="[^"]+", \(entry\) => entry\.status === 418 within 0\.2 s; nothing arrived$/);
  assert.deepEqual(error.seen, []);
});

test("waitFor() lists at most ten of what arrived instead, and counts the rest", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  const caught = tenant.journal.waitFor({ status: 418 }, { timeoutMs: 1_500 }).catch((error) => error);
  await delay(150);
  for (let i = 0; i < 12; i += 1) await listDecodaCharges(server.url, tenant);
  const error = await caught;
  assert.ok(error instanceof JournalTimeout);
  assert.equal(error.seen.length, 12);
  assert.equal(error.message.match(/GET \/billing\/charge\/list → 200/g).length, 10);
  assert.match(error.message, /\(and 2 more\)$/);
});

test("the server's journal waits across tenants", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  const waiting = sandbox.journal.waitFor({ tenant: tenant.id, operationId: "createPatient" });
  await delay(150);
  await decodaPatient(server.url, tenant);
  assert.equal((await waiting).tenant, tenant.id);
});

test("filters are checked: an unknown one is a TypeError, another tenant's a RangeError", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  await assert.rejects(tenant.journal.waitFor({ stauts: 200 }), TypeError);
  await assert.rejects(tenant.journal.query({ operation_id: "createPatient" }), TypeError);
  await assert.rejects(tenant.journal.query({ tenant: "someone-else" }), RangeError);
  await assert.rejects(tenant.journal.query({ since: new Date("never") }), RangeError);
});

test("clear(): a tenant's entries go, and no other tenant's", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  const other = tenantOf(t, "other");
  await listDecodaCharges(server.url, tenant);
  await listDecodaCharges(server.url, tenant);
  await listDecodaCharges(server.url, other);
  assert.equal(await tenant.journal.clear(), 2);
  assert.deepEqual((await tenant.journal.query()).requests, []);
  assert.equal((await other.journal.query()).requests.length, 1);
  assert.ok((await sandbox.journal.clear()) >= 1);
  assert.deepEqual((await sandbox.journal.query()).requests, []);
});
