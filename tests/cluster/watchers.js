// Several organisations' front ends, each the official @mycure/sdk-js over socket.io-client 2
// (reconnecting, as a page's socket does), watching `billing-soas` through a cluster. Driven by
// tests/cluster/test_live_updates.py over stdin, one JSON command a line, one JSON answer a line:
//   {"round": TAG, "retryMs": N}  each organisation creates, patches and removes a statement over
//   REST; its watcher must see each within WITHIN_MS (a create is tried again for up to retryMs
//   while sockets come back); answers what each saw, when, and any other organisation's note.
// Usage: node watchers.js BASE_URL ORG...
require('regenerator-runtime/runtime');
const readline = require('readline');
const io = require('socket.io-client');
const { Client } = require('@mycure/sdk-js/lib/client');
const { CRUDClientService } = require('@mycure/sdk-js/lib/utils');
const { AuthenticationService } = require('@mycure/sdk-js/lib/services/authentication/service');

const WITHIN_MS = 1000;
const QUIET_MS = 300;
const FACILITY = '5eb00000000000000000fa01';
const CUSTOMER = '5eb00000000000000000c001';

function memoryStorage () {
  const memory = {};
  return {
    getItem: (key) => (key in memory ? memory[key] : null),
    setItem: (key, value) => { memory[key] = value; },
    removeItem: (key) => { delete memory[key]; },
  };
}

async function frontEnd (base, org) {
  const socket = io(base, { reconnectionDelay: 200, reconnectionDelayMax: 1000 });
  // The creates heard as events (this listener runs before the SDK's): a list the SDK fetched
  // again after a reconnect also shows a new statement, and must not count as hearing it.
  const heard = new Set();
  socket.on('billing-soas created', (item) => heard.add(item.note));
  const client = new Client({ logger: () => {}, storage: memoryStorage() });
  client.use('auth', new AuthenticationService());
  client.initialize(base, { socket });
  const soas = client.use('billing-soas', new CRUDClientService('billing-soas'));
  const auth = client.service('auth');
  await auth.signin('local', { email: `watcher@${org}`, password: 'any' });
  await auth.signinSocket('jwt', { accessToken: await auth.getAccessToken() });
  const seenNotes = new Set();
  let latest = [];
  let notify = () => {};
  const unsubscribe = soas.find({ facility: FACILITY }).watch((items) => {
    latest = items.map((item) => ({ ...item }));
    // Only the notes this script writes (`org:round:attempt`), not the seed data's.
    for (const item of latest) if (/^[^:]+:[^:]+:\d+$/.test(item.note || '')) seenNotes.add(item.note);
    notify();
  });
  const until = (test) => new Promise((resolve) => {
    const started = Date.now();
    const timer = setTimeout(() => { notify = () => {}; resolve(null); }, WITHIN_MS);
    notify = () => {
      if (!test(latest)) return;
      clearTimeout(timer);
      notify = () => {};
      resolve(Date.now() - started);
    };
  });
  const writer = await fetch(`${base}/authentication`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ strategy: 'local', email: `writer@${org}`, password: 'any' }),
  }).then((response) => response.json());
  return { org, socket, heard, seenNotes, until, unsubscribe, token: writer.accessToken };
}

async function rest (base, method, path, token, body) {
  try {
    const response = await fetch(base + path, {
      method,
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: body && JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() };
  } catch (error) {
    return { status: 0, body: String(error) };
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// One organisation's round: create (tried again while `retryMs` lasts), patch, remove.
async function round (base, end, tag, retryMs) {
  const deadline = Date.now() + retryMs;
  let attempts = 0;
  let created = null;
  let createdMs = null;
  while (true) {
    attempts += 1;
    const note = `${end.org}:${tag}:${attempts}`;
    const seen = end.until((items) => end.heard.has(note) && items.some((item) => item.note === note));
    const made = await rest(base, 'POST', '/billing-soas', end.token,
      { facility: FACILITY, type: 'organization', customer: CUSTOMER, note });
    if (made.status !== 201) { await seen; }
    createdMs = made.status === 201 ? await seen : null;
    if (made.status === 201) created = made.body;
    if (createdMs !== null || Date.now() > deadline) break;
    await sleep(300);
  }
  const out = { org: end.org, attempts, createdMs, patchedMs: null, removedMs: null };
  if (createdMs === null) return out;
  const id = created.id;
  let seen = end.until((items) => items.some((item) => item.id === id && item.finalizedAt));
  await rest(base, 'PATCH', `/billing-soas/${id}`, end.token, { finalize: true });
  out.patchedMs = await seen;
  seen = end.until((items) => !items.some((item) => item.id === id));
  await rest(base, 'DELETE', `/billing-soas/${id}`, end.token);
  out.removedMs = await seen;
  return out;
}

async function main (base, orgs) {
  const ends = [];
  for (const org of orgs) ends.push(await frontEnd(base, org));
  console.log(JSON.stringify({ ready: true }));
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    const command = JSON.parse(line);
    if (command.stop) break;
    const results = [];
    for (const end of ends) results.push(await round(base, end, command.round, command.retryMs || 0));
    await sleep(QUIET_MS);
    const leaked = {};
    for (const end of ends) {
      leaked[end.org] = [...end.seenNotes].filter((note) => !note.startsWith(`${end.org}:`));
    }
    console.log(JSON.stringify({ results, leaked }));
  }
  for (const end of ends) { end.unsubscribe(); end.socket.close(); }
  process.exit(0);
}

main(process.argv[2], process.argv.slice(3)).catch((error) => {
  console.error(error);
  process.exit(1);
});
