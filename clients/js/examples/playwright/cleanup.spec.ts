/**
 * What the package's fixtures promise, checked from the next test (a test cannot watch its
 * own teardown): the fault rules a test added are gone after it, its tenant is reset unless
 * it asked to keep it, and each test has a tenant of its own. The tests run in order, in one
 * worker, and hand what they made to the next through `made`.
 */

import { expect, makeStatement, test } from "./fixtures.js";

test.describe.configure({ mode: "serial" });

const made: { tenant?: string; statement?: string; rules?: string[] } = {};
// A tenant no test uses: the whole-server rule below matches it, so it faults nobody.
const NOBODY = "nobody.fixtures.test";

async function statementExists(url: string, headers: Record<string, string>, id: string) {
  const answer = await fetch(`${url}/billing-soas/${id}`, { headers });
  return answer.status === 200;
}

test.describe("the fixtures", () => {
  test("a test adds rules and a statement", async ({ tenant, sandbox }) => {
    made.statement = await makeStatement(sandbox, tenant);
    made.tenant = tenant.id;
    const own = await tenant.faults.add({ match: { operationId: "createCharge" }, effect: { status: 503 } });
    const serverWide = await sandbox.faults.add({ match: { tenant: NOBODY }, effect: { status: 503 } });
    const removedHere = await tenant.faults.add({ match: { operationId: "getCharge" }, effect: { status: 503 } });
    await tenant.faults.remove(removedHere); // the teardown must not trip over it
    made.rules = [own.id, serverWide.id];
  });

  test("its rules are gone, and its tenant was reset", async ({ tenant, sandbox }) => {
    expect(tenant.id).not.toBe(made.tenant);
    const left = (await sandbox.faults.rules()).map((rule) => rule.id);
    for (const id of made.rules ?? []) expect(left).not.toContain(id);

    const previous = sandbox.tenant(made.tenant ?? "");
    expect(await statementExists(sandbox.url, await previous.mycureHeaders(), made.statement ?? "")).toBe(false);
  });

  test.describe("with keepTenant", () => {
    test.use({ keepTenant: true });

    test("a test makes a statement", async ({ tenant, sandbox }) => {
      made.statement = await makeStatement(sandbox, tenant);
      made.tenant = tenant.id;
    });
  });

  test("its tenant still holds it", async ({ sandbox }) => {
    const kept = sandbox.tenant(made.tenant ?? "");
    expect(await statementExists(sandbox.url, await kept.mycureHeaders(), made.statement ?? "")).toBe(true);
    await kept.reset(); // kept for a person to look at, not for the next run
  });
});
