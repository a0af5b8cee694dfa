/**
 * The example's fixtures: billing-sandbox's (`sandbox`, `tenant`, `keepTenant`) and one of
 * its own, `openApp`, which serves the app under test (app/index.html) on a free loopback
 * port with node:http and opens it as one tenant's user. A loopback origin is one the
 * sandbox's CORS lets in by default, so the page calls the sandbox straight from the browser.
 */

import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

import type { Page } from "@playwright/test";
import { type Sandbox, test as sandboxTest, type Tenant } from "billing-sandbox/playwright";

export { expect } from "billing-sandbox/playwright";

interface AppFixtures {
  /** Opens the app in `page`, signed in as `tenant`'s MYCURE user. */
  openApp: (tenant: Tenant) => Promise<Page>;
}

interface AppWorkerFixtures {
  appUrl: string;
}

export const test = sandboxTest.extend<AppFixtures, AppWorkerFixtures>({
  appUrl: [
    async ({}, use) => {
      const html = await readFile(new URL("./app/index.html", import.meta.url));
      const server = createServer((request, response) => {
        if (request.method === "GET" && new URL(request.url ?? "/", "http://app").pathname === "/") {
          response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
          response.end(html);
        } else {
          response.writeHead(404).end();
        }
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const { port } = server.address() as AddressInfo;
      await use(`http://127.0.0.1:${port}/`);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
    { scope: "worker" },
  ],

  openApp: async ({ page, appUrl, sandbox }, use) => {
    await use(async (tenant) => {
      const where = new URLSearchParams({ api: sandbox.url, email: tenant.mycureEmail });
      await page.goto(`${appUrl}?${where}`);
      return page;
    });
  },
});

/**
 * Makes a statement of account on `tenant` through MYCURE's API, as its user would, for
 * one of the clinics and customers the tenant was seeded with; the new statement's id.
 */
export async function makeStatement(sandbox: Sandbox, tenant: Tenant, note?: string): Promise<string> {
  const reference = await tenant.reference("mycure");
  const body = {
    facility: String(reference.facilities[0]?.["id"]),
    type: "organization",
    customer: String(reference.customers.organizations[0]?.["id"]),
    ...(note === undefined ? {} : { note }),
  };
  const answer = await fetch(`${sandbox.url}/billing-soas`, {
    method: "POST",
    headers: { ...(await tenant.mycureHeaders()), "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (answer.status !== 201) {
    throw new Error(`POST /billing-soas answered ${answer.status}: ${await answer.text()}`);
  }
  return ((await answer.json()) as { id: string }).id;
}
