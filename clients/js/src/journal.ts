/** The request journal (`/_sandbox/requests`): query it, page through it, wait for a request. */

import type { Connection, Query } from "./http.js";
import type { Api, JournalEntry, JournalPage } from "./types.js";

/**
 * What the journal filters on; each left out matches anything. `since` and `until` are on
 * the server's clock (not a tenant's): a Date, or an ISO 8601 date-time with its offset.
 */
export interface JournalFilters {
  tenant?: string;
  api?: Api;
  operationId?: string;
  /** 0 is a connection a fault rule dropped, reset or left unanswered. */
  status?: number;
  since?: Date | string;
  until?: Date | string;
}

/** Filters, and one page of them: `limit` (1–1000, default 100) and `before` (a page's `nextBefore`). */
export interface JournalQuery extends JournalFilters {
  limit?: number;
  before?: number;
}

export interface WaitOptions {
  /** How long to wait (default 5 s). */
  timeoutMs?: number;
  /** How long between two looks at the journal (default 50 ms). */
  intervalMs?: number;
  /**
   * Only entries past this sequence number count (in a cluster, each shard numbers its own);
   * by default, those recorded after the call began.
   */
  after?: number;
}

export const WAIT_TIMEOUT_MS = 5_000;
export const POLL_INTERVAL_MS = 50;
/** The most the sandbox gives in one page. */
const PAGE_LIMIT = 1000;
/** A look for new entries reads pages this long, newest first, until an entry it has seen. */
const POLL_PAGE = 100;
/** What a timeout keeps of what arrived instead (the journal's own default size). */
const SEEN_KEPT = 1000;
/** What a timeout's message lists of it. */
const SEEN_SHOWN = 10;

const FILTERS: ReadonlySet<string> = new Set(["tenant", "api", "operationId", "status", "since", "until"]);
const PAGING: ReadonlySet<string> = new Set(["limit", "before"]);

/** `Journal.waitFor` saw no matching request in time; `seen` is what arrived instead, oldest first. */
export class JournalTimeout extends Error {
  readonly seen: JournalEntry[];

  constructor(message: string, seen: JournalEntry[]) {
    super(message);
    this.name = "JournalTimeout";
    this.seen = seen;
  }
}

/** The sandbox's request journal; scoped to a tenant (`tenant.journal`), only that tenant's requests. */
export class Journal {
  readonly #connection: Connection;
  /** The tenant whose requests these are, or null for every request. */
  readonly tenant: string | null;

  constructor(connection: Connection, tenant: string | null = null) {
    this.#connection = connection;
    this.tenant = tenant;
  }

  /** One page of matching requests, newest first: `query({api: "decoda", status: 422})`. */
  async query(filters: JournalQuery = {}): Promise<JournalPage> {
    return this.#connection.control<JournalPage>("GET", "/requests", { query: this.#params(filters, PAGING) });
  }

  /** Every matching request the journal holds, newest first, page after page. */
  async *entries(filters: JournalFilters = {}): AsyncGenerator<JournalEntry, void, undefined> {
    let before: number | undefined;
    for (;;) {
      const page = await this.query({ ...filters, limit: PAGE_LIMIT, before });
      yield* page.requests;
      if (page.nextBefore === null) return;
      before = page.nextBefore;
    }
  }

  /**
   * The first request to arrive after the call (or past `after`) that matches: filters
   * (`{operationId: "createCharge", status: 201}`) or a predicate over the entry. Looks
   * again every `intervalMs` until one is there; after `timeoutMs`, a `JournalTimeout` whose
   * message lists what arrived instead (within the tenant, when the journal or the filters
   * name one), so a test that waited in vain shows the call that was made.
   */
  async waitFor(
    match: JournalFilters | ((entry: JournalEntry) => boolean),
    options: WaitOptions = {},
  ): Promise<JournalEntry> {
    const timeoutMs = options.timeoutMs ?? WAIT_TIMEOUT_MS;
    const intervalMs = options.intervalMs ?? POLL_INTERVAL_MS;
    const started = performance.now();
    // The tenant and the time window are asked of the sandbox; the rest is checked here, so
    // that what arrived instead (another status, another operation) can be told.
    const filters = typeof match === "function" ? {} : this.#checked(match, new Set());
    const scope: JournalFilters = { tenant: filters.tenant, since: filters.since, until: filters.until };
    const wanted = typeof match === "function" ? match : admits(filters);
    const cursor = options.after === undefined ? await this.#cursorNow(scope) : new Cursor(options.after);
    const seen: JournalEntry[] = [];
    let unseen = 0;
    for (;;) {
      for (const entry of await this.#arrived(cursor, scope)) {
        if (wanted(entry)) return entry;
        if (seen.length < SEEN_KEPT) seen.push(entry);
        else unseen += 1;
      }
      const left = started + timeoutMs - performance.now();
      if (left <= 0) {
        const description = describeWanted(match, this.#params(scope, new Set()));
        throw new JournalTimeout(this.#timedOut(description, timeoutMs, seen, unseen), seen);
      }
      await sleep(Math.min(intervalMs, left));
    }
  }

  /** Forget the journal's entries (the tenant's, when scoped); how many went. */
  async clear(): Promise<number> {
    const query = this.tenant === null ? {} : { tenant: this.tenant };
    const cleared = await this.#connection.control<{ cleared: number }>("DELETE", "/requests", { query });
    return cleared.cleared;
  }

  /** Where the journal ends now, as far as `scope` shows it. */
  async #cursorNow(scope: JournalFilters): Promise<Cursor> {
    const page = await this.query({ ...scope, limit: POLL_PAGE });
    const cursor = new Cursor(0);
    for (const entry of page.requests) cursor.pass(entry);
    // A merged journal (a cluster) is one page cut by time: a shard the page does not show
    // may still hold older entries, which must not count as new.
    const last = page.requests[page.requests.length - 1];
    if (page.requests.length === POLL_PAGE && last !== undefined) cursor.notBefore(last.time);
    return cursor;
  }

  /** The entries past `cursor`, oldest first; the cursor then stands after them. */
  async #arrived(cursor: Cursor, scope: JournalFilters): Promise<JournalEntry[]> {
    const arrived: JournalEntry[] = [];
    let before: number | undefined;
    for (;;) {
      const page = await this.query({ ...scope, limit: POLL_PAGE, before });
      const fresh = page.requests.filter((entry) => cursor.isNew(entry));
      arrived.push(...fresh);
      // Newest first: once an entry was seen before, the older pages were too. A cluster's
      // merged journal has no next page (`nextBefore` is null): one look reads its newest.
      if (fresh.length < page.requests.length || page.nextBefore === null) break;
      before = page.nextBefore;
    }
    arrived.reverse();
    for (const entry of arrived) cursor.pass(entry);
    return arrived;
  }

