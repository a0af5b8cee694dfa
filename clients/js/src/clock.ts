/** A tenant's clock (`/_sandbox/tenants/{tenant}/clock`): freeze, advance, resume, now. */

import { type Connection, segment } from "./http.js";
import type { ClockChange, ClockState } from "./types.js";

/** A span of time to move a clock on by; the parts are added up. */
export interface Duration {
  seconds?: number;
  minutes?: number;
  hours?: number;
  days?: number;
}

const SECONDS_IN: Record<keyof Duration, number> = { seconds: 1, minutes: 60, hours: 3600, days: 86_400 };

/**
 * One tenant's clock. Every timestamp the fakes write for the tenant comes from it, and
 * moving it past a Decoda installment settles the installment (`settledInstallments`) and
 * sends the webhook tries that fall due. Other tenants' clocks are untouched.
 */
export class Clock {
  readonly #connection: Connection;
  readonly tenant: string;

  constructor(connection: Connection, tenant: string) {
    this.#connection = connection;
    this.tenant = tenant;
  }

  /** The tenant's time, and whether it is frozen. */
  async state(): Promise<ClockState> {
    return this.#connection.control<ClockState>("GET", this.#path);
  }

  /** The tenant's time now. */
  async now(): Promise<Date> {
    return new Date((await this.state()).now);
  }

  /**
   * Stop the tenant's time at `at` (a Date, or an ISO 8601 date-time with its offset), or
   * where it is now.
   */
  async freeze(at?: Date | string): Promise<ClockState> {
    const instant = at ?? (await this.state()).now;
    if (instant instanceof Date) {
      if (Number.isNaN(instant.getTime())) throw new RangeError("freeze the clock at a valid Date, not an Invalid Date");
      return this.#set({ freezeAt: instant.toISOString() });
    }
    return this.#set({ freezeAt: instant });
  }

  /**
   * Move the tenant's time on, frozen or not, settling what falls due: by a number of
   * seconds, or by `{days, hours, minutes, seconds}` added up. The sandbox moves a clock by
   * whole seconds, never back.
   */
  async advance(by: number | Duration): Promise<ClockState> {
    const seconds = typeof by === "number" ? by : totalSeconds(by);
    if (!Number.isInteger(seconds) || seconds < 0) {
      throw new RangeError(`the sandbox advances a clock by whole seconds, never back: not ${seconds}`);
    }
    return this.#set({ advanceSeconds: seconds });
  }

  /** Let a frozen clock run again, from the instant it was frozen at. */
  async resume(): Promise<ClockState> {
    return this.#set({ resume: true });
  }

  get #path(): string {
    return `/tenants/${segment(this.tenant)}/clock`;
  }

  #set(change: ClockChange): Promise<ClockState> {
    return this.#connection.control<ClockState>("POST", this.#path, { body: change });
  }
}

function totalSeconds(duration: Duration): number {
  let seconds = 0;
  for (const [unit, value] of Object.entries(duration)) {
    const factor = SECONDS_IN[unit as keyof Duration];
    if (factor === undefined) throw new RangeError(`a clock moves by days, hours, minutes or seconds, not ${unit}`);
    if (value !== undefined) seconds += value * factor;
  }
  return seconds;
}
