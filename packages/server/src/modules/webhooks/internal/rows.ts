import type { Selectable } from "kysely";
import { fromJson } from "../../../platform/db/db.js";
import { iso, isoOrNull } from "../../../platform/http/schemas.js";
import type { SecretVault } from "../../../platform/secrets-vault.js";
import type { Attempt, Endpoint, Message } from "../schemas.js";
import type { WebhookAttemptTable, WebhookEndpointTable, WebhookMessageTable } from "../tables.js";
import { openHeaders } from "./sealing.js";

const num = (v: number | null) => (v === null ? null : Number(v));

/** toEndpoint maps a stored endpoint to its API form; its sealed headers are opened with `vault`. */
export function toEndpoint(r: Selectable<WebhookEndpointTable>, now: number, vault: SecretVault): Endpoint {
  const rotating = r.previous_secret_expires_at !== null && Number(r.previous_secret_expires_at) > now;
  return {
    id: r.id,
    environmentId: r.environment_id,
    tenantId: r.tenant_id,
    url: r.url,
    description: r.description,
    eventTypes: fromJson<string[]>(r.event_types),
    enabled: Boolean(r.enabled),
    disabledReason: r.disabled_reason,
    disabledAt: isoOrNull(r.disabled_at),
    rateLimitPerSecond: num(r.rate_limit_per_second),
    headers: openHeaders(vault, r.headers, r.id),
    secretRotatingUntil: rotating ? iso(Number(r.previous_secret_expires_at)) : null,
    failingSince: isoOrNull(r.failing_since),
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

export function toMessage(r: Selectable<WebhookMessageTable>): Message {
  return {
    id: r.id,
    endpointId: r.endpoint_id,
    environmentId: r.environment_id,
    tenantId: r.tenant_id,
    eventId: r.event_id,
    eventType: r.event_type,
    status: r.status,
    attempts: Number(r.attempts),
    nextAttemptAt: isoOrNull(r.next_attempt_at),
    lastAttemptAt: isoOrNull(r.last_attempt_at),
    lastStatusCode: num(r.last_status_code),
    deliveredAt: isoOrNull(r.delivered_at),
    createdAt: iso(r.created_at),
  };
}

export function toAttempt(r: Selectable<WebhookAttemptTable>): Attempt {
  return {
    id: r.id,
    messageId: r.message_id,
    endpointId: r.endpoint_id,
    attempt: Number(r.attempt),
    outcome: r.outcome,
    statusCode: num(r.status_code),
    error: r.error,
    durationMs: Number(r.duration_ms),
    responseBody: r.response_body,
    createdAt: iso(r.created_at),
  };
}
