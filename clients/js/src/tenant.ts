/** One tenant of a running sandbox: its control API, and credentials for the three APIs. */

import { Clock } from "./clock.js";
import { DecodaTriggers } from "./decoda.js";
import { Faults } from "./faults.js";
import { type Connection, SandboxError, segment } from "./http.js";
import { checkTenantId } from "./ids.js";
import { Journal } from "./journal.js";
import type {
  AppliedScenario,
  CandidReference,
  DecodaReference,
  MycureReference,
  PactFile,
  Restored,
  ScenarioDocument,
  Snapshot,
} from "./types.js";

/**
 * Secrets, keys and passwords: anything non-empty opens a sandbox without a credentials
 * file. In strict mode (`serve --credentials FILE`) give those the file lists.
 */
export interface TenantCredentials {
  candidClientSecret?: string;
  decodaApiKey?: string;
  mycurePassword?: string;
}

const MADE_UP: Required<TenantCredentials> = {
  candidClientSecret: "sandbox-secret",
  decodaApiKey: "sandbox-api-key",
  mycurePassword: "sandbox-password",
};

/** What names a scenario pack (`decoda-overdue-clinic`), as the control API's schema has it. */
const PACK_NAME = /^[a-z0-9-]{1,100}$/;

/**
 * One tenant. Its `id` is at once the Candid client id, the Decoda `TENANT` and the MYCURE
 * organisation (the domain of `mycureEmail`), so the three APIs' data of the tenant live
 * together and its control API (`faults`, `clock`, `journal`, snapshots, `reset()`,
 * `reference()`) reaches all of it.
 */
export class Tenant {
  readonly id: string;
  /** Fault rules that match this tenant's requests only. */
  readonly faults: Faults;
  /** This tenant's requests in the journal. */
  readonly journal: Journal;
  readonly clock: Clock;
  /** Decoda's sandbox-only triggers and the tenant's webhook deliveries. */
  readonly decoda: DecodaTriggers;
  readonly #connection: Connection;
  readonly #credentials: Required<TenantCredentials>;

  constructor(connection: Connection, id: string, credentials: TenantCredentials = {}) {
    this.id = checkTenantId(id);
    this.#connection = connection;
    this.#credentials = { ...MADE_UP, ...definedOnly(credentials) };
    this.faults = new Faults(connection, id);
    this.journal = new Journal(connection, id);
    this.clock = new Clock(connection, id);
    this.decoda = new DecodaTriggers(connection, id);
  }

  /** Forget the tenant's records in all three APIs; it is re-seeded, identically, on its next call. */
  async reset(): Promise<void> {
    await this.#connection.control("POST", `${this.#path}/reset`);
  }

  /** The records the tenant was seeded with in `api`, to make valid calls with. */
  reference(api: "candid"): Promise<CandidReference>;
  reference(api: "decoda"): Promise<DecodaReference>;
  reference(api: "mycure"): Promise<MycureReference>;
  reference(api: "candid" | "decoda" | "mycure"): Promise<CandidReference | DecodaReference | MycureReference>;
  async reference(api: "candid" | "decoda" | "mycure"): Promise<CandidReference | DecodaReference | MycureReference> {
    return this.#connection.control("GET", `${this.#path}/reference/${segment(api)}`);
  }

  /** The tenant as one JSON document: its clock and every API's records. */
  async exportState(): Promise<Snapshot> {
    return this.#connection.control<Snapshot>("GET", `${this.#path}/state`);
  }

  /** Replace the tenant, whole, with a snapshot of it (a bad one is a 422 naming the record and field). */
  async importState(snapshot: Snapshot): Promise<Restored> {
    return this.#connection.control<Restored>("PUT", `${this.#path}/state`, { body: snapshot });
  }

  /**
   * Export the tenant, run `body`, and restore the tenant when `body` settles, also when it
   * throws: what `body` writes is undone. `body`'s own error is the one thrown.
   */
  async snapshot<T>(body: (saved: Snapshot) => Promise<T>): Promise<T> {
    const saved = await this.exportState();
    try {
      return await body(saved);
    } finally {
      await this.importState(saved);
    }
  }

  /**
   * Apply a scenario: a pack's name (`"decoda-overdue-clinic"`) or a whole scenario (a
   * file's content, parsed). Its steps add to what the tenant holds. An unknown pack is a
   * `SandboxError` with status 404 naming the packs there are; a scenario that cannot run,
   * or a step that fails, a 422 naming it (`body` has the rest), the tenant as it was.
   */
  async applyScenario(source: string | ScenarioDocument): Promise<AppliedScenario> {
    if (typeof source === "string" && !PACK_NAME.test(source)) {
      throw new TypeError(
        `a scenario is a pack's name (lower-case letters, digits and '-') or the scenario itself, ` +
          `not ${JSON.stringify(source)}: to apply a file, read and parse it, then pass the object`,
      );
    }
    const body = typeof source === "string" ? { name: source } : { scenario: source };
    return this.#connection.control<AppliedScenario>("POST", `${this.#path}/scenarios`, { body });
  }

  /**
   * The tenant's calls, from the journal, as Pact v4 files (one per provider it called),
   * naming `consumer` (default `consumer`); none when it made no call to write down.
   */
  async pacts(consumer?: string): Promise<PactFile[]> {
    try {
      const made = await this.#connection.control<{ pacts: PactFile[] }>("GET", `${this.#path}/pact`, {
        query: { consumer },
      });
      return made.pacts;
    } catch (error) {
      if (error instanceof SandboxError && error.status === 404) return [];
      throw error;
    }
  }

  /** The headers Decoda expects on every call: `TENANT` (this tenant) and `API-KEY`. */
  decodaHeaders(): Record<string, string> {
    return { TENANT: this.id, "API-KEY": this.#credentials.decodaApiKey };
  }

  /** A fresh Candid bearer token, for the client id that is this tenant (`POST /api/auth/v2/token`). */
  async candidToken(): Promise<string> {
    const body = { client_id: this.id, client_secret: this.#credentials.candidClientSecret };
    const answer = await this.#connection.call<{ access_token: string }>("POST", "/api/auth/v2/token", { body });
    return answer.access_token;
  }

  /** `Authorization: Bearer …` with a fresh Candid token (one call to the sandbox). */
  async candidHeaders(): Promise<Record<string, string>> {
    return { Authorization: `Bearer ${await this.candidToken()}` };
  }

  /** The MYCURE account of this tenant: its email's domain is the organisation, this tenant. */
  get mycureEmail(): string {
    return `tester@${this.id}`;
  }

  /** A fresh MYCURE access token: a local sign-in (`POST /authentication`), which makes the account if needed. */
  async mycureToken(): Promise<string> {
    const body = { strategy: "local", email: this.mycureEmail, password: this.#credentials.mycurePassword };
    const answer = await this.#connection.call<{ accessToken: string }>("POST", "/authentication", { body });
    return answer.accessToken;
  }

  /** `Authorization: Bearer …` with a fresh MYCURE token (one call to the sandbox). */
  async mycureHeaders(): Promise<Record<string, string>> {
    return { Authorization: `Bearer ${await this.mycureToken()}` };
  }

  get #path(): string {
    return `/tenants/${segment(this.id)}`;
  }
}

function definedOnly(credentials: TenantCredentials): TenantCredentials {
  return Object.fromEntries(Object.entries(credentials).filter(([, value]) => value !== undefined));
}
