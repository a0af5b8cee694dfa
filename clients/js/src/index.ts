/**
 * billing-sandbox's client: the control API of a running sandbox (fault rules, tenant
 * clocks, the request journal, snapshots, scenarios, Decoda's triggers) and credentials
 * for its three fake APIs. Only `fetch` is needed: Node 20+ or a browser.
 */

export { Clock, type Duration } from "./clock.js";
export { DecodaTriggers } from "./decoda.js";
export { Faults } from "./faults.js";
export { DEFAULT_TIMEOUT_MS, SandboxError, type SandboxOptions } from "./http.js";
export { checkTenantId, isTenantId, tenantId } from "./ids.js";
export {
  Journal,
  type JournalFilters,
  type JournalQuery,
  JournalTimeout,
  POLL_INTERVAL_MS,
  WAIT_TIMEOUT_MS,
  type WaitOptions,
} from "./journal.js";
export { Sandbox } from "./sandbox.js";
export { Tenant, type TenantCredentials } from "./tenant.js";
export type * from "./types.js";
