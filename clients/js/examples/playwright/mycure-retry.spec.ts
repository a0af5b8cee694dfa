/**
 * MYCURE is down for one call: the app shows why, and a click on Retry brings the list.
 * The fault is a rule on this test's tenant only, so the other worker's tests never meet it.
 */

import { expect, test } from "./fixtures.js";

test("a 503 from MYCURE shows an error, and Retry loads the statements", async ({ tenant, openApp, sandbox }) => {
  // The next find of statements on this tenant answers 503, once; sign-in is untouched.
  const rule = await tenant.faults.add({
    match: { api: "mycure", operationId: "findBillingSoas" },
    effect: { status: 503 },
    count: 1,
  });

  const page = await openApp(tenant);
  const alert = page.getByRole("alert");
  await expect(alert).toContainText("Could not load the statements: MYCURE answered 503");
  await expect(page.getByRole("table")).toBeHidden();

  // The journal holds what the page sent: the failed call, met by our rule.
  const failed = await tenant.journal.waitFor({ operationId: "findBillingSoas", status: 503 }, { after: 0 });
  expect(failed.fault).toMatch(/503/);
  expect((await tenant.faults.rules()).find((r) => r.id === rule.id)?.fired).toBe(1);

  await page.getByRole("button", { name: "Retry" }).click();
  // Waits for the retry itself: only entries after the failed one count.
  const retried = await tenant.journal.waitFor({ operationId: "findBillingSoas", status: 200 }, { after: failed.seq });
  expect(retried.fault).toBeNull();

  await expect(alert).toBeHidden();
  // The page shows what MYCURE gives this tenant's user, asked here from the test.
  const headers = await tenant.mycureHeaders();
  const query = new URLSearchParams({ $limit: "20", "$sort[createdAt]": "-1" });
  const answer = await fetch(`${sandbox.url}/billing-soas?${query}`, { headers });
  const statements = (await answer.json()) as { id: string; externalSOAId?: string }[];
  expect(statements.length).toBeGreaterThan(0);
  const rows = page.getByRole("table").locator("tbody tr");
  await expect(rows).toHaveCount(statements.length);
  await expect(rows.first()).toContainText(statements[0]?.externalSOAId ?? statements[0]?.id ?? "");
  await expect(page.getByRole("status")).toHaveText(`${statements.length} statements`);
});
