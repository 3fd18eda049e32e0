import { afterCommit, fromJson, type Tx, type TypedDb } from "../../../platform/db/db.js";
import type { ModuleContext } from "../../../platform/module.js";
import { type Event, matchesType } from "../../events/index.js";
import { newId } from "../ids.js";
import type { WebhooksTables } from "../tables.js";

/** DELIVER_JOB delivers one message (one event to one endpoint). */
export const DELIVER_JOB = "webhooks.deliver";
/** BUS_TOPIC wakes the delivery workers of every process when messages were enqueued. */
export const BUS_TOPIC = "webhooks.enqueued";

/**
 * FanOut turns events into messages: one message row and one `DELIVER_JOB` per (event, endpoint),
 * written in the caller's transaction, so a committed event reaches every endpoint it matched and
 * a rolled-back one reaches none.
 */
export class FanOut {
  readonly #db: TypedDb<WebhooksTables>;

  constructor(private readonly m: ModuleContext) {
    this.#db = m.db.tables<WebhooksTables>();
  }

  /** fanOut creates a message and a delivery job for every enabled endpoint the event matches (in `tx`). */
  async fanOut(tx: Tx, event: Event): Promise<void> {
    const endpoints = await this.#db
      .q(tx)
      .selectFrom("webhook_endpoint")
      .select(["id", "tenant_id", "event_types"])
      .where("environment_id", "=", event.environmentId)
      .where("enabled", "=", this.m.db.bool(true))
      .where((eb) =>
        event.tenantId === null
          ? eb("tenant_id", "is", null)
          : eb.or([eb("tenant_id", "is", null), eb("tenant_id", "=", event.tenantId)]),
      )
      .execute();
    let created = 0;
    for (const endpoint of endpoints) {
      if (!matchesType(event.type, fromJson<string[]>(endpoint.event_types))) continue;
      await this.enqueueMessage(tx, event, endpoint.id, endpoint.tenant_id ?? event.tenantId);
      created++;
    }
    if (created > 0) await this.announce(tx);
  }

  async enqueueMessage(tx: Tx, event: Event, endpointId: string, tenantId: string | null): Promise<string> {
    const now = this.m.clock.now();
    const id = newId("webhookMessage", now);
    const jobId = await this.m.jobs.enqueue(
      tx,
      DELIVER_JOB,
      { messageId: id },
      { environmentId: event.environmentId, tenantId },
    );
    await this.#db
      .q(tx)
      .insertInto("webhook_message")
      .values({
        id,
        environment_id: event.environmentId,
        tenant_id: tenantId,
        endpoint_id: endpointId,
        event_id: event.id,
        event_type: event.type,
        status: "pending",
        attempts: 0,
        job_id: jobId,
        next_attempt_at: now,
        last_attempt_at: null,
        last_status_code: null,
        delivered_at: null,
        created_at: now,
        updated_at: now,
      })
      .execute();
    return id;
  }

  /** requeue puts an existing message back in line with a fresh attempt budget (resend, recover, resume). */
  async requeue(tx: Tx, message: { id: string; environment_id: string; tenant_id: string | null }): Promise<void> {
    const jobId = await this.m.jobs.enqueue(
      tx,
      DELIVER_JOB,
      { messageId: message.id },
      { environmentId: message.environment_id, tenantId: message.tenant_id },
    );
    const now = this.m.clock.now();
    await this.#db
      .q(tx)
      .updateTable("webhook_message")
      .set({ status: "pending", attempts: 0, job_id: jobId, next_attempt_at: now, updated_at: now })
      .where("id", "=", message.id)
      .execute();
  }

  /** announce wakes delivery workers of every process once `tx` commits (after enqueuing messages). */
  async announce(tx: Tx): Promise<void> {
    afterCommit(tx, () => this.m.jobs.wake());
    await this.m.bus.publish(tx, BUS_TOPIC, "1");
  }
}
