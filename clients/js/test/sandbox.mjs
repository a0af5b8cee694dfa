// A real sandbox for the tests: `billing-sandbox serve` (or `cluster`, shards behind HAProxy)
// started as a process on free loopback ports, ready once `/_sandbox/health` answers, and
// stopped by its PID. The executable is $BILLING_SANDBOX_BIN, else the repository's venv.
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const BIN = process.env.BILLING_SANDBOX_BIN || resolve(packageDir, "../../.venv/bin/billing-sandbox");
const START_TIMEOUT_MS = 30_000;
const CLUSTER_START_TIMEOUT_MS = 45_000;
const STOP_TIMEOUT_MS = 15_000;
const ATTEMPTS = 3;

// Sandboxes still running when this process ends (a test file that threw before its
// `after`) are killed with it, each by its process group (its own PID), so none is left.
const running = new Set();
process.once("exit", () => {
  for (const child of running) killGroup(child, "SIGKILL");
});

/**
 * `billing-sandbox serve` with `args` (beside --port and --quiet): `{url, pid, stop()}` once
 * it answers. Bounded: 30 s to start, 15 s to stop before SIGKILL.
 */
export async function startSandbox(args = []) {
  return startWithRetries(async () => {
    const port = await freePort();
    return { port, command: ["serve", "--port", String(port), "--quiet", ...args], startMs: START_TIMEOUT_MS, ready: healthy };
  });
}

/** Whether `billing-sandbox cluster` can run here: it needs HAProxy and Redis on the PATH. */
export function clusterTools() {
  const missing = ["haproxy", "redis-server"].filter((program) => spawnSync("sh", ["-c", `command -v ${program}`]).status !== 0);
  return missing.length === 0 ? null : `no ${missing.join(" or ")} on the PATH`;
}

/** `billing-sandbox cluster` of `shards` shards (HAProxy, the shards, the merger and Redis on
 *  consecutive ports, HAProxy's exporter last): `{url, pid, stop()}` once HAProxy answers. */
export async function startCluster(shards = 2, args = []) {
  return startWithRetries(async () => {
    // HAProxy's port, then a port for each shard, the merger, Redis and HAProxy's exporter.
    const port = await freePortBlock(shards + 4);
    const command = ["cluster", "--shards", String(shards), "--port", String(port), "--quiet", ...args];
    return { port, command, startMs: CLUSTER_START_TIMEOUT_MS, ready: everyShardAnswers };
  });
}

/** Another process may take a port between our check and the sandbox's bind: try again then. */
async function startWithRetries(plan) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await start(await plan());
    } catch (error) {
      if (!error.exitedEarly || attempt === ATTEMPTS) throw error;
    }
  }
}

async function start({ port, command, startMs, ready }) {
  // The server reads BILLING_SANDBOX_* from its environment: none of the caller's may leak
  // in (a control token set for another test run would change every answer here).
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("BILLING_SANDBOX_")));
  // Its own process group: a cluster's HAProxy, shards and Redis are its children, and a
  // last-resort SIGKILL must reach them too.
  const child = spawn(BIN, command, { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  running.add(child);
  let output = "";
  const keep = (chunk) => {
    output = (output + chunk).slice(-4000);
  };
  child.stdout.setEncoding("utf8").on("data", keep);
  child.stderr.setEncoding("utf8").on("data", keep);
  const exited = new Promise((resolveExit) =>
    child.once("exit", (code, signal) => {
      running.delete(child);
      resolveExit({ code, signal });
    }),
  );
  const spawnFailed = new Promise((resolveError) => child.once("error", resolveError));

  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => killGroup(child, "SIGKILL"), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  const deadline = Date.now() + startMs;
  for (;;) {
    const failed = await Promise.race([spawnFailed, exited, delay(100).then(() => null)]);
    if (failed instanceof Error) {
      running.delete(child);
      throw new Error(`cannot run ${BIN} (set BILLING_SANDBOX_BIN to billing-sandbox's executable): ${failed.message}`);
    }
    if (failed !== null) {
      const error = new Error(`billing-sandbox ${command[0]} exited (${failed.code ?? failed.signal}) before it answered:\n${output}`);
      error.exitedEarly = true;
      throw error;
    }
    if (await ready(url)) return { url, pid: child.pid, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`billing-sandbox ${command[0]} did not answer at ${url} within ${startMs / 1000} s:\n${output}`);
    }
  }
}

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

/** A free port on 127.0.0.1: the OS picks one for a socket that is then closed. `serve
 *  --port 0` would bind one too, but never says which. */
async function freePort() {
  const server = await listening(0);
  const { port } = server.address();
  await new Promise((resolveClose) => server.close(resolveClose));
  return port;
}

/** `count` consecutive free ports, the first of them. */
async function freePortBlock(count) {
  for (let tries = 0; tries < 20; tries += 1) {
    const first = await freePort();
    if (first + count > 65_535) continue;
    const held = [];
    try {
      for (let port = first; port < first + count; port += 1) held.push(await listening(port));
      return first;
    } catch {
      // One of them is taken: another block.
    } finally {
      await Promise.all(held.map((server) => new Promise((resolveClose) => server.close(resolveClose))));
    }
  }
  throw new Error(`found no ${count} consecutive free ports on 127.0.0.1`);
}

function listening(port) {
  return new Promise((resolveServer, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolveServer(server));
  });
}

async function healthy(url) {
  return (await answer(`${url}/_sandbox/health`)) !== null;
}

/** The merger answers before its shards do: a cluster is ready when none is `down`. */
async function everyShardAnswers(url) {
  const page = await answer(`${url}/_sandbox/requests?limit=1`);
  return Array.isArray(page?.down) && page.down.length === 0;
}

/** The JSON `url` answers with a 2xx, else null. */
async function answer(url) {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
    const body = await response.text();
    return response.ok ? JSON.parse(body) : null;
  } catch {
    return null;
  }
}

function delay(ms) {
  return new Promise((resolveDelay) => setTimeout(resolveDelay, ms));
}
