/** Fault rules (`/_sandbox/faults`): add, list, remove, clear, and a rule for one callback. */

import { type Connection, SandboxError, segment } from "./http.js";
import type { FaultRule, FaultRuleInput } from "./types.js";

/**
 * The sandbox's fault rules. Scoped to a tenant (`tenant.faults`), it fills the tenant into
 * the match of every rule it adds, and lists and clears that tenant's rules only; the
 * sandbox's own (`sandbox.faults`) are every rule.
 */
export class Faults {
  readonly #connection: Connection;
  /** The tenant the rules match, or null for the whole server's. */
  readonly tenant: string | null;

  constructor(connection: Connection, tenant: string | null = null) {
    this.#connection = connection;
    this.tenant = tenant;
  }

  /**
   * Add a rule, in the control API's own shape: `add({match: {operationId: "createCharge"},
   * effect: {status: 503}, count: 1})`; an outage, `add({effect: {status: 503}, forSeconds:
   * 30})`; a lost answer, `add({match: {operationId: "createCharge"}, effect: {drop: true,
   * afterCommit: true}, count: 1})`. The sandbox refuses one that can never fire (a 422
   * saying why, as a `SandboxError`).
   */
  async add(rule: FaultRuleInput): Promise<FaultRule> {
    return this.#connection.control<FaultRule>("POST", "/faults", { body: this.#body(rule) });
  }

  /** The rules, in the order they apply, with how often each fired. */
  async rules(): Promise<FaultRule[]> {
    const listed = await this.#connection.control<{ faults: FaultRule[] }>("GET", "/faults");
    return listed.faults.filter((rule) => this.tenant === null || rule.match.tenant === this.tenant);
  }

  /** Remove one rule; the rule removed (a `SandboxError` with status 404 when there is none of that id). */
  async remove(rule: FaultRule | string): Promise<FaultRule> {
    const id = typeof rule === "string" ? rule : rule.id;
    return this.#connection.control<FaultRule>("DELETE", `/faults/${segment(id)}`);
  }

  /** Remove every rule (the tenant's, when scoped); how many were removed. */
  async clear(): Promise<number> {
    if (this.tenant === null) {
      const cleared = await this.#connection.control<{ cleared: number }>("DELETE", "/faults");
      return cleared.cleared;
    }
    let removed = 0;
    for (const rule of await this.rules()) {
      if (await this.#discard(rule.id)) removed += 1;
    }
    return removed;
  }

  /**
   * A rule for the length of `body`: added first, removed when `body` settles, also when it
   * throws or the rule is already gone (cleared, say); `body`'s own error is the one thrown.
   */
  async injected<T>(rule: FaultRuleInput, body: (rule: FaultRule) => Promise<T>): Promise<T> {
    const added = await this.add(rule);
    try {
      return await body(added);
    } finally {
      await this.#discard(added.id);
    }
  }

  /** Remove a rule if it is still there; whether it was. */
  async #discard(id: string): Promise<boolean> {
    try {
      await this.remove(id);
      return true;
    } catch (error) {
      if (error instanceof SandboxError && error.status === 404) return false;
      throw error;
    }
  }

  #body(rule: FaultRuleInput): FaultRuleInput {
    const match = { ...rule.match };
    if (this.tenant !== null) {
      if (match.tenant !== undefined && match.tenant !== this.tenant) {
        throw new RangeError(
          `the fault rules of tenant ${JSON.stringify(this.tenant)} match that tenant only, ` +
            `not ${JSON.stringify(match.tenant)}`,
        );
      }
      match.tenant = this.tenant;
    }
    // Flags are true or absent: the sandbox takes no `"drop": false`, which a caller without
    // the types (plain JavaScript) may well send to mean "no drop".
    const effect = Object.fromEntries(
      Object.entries(rule.effect ?? {}).filter(([, value]) => value !== false),
    ) as FaultRuleInput["effect"];
    return { ...rule, match, effect };
  }
}
