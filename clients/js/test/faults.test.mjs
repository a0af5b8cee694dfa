// Fault rules through the client against a real `billing-sandbox serve`: add, list, remove,
// clear (the server's and a tenant's), a rule for one callback, and the sandbox's refusals.
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";

import { Sandbox, SandboxError, tenantId } from "../dist/index.js";
import { startSandbox } from "./sandbox.mjs";
import { listDecodaCharges } from "./vendor.mjs";

const TIMEOUT = { timeout: 15_000 };
const UNAVAILABLE = { match: { api: "decoda", operationId: "listCharges" }, effect: { status: 503 } };
let server;
let sandbox;

before(async () => {
  server = await startSandbox();
  sandbox = new Sandbox(server.url);
}, { timeout: 40_000 });

after(() => server?.stop());

// Rules are the server's: each test starts with none.
beforeEach(() => sandbox.faults.clear());

const tenantOf = (t, name = "") => sandbox.tenant(tenantId(["faults.test.mjs", t.name, name]));

test("a tenant's rule matches that tenant only, and fires as it says", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  const other = tenantOf(t, "other");
  const rule = await tenant.faults.add({ ...UNAVAILABLE, count: 1 });
  assert.match(rule.id, /\S/);
  assert.deepEqual(rule.match, { api: "decoda", operationId: "listCharges", tenant: tenant.id });
  assert.deepEqual(rule.effect, { status: 503 });
  assert.equal(rule.count, 1);
  assert.equal(rule.fired, 0);
  assert.equal(rule.until, null);

  assert.equal((await listDecodaCharges(server.url, other)).status, 200);
  assert.equal((await listDecodaCharges(server.url, tenant)).status, 503);
  assert.equal((await listDecodaCharges(server.url, tenant)).status, 200, "count: 1 fires once");
  const [listed] = await sandbox.faults.rules();
  assert.equal(listed.id, rule.id);
  assert.equal(listed.fired, 1);
});

test("rules() lists the scope's rules; remove() takes a rule or its id", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  const other = tenantOf(t, "other");
  const mine = await tenant.faults.add(UNAVAILABLE);
  const theirs = await other.faults.add({ effect: { delayMs: 1 }, probability: 0.5 });
  const everyone = await sandbox.faults.add({ match: { method: "GET", path: "/billing-soas/{id}" }, effect: { status: 502 } });

  assert.deepEqual((await tenant.faults.rules()).map((r) => r.id), [mine.id]);
  assert.deepEqual((await other.faults.rules()).map((r) => r.id), [theirs.id]);
  assert.deepEqual((await sandbox.faults.rules()).map((r) => r.id), [mine.id, theirs.id, everyone.id]);

  assert.equal((await tenant.faults.remove(mine)).id, mine.id);
  assert.equal((await sandbox.faults.remove(everyone.id)).id, everyone.id);
  assert.deepEqual((await sandbox.faults.rules()).map((r) => r.id), [theirs.id]);
});

test("removing a rule that is not there is a SandboxError 404", TIMEOUT, async () => {
  const error = await rejection(sandbox.faults.remove("no-such-rule"));
  assert.ok(error instanceof SandboxError);
  assert.equal(error.status, 404);
  assert.equal(error.body.error, "NotFound");
});

test("clear(): a tenant's clears its own rules, the server's every rule", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  const other = tenantOf(t, "other");
  await tenant.faults.add(UNAVAILABLE);
  await tenant.faults.add({ effect: { delayMs: 1 } });
  const theirs = await other.faults.add(UNAVAILABLE);

  assert.equal(await tenant.faults.clear(), 2);
  assert.deepEqual((await sandbox.faults.rules()).map((r) => r.id), [theirs.id]);
  await sandbox.faults.add({ effect: { delayMs: 1 } });
  assert.equal(await sandbox.faults.clear(), 2);
  assert.deepEqual(await sandbox.faults.rules(), []);
});

test("injected(): the rule holds during the callback and is gone after it", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  const answer = await tenant.faults.injected(UNAVAILABLE, async (rule) => {
    assert.deepEqual((await tenant.faults.rules()).map((r) => r.id), [rule.id]);
    return (await listDecodaCharges(server.url, tenant)).status;
  });
  assert.equal(answer, 503);
  assert.deepEqual(await tenant.faults.rules(), []);
  assert.equal((await listDecodaCharges(server.url, tenant)).status, 200);
});

test("injected(): the rule is gone after a callback that throws, whose error is the one thrown", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  await assert.rejects(
    tenant.faults.injected(UNAVAILABLE, async () => {
      throw new Error("the test failed");
    }),
    { message: "the test failed" },
  );
  assert.deepEqual(await sandbox.faults.rules(), []);
});

test("injected(): a rule already removed inside the callback is no error", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  const answer = await tenant.faults.injected(UNAVAILABLE, async () => {
    await sandbox.faults.clear();
    return "done";
  });
  assert.equal(answer, "done");
});

test("a rule the sandbox refuses is a SandboxError 422 saying why", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  const error = await rejection(tenant.faults.add({ match: { operationId: "createChrage" }, effect: { status: 503 } }));
  assert.ok(error instanceof SandboxError);
  assert.equal(error.status, 422);
  assert.match(error.sandboxMessage, /createChrage/);
  assert.match(error.message, /^POST http:\/\/127\.0\.0\.1:\d+\/_sandbox\/faults answered 422: \w+: /);
  assert.deepEqual(await sandbox.faults.rules(), []);
});

test("a tenant's rules match that tenant only: naming another is refused before any call", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  await assert.rejects(tenant.faults.add({ match: { tenant: "someone-else" }, effect: { status: 503 } }), RangeError);
  assert.deepEqual(await sandbox.faults.rules(), []);
});

test("a flag given as false is left out, as the sandbox takes none", TIMEOUT, async (t) => {
  const rule = await tenantOf(t).faults.add({ effect: { status: 503, afterCommit: false } });
  assert.deepEqual(rule.effect, { status: 503 });
});

async function rejection(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("expected the call to be refused");
}
