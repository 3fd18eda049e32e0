import { afterCommit, type Tx, type TypedDb } from "../../../platform/db/db.js";
import { isoOrNull } from "../../../platform/http/schemas.js";
import type { JobContext } from "../../../platform/jobs/index.js";
import { RetryLaterError } from "../../../platform/jobs/index.js";
import type { ModuleContext } from "../../../platform/module.js";
import { systemContext } from "../../../platform/principal.js";
import type { EventsService } from "../../events/index.js";
import { newId } from "../ids.js";
import { openHeaders, openSecret } from "../internal/sealing.js";
import type { Sender, SendResult } from "../internal/sender.js";
import { signatureHeader } from "../internal/signing.js";
import type { WebhookEndpointTable, WebhooksTables } from "../tables.js";

/**
 * RETRY_SCHEDULE_MS: the default delay before each retry after a failed attempt (Svix's
 * schedule; `BASEPLATE_WEBHOOKS_RETRY_SCHEDULE` sets another): the first attempt is immediate,
 * then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h — 8 attempts over about 28 hours. Each delay gets
 * ±10% jitter. A `Retry-After` lengthens it; on 429 and 503 (the receiver asking for a pause) it
 * sets it, so it can also bring the next attempt forward, within [RETRY_AFTER_MIN_MS, RETRY_AFTER_CAP_MS].
 */
export const RETRY_SCHEDULE_MS = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000] as const;
export const MAX_ATTEMPTS = RETRY_SCHEDULE_MS.length + 1;
/** FAILING_DISABLE_MS: an endpoint whose attempts all failed for this long is disabled (5 days). */
export const FAILING_DISABLE_MS = 5 * 86_400_000;
/** CACHE_MS: how long a delivery worker trusts its copy of an endpoint. */
const CACHE_MS = 1000;
/** RETRY_AFTER_CAP_MS: the longest a receiver's `Retry-After` can push the next attempt. */
const RETRY_AFTER_CAP_MS = 86_400_000;
/** RETRY_AFTER_MIN_MS: the soonest a receiver's `Retry-After` can bring the next attempt. */
const RETRY_AFTER_MIN_MS = 1000;

/** TenantStateLookup returns a tenant's lifecycle state (`active`, `suspended`, …), or null when it is gone. */
export type TenantStateLookup = (environmentId: string, tenantId: string) => Promise<string | null>;

/**
 * Attempts runs delivery attempts: one signed request per attempt, its outcome recorded with the
 * message's next state in one transaction, retries on `RETRY_SCHEDULE_MS`, and endpoints disabled
 * when they answer 410 or fail for `FAILING_DISABLE_MS`. A message of a tenant that is not active
 * is paused without spending an attempt.
 */
export class Attempts {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  /** A short-lived cache of endpoints (deliveries read one for every message). */
  readonly #endpoints = new Map<string, { row: WebhookEndpointTable; until: number }>();
  readonly #db: TypedDb<WebhooksTables>;

  constructor(
    private readonly m: ModuleContext,
    private readonly events: EventsService,
    private readonly sender: Sender,
    private readonly tenantState: TenantStateLookup,
  ) {
    this.#db = m.db.tables<WebhooksTables>();
  }

