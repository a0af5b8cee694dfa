// Decoda's sandbox-only triggers through the client against a real `billing-sandbox serve`:
// a failed payment, a void, an event sent now to a webhook receiver of this test, the
// deliveries with every try, and a delivery sent again.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";

import { Sandbox, SandboxError, tenantId } from "../dist/index.js";
import { startSandbox } from "./sandbox.mjs";
import { decodaCharge, decodaPayment, vendorCall } from "./vendor.mjs";

const TIMEOUT = { timeout: 15_000 };
let server;
let sandbox;
let receiver;
let receiverUrl;
const received = [];

before(async () => {
  // A webhook receiver on loopback (the only kind of host the sandbox sends to by default).
  receiver = createServer((request, response) => {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk) => {
      body += chunk;
    });
    request.on("end", () => {
      received.push({ signature: request.headers["decoda-signature"], event: JSON.parse(body) });
      response.writeHead(200).end();
    });
  });
  await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  receiverUrl = `http://127.0.0.1:${receiver.address().port}/decoda`;
  server = await startSandbox();
  sandbox = new Sandbox(server.url);
}, { timeout: 40_000 });

after(async () => {
  await server?.stop();
  receiver?.close();
});

const tenantOf = (t) => sandbox.tenant(tenantId(["decoda.test.mjs", t.name]));

async function eventually(condition, what) {
  const deadline = Date.now() + 5_000;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`${what} did not happen within 5 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test("failPayment(): the payment fails, as an ACH return; failing it again is a 422", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  const payment = await decodaPayment(server.url, tenant);
  assert.deepEqual(await tenant.decoda.failPayment(payment.id, "R01: insufficient funds"), {
    done: "failed",
    id: payment.id,
    status: "FAILED",
  });
  const error = await tenant.decoda.failPayment(payment.id).catch((caught) => caught);
  assert.ok(error instanceof SandboxError);
  assert.equal(error.status, 422);
  assert.equal((await tenant.decoda.failPayment("pay_nothing").catch((caught) => caught)).status, 404);
});

test("voidCharge(): the charge is void; voiding it again is a 422", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  const charge = await decodaCharge(server.url, tenant);
  assert.deepEqual(await tenant.decoda.voidCharge(charge.id), { done: "voided", id: charge.id, status: "VOID" });
  const error = await tenant.decoda.voidCharge(charge.id).catch((caught) => caught);
  assert.equal(error.status, 422);
  assert.match(error.sandboxMessage, /\S/);
});

test("trigger(): an event reaches the tenant's webhook; deliveries() shows it with its try; send() tries again", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  const webhook = await vendorCall(server.url, "POST", "/webhook/decoda/create", {
    headers: tenant.decodaHeaders(),
    body: { url: receiverUrl, subscriptions: ["PATIENT_CREATED"] },
  });
  assert.equal(webhook.status, 200, JSON.stringify(webhook.body));

  const sent = await tenant.decoda.trigger({ type: "PATIENT_CREATED" });
  assert.equal(sent.type, "PATIENT_CREATED");
  assert.match(sent.eventId, /^evt_/);
  assert.equal(sent.deliveries.length, 1);
  assert.deepEqual(sent.subscribedTypes, ["PATIENT_CREATED"]);
  const [deliveryId] = sent.deliveries;
  await eventually(() => received.some((r) => r.event.id === sent.eventId), "the delivery to the receiver");
  assert.equal(received.find((r) => r.event.id === sent.eventId).event.data.id, sent.recordId);

  await eventually(async () => (await tenant.decoda.deliveries())[0]?.tries.length === 1, "the first try's record");
  const [delivery] = await tenant.decoda.deliveries({ limit: 10 });
  assert.equal(delivery.id, deliveryId);
  assert.equal(delivery.webhookId, webhook.body.id);
  assert.equal(delivery.url, receiverUrl);
  assert.equal(delivery.tries[0].status, 200);
  const page = await tenant.decoda.deliveriesPage();
  assert.equal(page.total, 1);
  assert.equal(page.dropped, 0);

  const again = await tenant.decoda.send(deliveryId);
  assert.equal(again.id, deliveryId);
  await eventually(async () => (await tenant.decoda.deliveries())[0].tries.length === 2, "the second try");
  assert.equal(received.filter((r) => r.event.id === sent.eventId).length, 2);
});

test("trigger() with no webhook listening sends nothing and says so", TIMEOUT, async (t) => {
  const tenant = tenantOf(t);
  const sent = await tenant.decoda.trigger({ type: "PAYMENT_FAILED" });
  assert.equal(sent.eventId, null);
  assert.deepEqual(sent.deliveries, []);
  assert.match(sent.message, /nothing was sent/);
  assert.deepEqual(await tenant.decoda.deliveries(), []);
});

test("send() of a delivery that is not there is a SandboxError 404", TIMEOUT, async (t) => {
  const error = await tenantOf(t).decoda.send("wda_nothing").catch((caught) => caught);
  assert.ok(error instanceof SandboxError);
  assert.equal(error.status, 404);
});
