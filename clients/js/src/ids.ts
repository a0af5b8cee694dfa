/**
 * Tenant ids. A tenant id is at once the Candid client id, the Decoda `TENANT` and the
 * MYCURE organisation, the domain of an email, so it is what a domain may be: lower-case
 * (MYCURE lowercases emails, and an upper-case id would split one tenant in two), without
 * `@`, `/` or spaces.
 */

const TENANT_ID = /^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$/;
const MAX_TENANT_ID = 63;
const READABLE_LENGTH = 40;

/** Whether `id` can name a tenant: lower-case letters, digits, '.' and '-', at most 63. */
export function isTenantId(id: string): boolean {
  return typeof id === "string" && id.length <= MAX_TENANT_ID && TENANT_ID.test(id);
}

/** `id`, when it can name a tenant; a RangeError saying why otherwise. */
export function checkTenantId(id: string): string {
  if (!isTenantId(id)) {
    throw new RangeError(
      `a tenant id is lower-case letters, digits, '.' and '-' (at most ${MAX_TENANT_ID}, ` +
        `beginning and ending with a letter or digit): ${JSON.stringify(id)}`,
    );
  }
  return id;
}

/**
 * A tenant id for the test whose title path is `testTitlePath` (Playwright's
 * `testInfo.titlePath`: file, describe blocks, title): readable, unique and stable.
 *
 * The readable part is the test's own title; a hash of the whole path keeps tests of the
 * same title in other files or blocks apart. The same test gets the same id on every run,
 * so its seeded data is the same on every run too. `.test` is reserved for testing (RFC
 * 2606), and the id is a MYCURE email domain as well.
 */
export function tenantId(testTitlePath: readonly string[]): string {
  const title = testTitlePath.length > 0 ? testTitlePath[testTitlePath.length - 1]! : "";
  const slug =
    title
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, READABLE_LENGTH)
      .replace(/-+$/, "") || "test";
  // JSON keeps ["a b"] and ["a", "b"] apart, which joining with a space would not.
  return `${slug}-${fnv1a64(JSON.stringify(testTitlePath)).slice(0, 10)}.test`;
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK_64 = (1n << 64n) - 1n;

/**
 * FNV-1a over the text's UTF-8 bytes, 64 bits, as 16 hex digits: synchronous (a browser's
 * SHA-256, `crypto.subtle`, is not) and stable across runtimes. It tells test names apart;
 * it guards nothing.
 */
function fnv1a64(text: string): string {
  let hash = FNV_OFFSET;
  for (const byte of new TextEncoder().encode(text)) {
    hash = ((hash ^ BigInt(byte)) * FNV_PRIME) & MASK_64;
  }
  return hash.toString(16).padStart(16, "0");
}
