/**
 * Playwright fixtures: `import { test, expect } from "billing-sandbox/playwright"`.
 *
 * - `tenant`: this test's own tenant, named from the test (its file, describe blocks and
 *   title), so parallel workers never see each other's records, fault rules or journal
 *   entries; emptied before the test, as the same test gets the same id on every run. It
 *   carries the credentials for each API (`decodaHeaders()`, `candidHeaders()`,
 *   `mycureEmail`, `mycureHeaders()`) and its control API (`faults`, `journal`, `clock`…).
 * - `sandbox`: the control API of the whole sandbox. Its resets and journal span every
 *   tenant, other workers' too: prefer the tenant's.
 * - `keepTenant` (option, default false): after the test its tenant is reset, unless this
 *   is true (`test.use({ keepTenant: true })`, to look at its records in the dashboard).
 * - `sandboxUrl`, `sandboxControlToken` (worker options): by default `BILLING_SANDBOX_URL`
 *   (which `billing-sandbox/playwright/setup` sets when it starts a sandbox) and
 *   `BILLING_SANDBOX_CONTROL_TOKEN`.
 *
 * After each test, whatever it did, the fault rules it added are removed, through either
 * fixture, whichever tenant they match: a rule left behind would fault the next test, or
 * another worker's.
 */

import { test as base, type TestInfo } from "@playwright/test";

import { Sandbox, SandboxError, type Tenant, tenantId } from "./index.js";

export { expect } from "@playwright/test";
// The fixtures' types, for helpers that take them (`(tenant: Tenant) => …`).
export type { Sandbox, Tenant } from "./index.js";
export {
  type StartedSandbox,
  type StartSandboxOptions,
  startSandbox,
} from "./playwright-setup.js";

/** Options a test file or project sets with `test.use({...})`. */
export interface SandboxTestOptions {
  keepTenant: boolean;
}

/** Options for a whole worker (config `use`, or a project's). */
export interface SandboxWorkerOptions {
  sandboxUrl: string | undefined;
  sandboxControlToken: string | undefined;
}

export interface SandboxFixtures {
  sandbox: Sandbox;
  tenant: Tenant;
}

interface WorkerFixtures extends SandboxWorkerOptions {
  // The URL, checked once per worker: a sandbox that is not there fails with one clear
  // message rather than every test with a connection error.
  checkedSandboxUrl: string;
}

export const test = base.extend<SandboxTestOptions & SandboxFixtures, WorkerFixtures>({
  sandboxUrl: [undefined, { scope: "worker", option: true }],
  sandboxControlToken: [undefined, { scope: "worker", option: true }],
  keepTenant: [false, { option: true }],

  checkedSandboxUrl: [
    async ({ sandboxUrl, sandboxControlToken }, use) => {
      const url = sandboxUrl ?? process.env["BILLING_SANDBOX_URL"];
      if (!url) {
        throw new Error(
          "billing-sandbox: no sandbox to test against: add " +
            'globalSetup: "billing-sandbox/playwright/setup" to playwright.config (it starts ' +
            "one), or set BILLING_SANDBOX_URL (or the sandboxUrl option) to a running sandbox",
        );
      }
      const sandbox = new Sandbox(controlOptions(url, sandboxControlToken));
      try {
        await sandbox.health();
        // Health answers anyone; this call tells whether the control API takes our token.
        await sandbox.faults.rules();
      } catch (error) {
        throw new Error(`billing-sandbox: the sandbox at ${url} cannot serve this run: ${why(error)}${hint(error)}`);
      }
      await use(url);
    },
    { scope: "worker", box: true },
  ],

  sandbox: async ({ checkedSandboxUrl, sandboxControlToken }, use) => {
    const added = new Set<string>();
    const options = controlOptions(checkedSandboxUrl, sandboxControlToken);
    const sandbox = new Sandbox({ ...options, fetch: notingAddedRules(added) });
    await use(sandbox);
    for (const id of added) {
      await removeIfThere(sandbox, id);
    }
  },

  tenant: async ({ sandbox, keepTenant }, use, testInfo) => {
    const tenant = sandbox.tenant(tenantId(titleOf(testInfo)));
    // The id is the same on every run, and a sandbox may outlive a run: without this the
    // test would see what its last run left (records, rules, journal entries).
    await tenant.reset();
    await tenant.faults.clear();
    await tenant.journal.clear();
    await use(tenant);
    // Rules matching this tenant only, however they were added (the `sandbox` fixture
    // removes those it saw added, whichever tenant they match).
    await tenant.faults.clear();
    if (!keepTenant) await tenant.reset();
  },
});

/**
 * What names the test's tenant: its title path (file, describe blocks, title), and what
 * else can run the same test at the same time: another project, another `--repeat-each`
 * copy. Not the worker's index, which changes between runs: the same test gets the same
 * tenant, and the same seeded records, on every run.
 */
function titleOf(testInfo: TestInfo): string[] {
  // In front: the id's readable part is the last one, the test's own title.
  const copy = testInfo.repeatEachIndex > 0 ? [`repeat ${testInfo.repeatEachIndex}`] : [];
  const project = testInfo.project.name ? [testInfo.project.name] : [];
  return [...project, ...copy, ...testInfo.titlePath];
}

function controlOptions(url: string, token: string | undefined): { url: string; controlToken?: string } {
  const controlToken = token ?? process.env["BILLING_SANDBOX_CONTROL_TOKEN"];
  return controlToken ? { url, controlToken } : { url };
}

/**
 * A `fetch` that notes the id of every fault rule created through it (`POST
 * /_sandbox/faults` answered 201), so they can be removed after the test: the rules the
 * test added, and none that other workers added in the meantime.
 */
function notingAddedRules(added: Set<string>): typeof fetch {
  return async (input, init) => {
    // The global, looked up per call as the client does, so a test may still replace it.
    const answer = await globalThis.fetch(input, init);
    const request = input instanceof Request ? input : undefined;
    const method = (init?.method ?? request?.method ?? "GET").toUpperCase();
    const url = request?.url ?? String(input);
    if (answer.status === 201 && method === "POST" && new URL(url).pathname.endsWith("/_sandbox/faults")) {
      const rule: unknown = await answer.clone().json();
      if (typeof rule === "object" && rule !== null && "id" in rule && typeof rule.id === "string") {
        added.add(rule.id);
      }
    }
    return answer;
  };
}

async function removeIfThere(sandbox: Sandbox, id: string): Promise<void> {
  try {
    await sandbox.faults.remove(id);
  } catch (error) {
    // Removed by the test itself, or by a `clear()`: nothing left to do.
    if (error instanceof SandboxError && error.status === 404) return;
    throw error;
  }
}

function why(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** What to do about a control API that refuses us. */
function hint(error: unknown): string {
  if (!(error instanceof SandboxError)) return "";
  if (error.status === 401) {
    return "; set BILLING_SANDBOX_CONTROL_TOKEN (or the sandboxControlToken option) to the token it was started with";
  }
  if (error.status === 403) {
    return (
      "; its control API answers only its own machine: start it with --control-token TOKEN " +
      "and set BILLING_SANDBOX_CONTROL_TOKEN to the same"
    );
  }
  return "";
}
