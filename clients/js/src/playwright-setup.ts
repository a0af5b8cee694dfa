/**
 * A sandbox for a Playwright run: `globalSetup: "billing-sandbox/playwright/setup"` in
 * playwright.config starts `billing-sandbox serve` on a free loopback port before the first
 * worker, hands its URL to the workers in `BILLING_SANDBOX_URL`, and stops it (by its PID)
 * after the last. With `BILLING_SANDBOX_URL` already set, the run uses that sandbox and
 * starts nothing: a sandbox you run yourself, the container, a shared one.
 *
 * Node only (child processes, sockets), so it is an entry of its own: the fixtures in
 * `billing-sandbox/playwright` and the client stay free of it.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";

/** How to start a sandbox of this run's own. */
export interface StartSandboxOptions {
  /** The `billing-sandbox` executable: by default `BILLING_SANDBOX_BIN`, else the one on PATH. */
  executable?: string;
  /** More `serve` flags (`["--seed", "7"]`). Other settings come from `BILLING_SANDBOX_*`
   * variables, which `serve` reads itself; `--host`, `--port` and `--quiet` are set here. */
  args?: readonly string[];
  /** How long to wait for `/_sandbox/health` to answer (default 30 s). */
  startTimeoutMs?: number;
}

/** A running sandbox: where it answers, and how to stop it. */
export interface StartedSandbox {
  readonly url: string;
  /** The server's process id. */
  readonly pid: number;
  /** Stops the server: SIGTERM, then SIGKILL after 10 s; a no-op once it has ended. */
  stop(): Promise<void>;
}

const LOOPBACK = "127.0.0.1";
const HEALTH = "/_sandbox/health";
// A free port can be taken by someone else between our probe and the server's bind; a
// server that could not bind it is retried on another port, this many times in all.
const PORT_ATTEMPTS = 3;
const PORT_TAKEN = /address already in use|EADDRINUSE|Errno 98/i;
const STOP_GRACE_MS = 10_000;
// What `serve` says on stderr is kept for an error message, and no more than this of it.
const STDERR_KEPT = 8_192;

/**
 * Starts `billing-sandbox serve` on a free loopback port and resolves once its health check
 * answers. Rejects with what the server said when it cannot start (missing executable, a
 * bad flag, a port taken), and never leaves a process behind when it rejects.
 */
export async function startSandbox(options: StartSandboxOptions = {}): Promise<StartedSandbox> {
  const executable = options.executable ?? process.env["BILLING_SANDBOX_BIN"] ?? "billing-sandbox";
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  let lastFailure: Error | undefined;
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt += 1) {
    const port = await freePort();
    const args = ["serve", ...(options.args ?? []), "--host", LOOPBACK, "--port", String(port), "--quiet"];
    try {
      return await launch(executable, args, `http://${LOOPBACK}:${port}`, startTimeoutMs);
    } catch (error) {
      if (!(error instanceof PortTaken)) throw error;
      lastFailure = error;
    }
  }
  throw lastFailure ?? new Error("billing-sandbox: the sandbox did not start");
}

/**
 * Playwright's global setup. Returns the global teardown (Playwright calls a function that
 * global setup returns once every worker is done).
 */
export default async function globalSetup(): Promise<() => Promise<void>> {
  const given = process.env["BILLING_SANDBOX_URL"];
  if (given) {
    // Fail the run once, here, rather than every test with the same connection error.
    await checkAnswers(given.replace(/\/+$/, ""));
    return async () => {};
  }
  const sandbox = await startSandbox();
  // Workers start after global setup, and inherit the runner's environment.
  process.env["BILLING_SANDBOX_URL"] = sandbox.url;
  return async () => {
    delete process.env["BILLING_SANDBOX_URL"];
    await sandbox.stop();
  };
}

/** The server could not bind its port: worth another port, unlike any other failure. */
class PortTaken extends Error {}

