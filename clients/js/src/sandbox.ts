/** The client of a running sandbox's control API (`/_sandbox`), whole or for one tenant. */

import { Faults } from "./faults.js";
import { Connection, type SandboxOptions } from "./http.js";
import { Journal } from "./journal.js";
import { Tenant, type TenantCredentials } from "./tenant.js";
import type { Health, Restored, ScenarioPack, ServerSnapshot } from "./types.js";

/**
 * The sandbox at `url` (one `billing-sandbox serve`, or a cluster's HAProxy: the same calls
 * reach the tenant's shard or the merger): the fault rules and the journal of the whole
 * server, resets, scenario packs, and `tenant(id)` for one tenant's control API and
 * credentials. Mirrors the Python client's `SandboxControl`.
 */
export class Sandbox {
  /** Fault rules of the whole server (a tenant's own: `tenant(id).faults`). */
  readonly faults: Faults;
  /** Every request in the journal (a tenant's own: `tenant(id).journal`). */
  readonly journal: Journal;
  readonly #connection: Connection;

  constructor(options: SandboxOptions | string) {
    this.#connection = new Connection(typeof options === "string" ? { url: options } : options);
    this.faults = new Faults(this.#connection);
    this.journal = new Journal(this.#connection);
  }

  /** The base URL, without a trailing `/`. */
  get url(): string {
    return this.#connection.url;
  }

  /** `GET /_sandbox/health`: status, version and the APIs served (open without the control token). */
  async health(): Promise<Health> {
    return this.#connection.control<Health>("GET", "/health");
  }

  /**
   * The tenant `id` (lower-case letters, digits, '.' and '-'), as it is: its control API and
   * credentials for the three APIs (`credentials` for a sandbox in strict mode).
   */
  tenant(id: string, credentials?: TenantCredentials): Tenant {
    return new Tenant(this.#connection, id, credentials);
  }

  /** Forget every tenant; each is re-seeded, identically, on its next call. Fault rules and the journal stay. */
  async reset(): Promise<void> {
    await this.#connection.control("POST", "/reset");
  }

  /** The scenario packs the sandbox can apply: name, description, apis, steps, source. */
  async scenarios(): Promise<ScenarioPack[]> {
    return (await this.#connection.control<{ scenarios: ScenarioPack[] }>("GET", "/scenarios")).scenarios;
  }

  /** Every tenant's state as one snapshot (in a cluster, every shard must answer). */
  async exportState(): Promise<ServerSnapshot> {
    return this.#connection.control<ServerSnapshot>("GET", "/state");
  }

  /** Replace every tenant with those of a snapshot; tenants it lacks are forgotten. */
  async importState(snapshot: ServerSnapshot): Promise<Restored> {
    return this.#connection.control<Restored>("PUT", "/state", { body: snapshot });
  }
}
