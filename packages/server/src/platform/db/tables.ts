/** Kysely table types of the platform's own tables. Modules never touch these directly. */
export interface IdempotencyRecordTable {
  scope_hash: string;
  idempotency_key: string;
  environment_id: string | null;
  fingerprint: string;
  state: "in_progress" | "completed";
  locked_until: number;
  response_status: number | null;
  response_body: string | null;
  created_at: number;
  expires_at: number;
}

export interface JobTable {
  id: string;
  name: string;
  payload: unknown;
  status: "queued" | "running" | "succeeded" | "dead";
  run_at: number;
  attempts: number;
  max_attempts: number;
  locked_by: string | null;
  locked_until: number | null;
  last_error: string | null;
  dedupe_key: string | null;
  environment_id: string | null;
  tenant_id: string | null;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
}

export interface JobScheduleTable {
  name: string;
  cron: string;
  next_run_at: number;
  last_enqueued_at: number | null;
  updated_at: number;
}

export interface PlatformTables {
  idempotency_record: IdempotencyRecordTable;
  job: JobTable;
  job_schedule: JobScheduleTable;
}