async function launch(
  executable: string,
  args: string[],
  url: string,
  startTimeoutMs: number,
): Promise<StartedSandbox> {
  const child = spawn(executable, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  // Read stderr to its end whatever happens, so a chatty server never blocks on a full pipe.
  child.stderr?.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_KEPT);
  });
  const exited = new Promise<string>((resolve) => {
    child.once("error", (error) => resolve(spawnFailure(executable, error)));
    // "close", not "exit": by then stderr has been read to its end, for the message.
    child.once("close", (code, signal) => {
      const how = signal === null ? `exit status ${code ?? "?"}` : `signal ${signal}`;
      resolve(`\`${executable} ${args.join(" ")}\` ended (${how}) before it answered`);
    });
  });
  // A runner that ends without its teardown (an uncaught error) must not leave the server.
  const killOnExit = (): void => {
    if (isRunning(child)) child.kill("SIGKILL");
  };
  process.once("exit", killOnExit);
  const stop = async (): Promise<void> => {
    process.removeListener("exit", killOnExit);
    await stopProcess(child, exited);
  };

  // Set when the process ends (or never started): the wait below stops on it at once.
  const ended: { why: string | null } = { why: null };
  void exited.then((why) => {
    ended.why = why;
  });
  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    // Answering while our process is gone would be someone else's server on that port.
    const up = await answersHealth(url);
    if (ended.why !== null) {
      process.removeListener("exit", killOnExit);
      if (child.pid === undefined) throw new Error(ended.why); // nothing to run
      const message = `billing-sandbox: ${ended.why}${said(stderr)}`;
      // Only a port taken since we probed it is cured by another port; a bad flag is not.
      throw PORT_TAKEN.test(stderr) ? new PortTaken(message) : new Error(message);
    }
    if (up) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `billing-sandbox: ${url}${HEALTH} did not answer within ${startTimeoutMs} ms ` +
          `after \`${executable} ${args.join(" ")}\`${said(stderr)}`,
      );
    }
    await sleep(100);
  }
  return { url, pid: child.pid ?? 0, stop }; // a pid is there: the process answered
}

function spawnFailure(executable: string, error: NodeJS.ErrnoException): string {
  if (error.code === "ENOENT") {
    return (
      `billing-sandbox: no \`${executable}\` to run: install billing-sandbox ` +
      "(pip install billing-sandbox), set BILLING_SANDBOX_BIN to its path, " +
      "or set BILLING_SANDBOX_URL to a sandbox that is already running"
    );
  }
  return `billing-sandbox: cannot run \`${executable}\`: ${error.message}`;
}

function said(stderr: string): string {
  const text = stderr.trim();
  return text === "" ? "" : `; it said:\n${text}`;
}

function isRunning(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

/** SIGTERM (the server saves its state and closes its streams), SIGKILL if it lingers. */
async function stopProcess(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (!isRunning(child)) return;
  child.kill("SIGTERM");
  const gone = await Promise.race([exited.then(() => true), sleep(STOP_GRACE_MS).then(() => false)]);
  if (!gone && isRunning(child)) {
    child.kill("SIGKILL");
    await exited;
  }
}

async function checkAnswers(url: string): Promise<void> {
  if (!(await answersHealth(url))) {
    throw new Error(
      `billing-sandbox: nothing answers at ${url}${HEALTH} (BILLING_SANDBOX_URL): start the ` +
        "sandbox there, or unset BILLING_SANDBOX_URL to have the run start one of its own",
    );
  }
}

async function answersHealth(url: string): Promise<boolean> {
  try {
    const answer = await fetch(url + HEALTH, { signal: AbortSignal.timeout(2_000) });
    await answer.body?.cancel();
    return answer.ok;
  } catch {
    return false;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, LOOPBACK, () => {
      const address = probe.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      probe.close(() => (port > 0 ? resolve(port) : reject(new Error("no free port"))));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