  /**
   * deliver runs one attempt of a message. Throws `RetryLaterError` to schedule the next attempt
   * (the job queue keeps it); returns when the message is settled (delivered, failed, paused).
   */
  async deliver(payload: { messageId: string }, job: JobContext): Promise<void> {
    const db = this.#db.q();
    const message = await db
      .selectFrom("webhook_message")
      .selectAll()
      .where("id", "=", payload.messageId)
      .executeTakeFirst();
    // Another job took the message over (resend, recover), or it is settled or gone: nothing to do.
    if (message?.status !== "pending" || message.job_id !== job.jobId) return;
    const endpoint = await this.#endpoint(message.endpoint_id);
    if (!endpoint?.enabled) {
      await this.#settle(message.id, "failed");
      return;
    }
    if (endpoint.tenant_id !== null) {
      const state = await this.tenantState(endpoint.environment_id, endpoint.tenant_id);
      if (state === null) {
        await this.#settle(message.id, "failed");
        return;
      }
      if (state !== "active") {
        // Paused without spending an attempt; `tenant.reactivated` puts it back in line.
        await this.#settle(message.id, "paused");
        return;
      }
    }
    const wait = this.#rateLimitWait(endpoint);
    if (wait > 0) throw new RetryLaterError("endpoint rate limit", wait);

    const event = await this.events.log.findEvent(message.environment_id, message.event_id);
    if (!event) {
      // The event left the log (retention) before it could be delivered.
      await this.#settle(message.id, "failed");
      return;
    }
    const now = this.m.clock.now();
    const timestamp = Math.floor(now / 1000);
    const body = JSON.stringify(event);
    const secrets = [openSecret(this.m.secrets, endpoint.secret, endpoint.id)];
    if (endpoint.previous_secret && Number(endpoint.previous_secret_expires_at) > now) {
      secrets.push(openSecret(this.m.secrets, endpoint.previous_secret, endpoint.id));
    }
    const result = await this.sender.send({
      url: endpoint.url,
      headers: {
        ...openHeaders(this.m.secrets, endpoint.headers, endpoint.id),
        "webhook-id": message.id,
        "webhook-timestamp": String(timestamp),
        "webhook-signature": signatureHeader(secrets, message.id, timestamp, body),
      },
      body,
      timeoutMs: this.m.config.webhooks.timeoutMs,
      signal: job.signal,
    });
    await this.#record(message, endpoint, result, job);
  }

  /**
   * #endpoint reads an endpoint, cached for CACHE_MS: a change (disable, new URL, rotation) reaches
   * deliveries of other processes within that time; this process forgets its copy at once.
   */
  async #endpoint(id: string): Promise<WebhookEndpointTable | undefined> {
    const now = Date.now();
    const hit = this.#endpoints.get(id);
    if (hit && hit.until > now) return hit.row;
    const row = await this.#db.q().selectFrom("webhook_endpoint").selectAll().where("id", "=", id).executeTakeFirst();
    if (this.#endpoints.size > 10_000) this.#endpoints.clear();
    if (row) this.#endpoints.set(id, { row, until: now + CACHE_MS });
    return row;
  }

  /** forgetEndpoint drops this process's cached copy of an endpoint (after a change). */
  forgetEndpoint(id: string): void {
    this.#endpoints.delete(id);
  }

