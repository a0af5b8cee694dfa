// Drives @mycure/sdk-js's `find(query).watch(callback)` against a sandbox over a real
// socket.io-client (2.x, as a Feathers 4 server's socket.io 2 needs): one organisation's watcher
// sees a statement created, finalized and removed over REST by another client of it; a second
// organisation's watcher sees none of it. Prints one JSON document. Usage: node watch.js BASE_URL
require('regenerator-runtime/runtime'); // the SDK's published build expects it as a global
const io = require('socket.io-client');
const { Client } = require('@mycure/sdk-js/lib/client');
const { CRUDClientService } = require('@mycure/sdk-js/lib/utils');
const { AuthenticationService } = require('@mycure/sdk-js/lib/services/authentication/service');

const WITHIN_MS = 1000;
const QUIET_MS = 300;

function memoryStorage () {
  const memory = {};
  return {
    getItem: (key) => (key in memory ? memory[key] : null),
    setItem: (key, value) => { memory[key] = value; },
    removeItem: (key) => { delete memory[key]; },
  };
}

// A front end's setup: a socket (the client's default transports: polling, then websocket),
// the SDK on it, signed in, and a watcher on the statements that calls back with every list.
async function frontEnd (base, email) {
  const socket = io(base, { reconnection: false });
  const client = new Client({ logger: () => {}, storage: memoryStorage() });
  client.use('auth', new AuthenticationService());
  client.initialize(base, { socket });
  const soas = client.use('billing-soas', new CRUDClientService('billing-soas'));
  const auth = client.service('auth');
  await auth.signin('local', { email, password: 'any' });
  // `signin` signs the socket in without waiting; wait for it, as a page would before trusting it.
  await auth.signinSocket('jwt', { accessToken: await auth.getAccessToken() });
  const lists = [];
  let notify = () => {};
  const unsubscribe = soas.find({ facility: '5eb00000000000000000fa01' }).watch((items) => {
    lists.push(items.map((item) => ({ ...item })));
    notify();
  });
  const changed = (test) => new Promise((resolve, reject) => {
    const started = Date.now();
    const timer = setTimeout(() => reject(new Error(`no matching list within ${WITHIN_MS} ms`)), WITHIN_MS);
    notify = () => {
      const items = lists[lists.length - 1];
      if (!test(items)) return;
      clearTimeout(timer);
      notify = () => {};
      resolve({ ms: Date.now() - started, items });
    };
  });
  await new Promise((resolve) => { notify = resolve; if (lists.length) resolve(); });
  return { socket, lists, changed, unsubscribe };
}

async function rest (base, method, path, token, body) {
  const response = await fetch(base + path, {
    method,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: body && JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

// What a step shows: REST's answer, how long the watcher took to see it, and its list's copy.
async function step (seen, made, id) {
  const { ms, items } = await seen;
  const listed = items.find((item) => item.id === id) || null;
  return { status: made.status, body: made.body, ms, listed, count: items.length };
}

async function main (base) {
  const watcher = await frontEnd(base, 'watcher@clinic-watch-a.test');
  const other = await frontEnd(base, 'watcher@clinic-watch-b.test');
  const otherLists = other.lists.length;
  const signedIn = await fetch(`${base}/authentication`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ strategy: 'local', email: 'writer@clinic-watch-a.test', password: 'any' }),
  }).then((response) => response.json());
  const token = signedIn.accessToken;
  const out = { initial: watcher.lists[0].length };

  let seen = watcher.changed((items) => items.some((item) => item.note === 'watched'));
  const created = await rest(base, 'POST', '/billing-soas', token, {
    facility: '5eb00000000000000000fa01', type: 'organization', customer: '5eb00000000000000000c001', note: 'watched',
  });
  const id = created.body.id;
  out.created = await step(seen, created, id);

  seen = watcher.changed((items) => items.some((item) => item.id === id && item.finalizedAt));
  const finalized = await rest(base, 'PATCH', `/billing-soas/${id}`, token, { finalize: true });
  out.finalized = await step(seen, finalized, id);

  seen = watcher.changed((items) => !items.some((item) => item.id === id));
  const removed = await rest(base, 'DELETE', `/billing-soas/${id}`, token);
  out.removed = await step(seen, removed, id);

  await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
  out.otherListsAfterSignIn = other.lists.length - otherLists;
  out.transport = watcher.socket.io.engine.transport.name;
  watcher.unsubscribe();
  other.unsubscribe();
  console.log(JSON.stringify(out));
  // Each SDK request races a 5-minute timer that would keep Node alive after the walk.
  process.exit(0);
}

main(process.argv[2]).catch((error) => {
  console.error(error);
  process.exit(1);
});