  #timedOut(wanted: string, timeoutMs: number, seen: JournalEntry[], unseen: number): string {
    const shown = seen.slice(0, SEEN_SHOWN).map(describeEntry).join("; ");
    const more = seen.length + unseen - SEEN_SHOWN;
    const instead = seen.length === 0 ? "nothing arrived" : `arrived instead: ${shown}${more > 0 ? ` (and ${more} more)` : ""}`;
    return (
      `no request in the journal of ${this.#connection.url} matched ${wanted} within ` +
      `${timeoutMs / 1000} s; ${instead}`
    );
  }

  /** The filters checked, with the journal's tenant filled in. */
  #checked(filters: JournalQuery, extra: ReadonlySet<string>): JournalQuery {
    for (const name of Object.keys(filters)) {
      if (!FILTERS.has(name) && !extra.has(name)) {
        throw new TypeError(
          `the journal has no filter ${JSON.stringify(name)} (it filters on ${[...FILTERS, ...extra].join(", ")})`,
        );
      }
    }
    if (this.tenant === null) return { ...filters };
    if (filters.tenant !== undefined && filters.tenant !== this.tenant) {
      throw new RangeError(
        `the journal of tenant ${JSON.stringify(this.tenant)} shows that tenant only, not ${JSON.stringify(filters.tenant)}`,
      );
    }
    return { ...filters, tenant: this.tenant };
  }

  /** The filters as the query string of `GET /_sandbox/requests`. */
  #params(filters: JournalQuery, extra: ReadonlySet<string>): Query {
    const checked = this.#checked(filters, extra);
    return { ...checked, since: instant(checked.since, "since"), until: instant(checked.until, "until") };
  }
}

/**
 * Where a wait stands in the journal: each shard's last sequence number seen (a single
 * server is one shard, named ""). An entry of a shard not seen yet is new past `after`
 * and, when the first look was cut short, past that look's oldest time.
 */
class Cursor {
  readonly #seqs = new Map<string, number>();
  readonly #after: number;
  #notBefore: number | null = null;

  constructor(after: number) {
    this.#after = after;
  }

  isNew(entry: JournalEntry): boolean {
    const last = this.#seqs.get(entry.shard ?? "");
    if (last !== undefined) return entry.seq > last;
    if (this.#notBefore !== null && Date.parse(entry.time) <= this.#notBefore) return false;
    return entry.seq > this.#after;
  }

  pass(entry: JournalEntry): void {
    const shard = entry.shard ?? "";
    this.#seqs.set(shard, Math.max(entry.seq, this.#seqs.get(shard) ?? this.#after));
  }

  notBefore(time: string): void {
    this.#notBefore = Date.parse(time);
  }
}

function admits(filters: JournalFilters): (entry: JournalEntry) => boolean {
  return (entry) =>
    (filters.tenant === undefined || entry.tenant === filters.tenant) &&
    (filters.api === undefined || entry.api === filters.api) &&
    (filters.operationId === undefined || entry.operationId === filters.operationId) &&
    (filters.status === undefined || entry.status === filters.status);
}

function instant(value: Date | string | undefined, name: string): string | undefined {
  if (!(value instanceof Date)) return value;
  if (Number.isNaN(value.getTime())) throw new RangeError(`journal ${name} is an Invalid Date`);
  return value.toISOString();
}

function describeWanted(match: JournalFilters | ((entry: JournalEntry) => boolean), scope: Query): string {
  const named = (query: object): string =>
    Object.entries(query)
      .filter(([, value]) => value !== undefined)
      .map(([name, value]) => `${name}=${JSON.stringify(value)}`)
      .join(", ");
  if (typeof match !== "function") return named({ ...match, ...scope }) || "any request";
  const source = String(match).replace(/\s+/g, " ");
  const predicate = source.length > 120 ? `${source.slice(0, 117)}...` : source;
  const within = named(scope);
  return `${within ? `${within}, ` : ""}${predicate}`;
}

function describeEntry(entry: JournalEntry): string {
  const query = entry.query ? `?${entry.query}` : "";
  return `${entry.method} ${entry.path}${query} → ${entry.status}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