  async #record(
    message: { id: string; environment_id: string; endpoint_id: string; attempts: number },
    endpoint: WebhookEndpointTable,
    result: SendResult,
    job: JobContext,
  ): Promise<void> {
    const now = this.m.clock.now();
    const attempt = Number(message.attempts) + 1;
    const status = result.kind === "response" ? result.status : null;
    const ok = status !== null && status >= 200 && status < 300;
    const gone = status === 410;
    const aborted =
      result.kind === "response" && String(result.headers["webhook-delivery"] ?? "").toLowerCase() === "abort-message";
    const schedule = this.m.config.webhooks.retryScheduleMs;
    const exhausted = attempt >= schedule.length + 1;
    let delay = 0;
    if (!ok && !gone && !aborted && !exhausted) {
      const base: number = schedule[attempt - 1] ?? (schedule.at(-1) as number);
      delay = Math.round(base * (0.9 + Math.random() * 0.2));
      const retryAfter = result.kind === "response" ? retryAfterMs(result.headers["retry-after"], now) : null;
      if (retryAfter !== null) {
        const asked = Math.min(Math.max(retryAfter, RETRY_AFTER_MIN_MS), RETRY_AFTER_CAP_MS);
        delay = status === 429 || status === 503 ? asked : Math.max(delay, asked);
      }
    }
    const failingSince = ok ? null : (endpoint.failing_since ?? now);
    const failingTooLong = !ok && now - Number(failingSince) >= FAILING_DISABLE_MS;
    await this.m.db.transaction(async (tx) => {
      const db = this.#db.q(tx);
      await db
        .insertInto("webhook_attempt")
        .values({
          id: newId("webhookAttempt", now),
          environment_id: message.environment_id,
          message_id: message.id,
          endpoint_id: message.endpoint_id,
          attempt,
          outcome: ok ? "succeeded" : "failed",
          status_code: status,
          error: result.kind === "error" ? result.error : ok ? null : `HTTP ${status}`,
          duration_ms: result.durationMs,
          response_body: result.kind === "response" ? result.body : null,
          created_at: now,
        })
        .execute();
      await db
        .updateTable("webhook_message")
        .set({
          status: ok ? "succeeded" : delay > 0 ? "pending" : "failed",
          attempts: attempt,
          last_attempt_at: now,
          last_status_code: status,
          next_attempt_at: delay > 0 ? now + delay : null,
          delivered_at: ok ? now : null,
          updated_at: now,
        })
        .where("id", "=", message.id)
        .execute();
      if ((endpoint.failing_since === null) !== (failingSince === null)) {
        await db
          .updateTable("webhook_endpoint")
          .set({ failing_since: failingSince })
          .where("id", "=", endpoint.id)
          .execute();
        this.forgetEndpoint(endpoint.id);
      }
      if (gone || failingTooLong) await this.#disable(tx, endpoint, gone ? "gone" : "failing");
      // A settled message completes its job in the same commit as the attempt's record.
      if (delay === 0) await job.complete(tx);
    });
    if (ok) return;
    // What failed and why, for the log line of every failed attempt (no stack: an expected outcome).
    const details = {
      endpointId: endpoint.id,
      messageId: message.id,
      host: hostOf(endpoint.url),
      attempt,
      ...(status !== null ? { statusCode: status } : {}),
      cause: result.kind === "error" ? result.failure : aborted ? "receiver_aborted" : "http_status",
      detail: result.kind === "error" ? result.error : aborted ? "receiver aborted the message" : `HTTP ${status}`,
    };
    if (delay > 0) {
      throw new RetryLaterError(`webhook delivery attempt ${attempt} failed; retrying`, delay, details);
    }
    const disabled = gone || failingTooLong ? { endpointDisabled: gone ? "gone" : "failing" } : {};
    this.m.logger.warn({ ...details, ...disabled }, "webhook delivery failed; the message is settled as failed");
  }

  async #disable(tx: Tx, endpoint: WebhookEndpointTable, reason: "gone" | "failing"): Promise<void> {
    const now = this.m.clock.now();
    const updated = await this.#db
      .q(tx)
      .updateTable("webhook_endpoint")
      .set({
        enabled: this.m.db.bool(false),
        disabled_reason: reason,
        disabled_at: now,
        updated_at: now,
      })
      .where("id", "=", endpoint.id)
      .where("enabled", "=", this.m.db.bool(true))
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) !== 1) return;
    this.forgetEndpoint(endpoint.id);
    afterCommit(tx, () => this.forgetEndpoint(endpoint.id));
    await this.m.facts.record(tx, systemContext(newId("request"), "webhooks"), {
      type: "webhook_endpoint.disabled",
      environmentId: endpoint.environment_id,
      tenantId: endpoint.tenant_id,
      targets: [{ type: "webhook_endpoint", id: endpoint.id }],
      data: {
        reason,
        failingSince: isoOrNull(endpoint.failing_since),
      },
    });
  }

  async #settle(messageId: string, status: "failed" | "paused"): Promise<void> {
    await this.#db
      .q()
      .updateTable("webhook_message")
      .set({ status, next_attempt_at: null, updated_at: this.m.clock.now() })
      .where("id", "=", messageId)
      .execute();
  }

  /** #rateLimitWait takes a token from the endpoint's bucket (per process); returns ms to wait when empty. */
  #rateLimitWait(endpoint: WebhookEndpointTable): number {
    const rate = endpoint.rate_limit_per_second === null ? null : Number(endpoint.rate_limit_per_second);
    if (rate === null) return 0;
    const now = Date.now();
    const bucket = this.#buckets.get(endpoint.id) ?? { tokens: rate, at: now };
    bucket.tokens = Math.min(rate, bucket.tokens + ((now - bucket.at) / 1000) * rate);
    bucket.at = now;
    this.#buckets.set(endpoint.id, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) / rate) * 1000) + Math.floor(Math.random() * 50);
  }
}

/** retryAfterMs reads a `Retry-After` header (seconds or an HTTP date); null when absent or invalid. */
export function retryAfterMs(value: string | string[] | undefined, now: number): number | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return null;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** hostOf names a URL's host for logs (never its path or query, which may hold a token). */
function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "(invalid URL)";
  }
}
