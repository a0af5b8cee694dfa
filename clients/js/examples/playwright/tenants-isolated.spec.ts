/**
 * Two tests at once, each on its own tenant: each makes a statement of account through
 * MYCURE's API and lists the statements in the app, and sees its own, never the other's.
 * They run in parallel (two workers), and each waits until the other has made its statement
 * before it lists, so the other's record is really there not to be seen.
 */

import { expect, makeStatement, test } from "./fixtures.js";

test.describe.configure({ mode: "parallel" });

// This run's id (playwright.config.ts sets it; the workers inherit it): a sandbox given by
// BILLING_SANDBOX_URL outlives runs, and its journal may still hold a past run's statements.
const RUN = process.env["EXAMPLE_RUN_ID"] ?? "";
const CLINICS = ["north", "south"] as const;

for (const clinic of CLINICS) {
  const other = clinic === "north" ? "south" : "north";
  const note = (who: string): string => `Made by the ${who} clinic (run ${RUN})`;

  test(`the ${clinic} clinic sees its own statement, never the ${other} clinic's`, async (
    { tenant, sandbox, openApp },
    testInfo,
  ) => {
    await makeStatement(sandbox, tenant, note(clinic));

    if (testInfo.config.workers > 1) {
      // The whole sandbox's journal (the `sandbox` fixture's): the other test's call, made
      // on its own tenant. With one worker the tests run one after the other: no waiting.
      await sandbox.journal.waitFor(
        (entry) =>
          entry.operationId === "createBillingSoa" &&
          entry.status === 201 &&
          entry.requestBody.includes(note(other)),
        { after: 0, timeoutMs: 20_000 },
      );
    }

    const page = await openApp(tenant);
    const rows = page.getByRole("table").locator("tbody tr");
    await expect(rows.filter({ hasText: note(clinic) })).toHaveCount(1);
    await expect(rows.filter({ hasText: note(other) })).toHaveCount(0);
  });
}
