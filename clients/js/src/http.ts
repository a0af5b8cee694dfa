/**
 * The one place the client speaks HTTP: the control token, the time limit of every call,
 * and `SandboxError`. Only what a browser and Node 20+ both have (`fetch`,
 * `AbortController`, `setTimeout`), so the package needs no runtime dependency.
 */

export const DEFAULT_TIMEOUT_MS = 10_000;

/** The sandbox could not be reached, or refused a call the client made for you. */
export class SandboxError extends Error {
  /** The HTTP status it answered; null when nothing answered (refused, unreachable, too slow). */
  readonly status: number | null;
  /** The answer's JSON body, parsed, if it was JSON. */
  readonly body: unknown;
  /** What the sandbox said: its JSON error's `message`, else the body's text (or why nothing answered). */
  readonly sandboxMessage: string;

  constructor(
    text: string,
    details: { status?: number | null; body?: unknown; sandboxMessage?: string; cause?: unknown } = {},
  ) {
    super(text, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "SandboxError";
    this.status = details.status ?? null;
    this.body = details.body;
    this.sandboxMessage = details.sandboxMessage || text;
  }
}

export interface SandboxOptions {
  /** The sandbox's base URL: `http://127.0.0.1:8000`, or a cluster's HAProxy. */
  url: string;
  /** Sent as `Authorization: Bearer …` to the control API, when the sandbox was started with one. */
  controlToken?: string;
  /** How long one call may take, answer included (default 10 s). */
  timeoutMs?: number;
  /** Another `fetch` (a test double, a proxying one); the global one by default. */
  fetch?: typeof fetch;
}

export type Query = Record<string, string | number | boolean | null | undefined>;

export interface CallOptions {
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
}

/** A sandbox's base URL, its control token and the time a call may take. */
export class Connection {
  readonly url: string;
  readonly timeoutMs: number;
  readonly #controlToken: string;
  readonly #fetch: typeof fetch | undefined;

  constructor(options: SandboxOptions) {
    if (typeof options.url !== "string" || !/^https?:\/\/[^/]/i.test(options.url)) {
      throw new TypeError(`a sandbox URL begins with http:// or https://, not ${JSON.stringify(options.url)}`);
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new RangeError(`timeoutMs is a number of milliseconds above 0, not ${timeoutMs}`);
    }
    if (options.fetch === undefined && typeof globalThis.fetch !== "function") {
      throw new TypeError("this runtime has no global fetch: use Node 20+, or pass options.fetch");
    }
    this.url = options.url.replace(/\/+$/, "");
    this.timeoutMs = timeoutMs;
    this.#controlToken = options.controlToken ?? "";
    this.#fetch = options.fetch;
  }

  /** One call to the control API (`/_sandbox…`), with the control token when there is one. */
  control<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
    const token: Record<string, string> = this.#controlToken
      ? { Authorization: `Bearer ${this.#controlToken}` }
      : {};
    return this.call<T>(method, `/_sandbox${path}`, {
      ...options,
      headers: { ...options.headers, ...token },
    });
  }

  /** `method path` with a JSON body: its JSON answer, or a `SandboxError` saying why not. */
  async call<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
    const url = this.url + path + queryString(options.query);
    const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
    let payload: string | undefined;
    if (options.body !== undefined) {
      payload = JSON.stringify(options.body);
      headers["Content-Type"] = "application/json";
    }
    // The global is looked up per call (not kept at construction), so a test that replaces
    // `globalThis.fetch` after making the client is still heard.
    const send = this.#fetch ?? globalThis.fetch;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.timeoutMs);
    let status: number;
    let statusText: string;
    let text: string;
    try {
      // The body is read under the same time limit: a sandbox that sends headers and then
      // stalls (a `dribbleMs` fault on a control call's path) still ends the call in time.
      const response = await send(url, { method, headers, body: payload, signal: abort.signal });
      status = response.status;
      statusText = response.statusText;
      text = await response.text();
    } catch (error) {
      throw unanswered(method, url, this.url, this.timeoutMs, abort.signal.aborted, error);
    } finally {
      clearTimeout(timer);
    }
    const body = parseJson(text);
    if (status >= 200 && status < 300) {
      if (body !== NOT_JSON) return body as T;
      throw new SandboxError(
        `${method} ${url} answered ${status} with a body that is not JSON: ${text.slice(0, 200)}`,
        { status, sandboxMessage: text.slice(0, 500) },
      );
    }
    const said = errorMessage(body);
    const detail = said.text || text.slice(0, 500) || statusText || "no body";
    throw new SandboxError(`${method} ${url} answered ${status}: ${detail}`, {
      status,
      body: body === NOT_JSON ? undefined : body,
      sandboxMessage: said.message || text.slice(0, 500) || statusText,
    });
  }
}

/** `value` as one path segment: a tenant id or a rule id never adds a `/` of its own. */
export function segment(value: string): string {
  return encodeURIComponent(value);
}

function queryString(query: Query | undefined): string {
  if (query === undefined) return "";
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null) params.append(name, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

const NOT_JSON: unique symbol = Symbol("not JSON");

/** The body parsed; null for an empty one (a 2xx with nothing to say); NOT_JSON otherwise. */
function parseJson(text: string): unknown {
  if (text === "") return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return NOT_JSON;
  }
}

/**
 * What an error envelope says. The control API's `{error, message}` and Feathers' `{name,
 * message}` (MYCURE) give a kind and a message; other envelopes (Candid's, Decoda's) have
 * no `message` string, and the caller shows their text whole.
 */
function errorMessage(body: unknown): { text: string; message: string } {
  if (typeof body !== "object" || body === null) return { text: "", message: "" };
  const { message, error, name } = body as Record<string, unknown>;
  if (typeof message !== "string") return { text: "", message: "" };
  const kind = typeof error === "string" ? error : typeof name === "string" ? name : "";
  return { text: kind ? `${kind}: ${message}` : message, message };
}

function unanswered(
  method: string,
  url: string,
  base: string,
  timeoutMs: number,
  timedOut: boolean,
  error: unknown,
): SandboxError {
  if (timedOut) {
    const reason = `the sandbox at ${base} did not answer within ${timeoutMs / 1000} s`;
    return new SandboxError(`${method} ${url}: ${reason}`, { sandboxMessage: reason, cause: error });
  }
  // Node's fetch says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND) is its cause.
  const reason = describe(error);
  return new SandboxError(`no sandbox answers at ${base} (${method} ${url}: ${reason})`, {
    sandboxMessage: reason,
    cause: error,
  });
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.name}: ${error.message}${cause}`;
}
