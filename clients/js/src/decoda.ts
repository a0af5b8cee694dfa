/**
 * What Decoda's own API cannot trigger, for one tenant: an ACH return, a void, a webhook
 * event sent now, and the tenant's webhook deliveries with every try.
 */

import { type Connection, segment } from "./http.js";
import type { DecodaEvent, DecodaEventSent, DeliveriesPage, DeliveriesQuery, Delivery, Done } from "./types.js";

export class DecodaTriggers {
  readonly #connection: Connection;
  readonly tenant: string;

  constructor(connection: Connection, tenant: string) {
    this.#connection = connection;
    this.tenant = tenant;
  }

  /**
   * Fail a payment, as an ACH return does: it becomes FAILED, each charge it paid owes its
   * share again, and `PAYMENT_FAILED` goes to the tenant's webhooks. A payment with refunds,
   * or one already failed, is a 422 (`SandboxError`).
   */
  async failPayment(paymentId: string, reason?: string): Promise<Done> {
    const body = reason === undefined ? {} : { reason };
    return this.#connection.control<Done>("POST", `${this.#path}/payments/${segment(paymentId)}/fail`, { body });
  }

  /** Void a charge, as Decoda does internally: it owes nothing and its payments' shares are refunded. */
  async voidCharge(chargeId: string): Promise<Done> {
    return this.#connection.control<Done>("POST", `${this.#path}/charges/${segment(chargeId)}/void`);
  }

  /**
   * Send a webhook event about a record now, as `stripe trigger` does: `{type:
   * "PAYMENT_COMPLETED"}` is about the tenant's newest payment, `{type, id}` about that
   * record. With no webhook listening to the type nothing is sent: `eventId` is null and
   * `message` says which types the tenant's webhooks do subscribe to.
   */
  async trigger(event: DecodaEvent): Promise<DecodaEventSent> {
    return this.#connection.control<DecodaEventSent>("POST", `${this.#path}/events`, { body: event });
  }

  /** The tenant's deliveries (one per event and webhook), newest first, each with every try. */
  async deliveries(query: DeliveriesQuery = {}): Promise<Delivery[]> {
    return (await this.deliveriesPage(query)).deliveries;
  }

  /** The same, with `total` and `dropped` (deliveries forgotten past the 1000 a tenant keeps). */
  async deliveriesPage(query: DeliveriesQuery = {}): Promise<DeliveriesPage> {
    return this.#connection.control<DeliveriesPage>("GET", `${this.#path}/deliveries`, { query });
  }

  /** Send a delivery again now (it falls due now and is tried at once); the delivery, its try in `tries`. */
  async send(deliveryId: string): Promise<Delivery> {
    return this.#connection.control<Delivery>("POST", `${this.#path}/deliveries/${segment(deliveryId)}/send`);
  }

  get #path(): string {
    return `/tenants/${segment(this.tenant)}/decoda`;
  }
}
