// The client's errors: a sandbox that is not there, one too slow, one that wants a control
// token (a real `billing-sandbox serve --control-token`), answers that are not JSON.
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { after, before, test } from "node:test";

import { JournalTimeout, Sandbox, SandboxError } from "../dist/index.js";
import { startSandbox } from "./sandbox.mjs";

const TIMEOUT = { timeout: 15_000 };
const TOKEN = "s3cret-of-this-test";
let guarded;
let silent;
const sockets = new Set();

before(async () => {
  guarded = await startSandbox(["--control-token", TOKEN]);
  // Accepts connections and never answers.
  silent = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise((resolve) => silent.listen(0, "127.0.0.1", resolve));
}, { timeout: 40_000 });

after(async () => {
  await guarded?.stop();
  for (const socket of sockets) socket.destroy();
  silent?.close();
});

/** A loopback port nothing listens on: the OS's pick for a socket then closed. */
async function deadPort() {
  const probe = createServer();
  await new Promise((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

test("nothing answering is a SandboxError with status null, naming the sandbox", TIMEOUT, async () => {
  const url = `http://127.0.0.1:${await deadPort()}`;
  const error = await new Sandbox(url).health().catch((caught) => caught);
  assert.ok(error instanceof SandboxError);
  assert.ok(error instanceof Error);
  assert.equal(error.name, "SandboxError");
  assert.equal(error.status, null);
  assert.equal(error.body, undefined);
  assert.match(error.message, new RegExp(`^no sandbox answers at ${url} \\(GET ${url}/_sandbox/health: TypeError: fetch failed`));
  assert.match(error.sandboxMessage, /ECONNREFUSED/);
  // Every call goes the same way, a tenant's and a credential's too.
  const tenant = new Sandbox(url).tenant("acme.test");
  assert.equal((await tenant.reset().catch((caught) => caught)).status, null);
  assert.equal((await tenant.candidToken().catch((caught) => caught)).status, null);
});

test("a sandbox that does not answer in time is a SandboxError with status null, after timeoutMs", TIMEOUT, async () => {
  const url = `http://127.0.0.1:${silent.address().port}`;
  const started = performance.now();
  const error = await new Sandbox({ url, timeoutMs: 300 }).tenant("acme.test").clock.state().catch((caught) => caught);
  const elapsed = performance.now() - started;
  assert.ok(error instanceof SandboxError);
  assert.equal(error.status, null);
  assert.match(error.message, /: the sandbox at http:\/\/127\.0\.0\.1:\d+ did not answer within 0\.3 s$/);
  assert.ok(elapsed >= 290 && elapsed < 2_000, `took ${elapsed} ms`);
});

test("a control token refused is a SandboxError 401 with the sandbox's message", TIMEOUT, async () => {
  for (const sandbox of [new Sandbox(guarded.url), new Sandbox({ url: guarded.url, controlToken: "wrong" })]) {
    const error = await sandbox.faults.rules().catch((caught) => caught);
    assert.ok(error instanceof SandboxError);
    assert.equal(error.status, 401);
    assert.equal(error.body.error, "Unauthenticated");
    assert.match(error.sandboxMessage, /token/);
    assert.match(error.message, /^GET http:\/\/127\.0\.0\.1:\d+\/_sandbox\/faults answered 401: Unauthenticated: /);
  }
});

test("with the right control token every call goes through; health needs none", TIMEOUT, async () => {
  assert.equal((await new Sandbox(guarded.url).health()).status, "ok");
  const sandbox = new Sandbox({ url: guarded.url, controlToken: TOKEN });
  assert.deepEqual(await sandbox.faults.rules(), []);
  const tenant = sandbox.tenant("guarded.test");
  assert.equal((await tenant.clock.advance(0)).tenant, "guarded.test");
  assert.equal((await tenant.journal.query()).requests.length, 0);
  // Vendor calls never carry the control token: a sign-in works as for any client.
  assert.match(await tenant.candidToken(), /\S/);
});

test("a vendor API's refusal is a SandboxError carrying its status and envelope", TIMEOUT, async () => {
  const tenant = new Sandbox({ url: guarded.url, controlToken: TOKEN }).tenant("guarded.test", { candidClientSecret: "" });
  const error = await tenant.candidToken().catch((caught) => caught);
  assert.ok(error instanceof SandboxError);
  assert.ok(error.status >= 400 && error.status < 500, `status ${error.status}`);
  assert.match(error.message, /^POST http:\/\/127\.0\.0\.1:\d+\/api\/auth\/v2\/token answered 4\d\d: /);
  assert.notEqual(error.body, undefined);
});

test("answers that are not JSON: a refusal keeps its text, a 2xx is an error", TIMEOUT, async () => {
  const answering = (status, text) => async () => new Response(text, { status, statusText: "Teapot" });
  const refused = await new Sandbox({ url: "http://sandbox.test", fetch: answering(502, "<html>bad gateway</html>") })
    .health()
    .catch((caught) => caught);
  assert.equal(refused.status, 502);
  assert.equal(refused.body, undefined);
  assert.equal(refused.sandboxMessage, "<html>bad gateway</html>");
  assert.match(refused.message, /answered 502: <html>bad gateway<\/html>$/);

  const odd = await new Sandbox({ url: "http://sandbox.test", fetch: answering(200, "ok!") }).health().catch((caught) => caught);
  assert.ok(odd instanceof SandboxError);
  assert.equal(odd.status, 200);
  assert.match(odd.message, /answered 200 with a body that is not JSON: ok!$/);

  const empty = await new Sandbox({ url: "http://sandbox.test", fetch: answering(503, "") }).reset().catch((caught) => caught);
  assert.equal(empty.status, 503);
  assert.equal(empty.sandboxMessage, "Teapot");
});

test("the fetch given is the one used, with the control token and a JSON body", TIMEOUT, async () => {
  const sent = [];
  const recording = async (url, init) => {
    sent.push({ url, init });
    return Response.json({ id: "1", match: {}, effect: { status: 503 }, probability: 1, count: null, fired: 0, until: null }, { status: 201 });
  };
  const sandbox = new Sandbox({ url: "http://sandbox.test/", controlToken: "t0k", fetch: recording });
  await sandbox.tenant("a-b.test").faults.add({ effect: { status: 503 } });
  assert.equal(sent[0].url, "http://sandbox.test/_sandbox/faults");
  assert.equal(sent[0].init.method, "POST");
  assert.equal(sent[0].init.headers.Authorization, "Bearer t0k");
  assert.equal(sent[0].init.headers["Content-Type"], "application/json");
  assert.deepEqual(JSON.parse(sent[0].init.body), { match: { tenant: "a-b.test" }, effect: { status: 503 } });
});

test("ids in paths are one segment each, encoded", TIMEOUT, async () => {
  const urls = [];
  const recording = async (url) => {
    urls.push(url);
    return Response.json({ id: "x", match: {}, effect: {}, probability: 1, count: null, fired: 0, until: null });
  };
  await new Sandbox({ url: "http://sandbox.test", fetch: recording }).faults.remove("a/b?c#d");
  assert.equal(urls[0], "http://sandbox.test/_sandbox/faults/a%2Fb%3Fc%23d");
});

test("a URL that is not http(s), or a timeout that is not one, is refused at once", () => {
  assert.throws(() => new Sandbox("localhost:8000"), TypeError);
  assert.throws(() => new Sandbox({ url: "ftp://x" }), TypeError);
  assert.throws(() => new Sandbox({ url: "http://x", timeoutMs: 0 }), RangeError);
});

test("JournalTimeout is an Error of its own, not a SandboxError", () => {
  const error = new JournalTimeout("no request", []);
  assert.ok(error instanceof Error);
  assert.ok(!(error instanceof SandboxError));
  assert.equal(error.name, "JournalTimeout");
  assert.deepEqual(error.seen, []);
});
