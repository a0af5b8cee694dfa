// The client against `billing-sandbox cluster` (two shards behind HAProxy): the same calls
// as against one server, and a journal merged from shards that each number their own
// entries. Skipped where HAProxy or Redis is missing (CI installs both).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { JournalTimeout, Sandbox } from "../dist/index.js";
import { clusterTools, startCluster } from "./sandbox.mjs";
import { decodaPatient, listDecodaCharges, vendorCall } from "./vendor.mjs";

const TIMEOUT = { timeout: 20_000 };
const missing = clusterTools();
let cluster;
let sandbox;
// A tenant on each shard, found by asking: HAProxy places tenants by a hash of their ids.
const onShard = new Map();

before(async () => {
  if (missing) return;
  cluster = await startCluster(2);
  sandbox = new Sandbox(cluster.url);
  for (let i = 0; onShard.size < 2; i += 1) {
    if (i === 40) throw new Error(`40 tenants all landed on ${[...onShard.keys()]}`);
    const tenant = sandbox.tenant(`cluster-${i}.test`);
    await listDecodaCharges(cluster.url, tenant);
    const [entry] = (await tenant.journal.query({ limit: 1 })).requests;
    if (!onShard.has(entry.shard)) onShard.set(entry.shard, tenant);
  }
}, { timeout: 60_000 });

after(() => cluster?.stop());

const options = { ...TIMEOUT, skip: missing ?? false };
const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test("each tenant's control calls reach its shard through HAProxy", options, async () => {
  assert.equal((await sandbox.health()).status, "ok");
  for (const [shard, tenant] of onShard) {
    const decoda = await tenant.reference("decoda");
    assert.ok(decoda.patients.length > 0, shard);
    const frozen = await tenant.clock.freeze(new Date("2026-05-01T00:00:00Z"));
    assert.equal(Date.parse(frozen.now), Date.parse("2026-05-01T00:00:00Z"), shard);

    const rule = await tenant.faults.add({ match: { api: "decoda", operationId: "listCharges" }, effect: { status: 503 }, count: 1 });
    assert.equal((await listDecodaCharges(cluster.url, tenant)).status, 503, shard);
    assert.deepEqual((await tenant.faults.rules()).map((r) => [r.id, r.fired]), [[rule.id, 1]], shard);
    assert.equal((await tenant.faults.remove(rule)).id, rule.id, shard);
    const status = await tenant.faults.injected({ effect: { status: 503 } }, async () => (await listDecodaCharges(cluster.url, tenant)).status);
    assert.equal(status, 503, shard);
    assert.deepEqual(await sandbox.faults.rules(), [], shard);

    const patient = await tenant.snapshot(() => decodaPatient(cluster.url, tenant));
    const ids = ((await tenant.exportState()).apis.decoda?.patients ?? []).map((p) => p.id);
    assert.ok(!ids.includes(patient.id), `${shard}: the snapshot was not restored`);
    assert.ok((await tenant.applyScenario("decoda-front-desk-day")).steps > 0, shard);
    assert.equal((await tenant.pacts("web"))[0].provider.name, "decoda-billing", shard);

    const candid = await vendorCall(cluster.url, "GET", "/api/write-offs/v1?limit=1", { headers: await tenant.candidHeaders() });
    assert.equal(candid.status, 200, shard);
    const mycure = await vendorCall(cluster.url, "GET", "/billing-soas", { headers: await tenant.mycureHeaders() });
    assert.equal(mycure.status, 200, shard);
    await tenant.reset();
  }
});

test("the server's waitFor finds a new entry of a shard whose numbers are behind another's", options, async () => {
  const [ahead, behind] = [...onShard.values()];
  // One shard's sequence numbers run well past the other's: a single "latest seq" would
  // hide every new entry of the shard behind.
  for (let i = 0; i < 15; i += 1) await listDecodaCharges(cluster.url, ahead);
  const waiting = sandbox.journal.waitFor((entry) => entry.tenant === behind.id && entry.operationId === "createPatient");
  await delay(150);
  const patient = await decodaPatient(cluster.url, behind);
  const entry = await waiting;
  assert.equal(JSON.parse(entry.responseBody).id, patient.id);
  assert.ok(onShard.has(entry.shard));
});

test("a cluster's waitFor timing out lists what arrived instead, from either shard", options, async () => {
  const tenants = [...onShard.values()];
  const caught = sandbox.journal.waitFor({ status: 418 }, { timeoutMs: 800 }).catch((error) => error);
  await delay(150);
  for (const tenant of tenants) await listDecodaCharges(cluster.url, tenant);
  const error = await caught;
  assert.ok(error instanceof JournalTimeout);
  assert.deepEqual(new Set(error.seen.map((entry) => entry.tenant)), new Set(tenants.map((tenant) => tenant.id)));
  assert.match(error.message, /arrived instead: GET \/billing\/charge\/list → 200; GET \/billing\/charge\/list → 200$/);
});
