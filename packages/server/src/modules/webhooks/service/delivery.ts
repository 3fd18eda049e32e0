import { sql } from "kysely";
import { afterCommit, type Tx, type TypedDb } from "../../../platform/db/db.js";
import type { JobContext } from "../../../platform/jobs/index.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { Event, EventsService } from "../../events/index.js";
import type { Sender } from "../internal/sender.js";
import type { WebhooksTables } from "../tables.js";
import { Attempts, type TenantStateLookup } from "./attempt.js";
import { FanOut } from "./fan-out.js";
import { type DeliveryFact, Pausing } from "./pause.js";

export type { TenantStateLookup } from "./attempt.js";
export { FAILING_DISABLE_MS, MAX_ATTEMPTS, RETRY_SCHEDULE_MS, retryAfterMs } from "./attempt.js";
export { BUS_TOPIC, DELIVER_JOB } from "./fan-out.js";
export { RESUME_JOB } from "./pause.js";

/** PRUNE_JOB deletes settled deliveries past the event retention. */
export const PRUNE_JOB = "webhooks.prune";

/**
 * DeliveryService fans events out to endpoints and delivers them. Fan-out runs inside the event's
 * transaction (the outbox): one message row and one delivery job per (event, endpoint), so a
 * committed event always reaches every endpoint it matched, and a rolled-back one reaches none.
 * Delivery is at-least-once: a worker that dies mid-attempt leaves its job to be claimed again
 * after its lease, and the retry carries the same `webhook-id`. There is no ordering across messages.
 * The work is split by stage: `FanOut` (fan-out.ts), `Attempts` (attempt.ts), `Pausing` (pause.ts).
 */
export class DeliveryService {
  readonly #fanOut: FanOut;
  readonly #attempts: Attempts;
  readonly #pausing: Pausing;
  readonly #db: TypedDb<WebhooksTables>;

  constructor(
    private readonly m: ModuleContext,
    events: EventsService,
    sender: Sender,
    tenantState: TenantStateLookup,
  ) {
    this.#db = m.db.tables<WebhooksTables>();
    this.#fanOut = new FanOut(m);
    this.#attempts = new Attempts(m, events, sender, tenantState);
    this.#pausing = new Pausing(m, this.#fanOut);
  }

  /** fanOut creates a message and a delivery job for every enabled endpoint the event matches (in `tx`). */
  fanOut(tx: Tx, event: Event): Promise<void> {
    return this.#fanOut.fanOut(tx, event);
  }

  /** enqueueMessage creates one message of `event` to one endpoint, and its delivery job (in `tx`). */
  enqueueMessage(tx: Tx, event: Event, endpointId: string, tenantId: string | null): Promise<string> {
    return this.#fanOut.enqueueMessage(tx, event, endpointId, tenantId);
  }

  /** requeue puts an existing message back in line with a fresh attempt budget (resend, recover, resume). */
  requeue(tx: Tx, message: { id: string; environment_id: string; tenant_id: string | null }): Promise<void> {
    return this.#fanOut.requeue(tx, message);
  }

  /** announce wakes delivery workers of every process once `tx` commits (after enqueuing messages). */
  announce(tx: Tx): Promise<void> {
    return this.#fanOut.announce(tx);
  }

  /**
   * deliver runs one attempt of a message. Throws `RetryLaterError` to schedule the next attempt
   * (the job queue keeps it); returns when the message is settled (delivered, failed, paused).
   */
  deliver(payload: { messageId: string }, job: JobContext): Promise<void> {
    return this.#attempts.deliver(payload, job);
  }

  /** forgetEndpoint drops this process's cached copy of an endpoint (after a change). */
  forgetEndpoint(id: string): void {
    this.#attempts.forgetEndpoint(id);
  }

  /** resumeTenant puts a reactivated tenant's paused messages back in line (in batches). */
  resumeTenant(payload: { environmentId: string; tenantId: string }): Promise<void> {
    return this.#pausing.resumeTenant(payload);
  }

  /**
   * onFact: a changed endpoint is dropped from this process's cache once `tx` commits, and a
   * reactivated tenant's deliveries resume (the job runs after the commit).
   */
  async onFact(tx: Tx, fact: DeliveryFact): Promise<void> {
    if (fact.type.startsWith("webhook_endpoint.")) {
      for (const t of fact.targets) {
        if (t.type === "webhook_endpoint") afterCommit(tx, () => this.#attempts.forgetEndpoint(t.id));
      }
    }
    await this.#pausing.onFact(tx, fact);
  }

  /**
   * pruneDeliveries deletes settled messages (delivered or failed) and their attempts older than
   * the event retention (`BASEPLATE_EVENTS_RETENTION_DAYS`); pending and paused ones stay.
   */
  async pruneDeliveries(): Promise<number> {
    const before = this.m.clock.now() - this.m.config.events.retentionDays * 86_400_000;
    const db = this.#db.q();
    const old = db
      .selectFrom("webhook_message")
      .select("id")
      .where("status", "in", ["succeeded", "failed"])
      .where("created_at", "<", before);
    await db.deleteFrom("webhook_attempt").where("message_id", "in", old).execute();
    const deleted = await db
      .deleteFrom("webhook_message")
      .where("status", "in", ["succeeded", "failed"])
      .where("created_at", "<", before)
      .executeTakeFirst();
    return Number(deleted.numDeletedRows);
  }

  /** counts per status (tests, CLI). */
  async countByStatus(environmentId: string): Promise<Record<string, number>> {
    const rows = await this.#db
      .q()
      .selectFrom("webhook_message")
      .select(["status", sql<number>`count(*)`.as("n")])
      .where("environment_id", "=", environmentId)
      .groupBy("status")
      .execute();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }
}
