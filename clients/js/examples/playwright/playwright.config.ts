/**
 * Browser tests of a small MYCURE app against billing-sandbox, in Debian's Chromium, headless.
 * No browser is downloaded: Playwright is pointed at the system's (`CHROMIUM`, by default
 * /usr/bin/chromium), and run.sh sets PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1.
 *
 * The sandbox: `billing-sandbox serve` started for the run by the package's global setup (on
 * a free loopback port; the executable is `BILLING_SANDBOX_BIN`, else `billing-sandbox` on
 * PATH), or the one at `BILLING_SANDBOX_URL`, when set, which is then used as it is.
 */

import { randomUUID } from "node:crypto";

import { defineConfig } from "@playwright/test";

// One id for the whole run: the runner reads this file first and the workers, which read it
// again, inherit its environment, so they all see the runner's value.
process.env["EXAMPLE_RUN_ID"] ??= randomUUID().slice(0, 8);

export default defineConfig({
  testDir: ".",
  testMatch: "*.spec.ts",
  fullyParallel: true,
  workers: 2,
  forbidOnly: !!process.env["CI"],
  retries: 0,
  timeout: 30_000, // each test
  globalTimeout: 240_000, // the whole run (run.sh's `timeout 300` is the last resort)
  expect: { timeout: 5_000 },
  reporter: "list",
  globalSetup: "billing-sandbox/playwright/setup",
  use: {
    browserName: "chromium",
    headless: true,
    launchOptions: {
      executablePath: process.env["CHROMIUM"] ?? "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox", // root in a container has no user namespaces for Chromium's sandbox
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        // Chromium calls home for updates, sync and field trials: none of it here.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
    screenshot: "only-on-failure",
    trace: "off",
  },
});
