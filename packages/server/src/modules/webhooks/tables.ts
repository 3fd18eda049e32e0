/** Kysely table types of the webhooks module. */
export interface WebhookEndpointTable {
  id: string;
  environment_id: string;
  /** tenant_id: set for tenant-owned endpoints (they receive only that tenant's events). */
  tenant_id: string | null;
  url: string;
  description: string;
  event_types: unknown;
  enabled: number | boolean;
  disabled_reason: string | null;
  disabled_at: number | null;
  rate_limit_per_second: number | null;
  headers: unknown;
  /** secret signs deliveries (`whsec_…`); it must be readable to sign, so it is not hashed. */
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: number | null;
  /** failing_since: when the current run of failed attempts began (null after a success). */
  failing_since: number | null;
  created_at: number;
  updated_at: number;
}

export type MessageStatus = "pending" | "paused" | "succeeded" | "failed";

export interface WebhookMessageTable {
  id: string;
  environment_id: string;
  tenant_id: string | null;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  status: MessageStatus;
  attempts: number;
  /** job_id: the delivery job in charge of the message; any other job for it stops. */
  job_id: string | null;
  next_attempt_at: number | null;
  last_attempt_at: number | null;
  last_status_code: number | null;
  delivered_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface WebhookAttemptTable {
  id: string;
  environment_id: string;
  message_id: string;
  endpoint_id: string;
  attempt: number;
  outcome: "succeeded" | "failed";
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  response_body: string | null;
  created_at: number;
}

export interface WebhooksTables {
  webhook_endpoint: WebhookEndpointTable;
  webhook_message: WebhookMessageTable;
  webhook_attempt: WebhookAttemptTable;
}
