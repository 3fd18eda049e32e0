/** Kysely table types of the usage module. */

export type Aggregation = "count" | "sum" | "max" | "min" | "unique_count" | "latest";

export interface UsageMeterTable {
  id: string;
  environment_id: string;
  key: string;
  event_type: string;
  aggregation: Aggregation;
  value_path: string | null;
  /** group_by: `{ dimension: path }` (JSON), at most 5 dimensions. */
  group_by: unknown;
  description: string;
  archived_at: number | null;
  created_at: number;
  updated_at: number;
}

/**
 * UsageEventTable: every accepted event, once. The primary key (environment_id, id) is the
 * deduplication: an insert that conflicts inserts nothing, inside the write's transaction.
 */
export interface UsageEventTable {
  environment_id: string;
  id: string;
  tenant_id: string;
  type: string;
  time: number;
  source: string | null;
  data: unknown;
  /** credential_id / actor_type: who reported it (a credential, or `system` for a module's report). */
  credential_id: string;
  actor_type: string;
  received_at: number;
}

/**
 * UsageRollupTable: per meter × tenant × bucket × group key, the count, sum, minimum, maximum and
 * latest value of the events in the bucket. `grain` is the bucket length in ms (60000: minute,
 * 3600000: hour). Updated by upsert in the ingest transaction, so late events fold in.
 */
export interface UsageRollupTable {
  environment_id: string;
  meter_id: string;
  tenant_id: string;
  grain: number;
  bucket_start: number;
  group_key: string;
  /**
   * shard spreads one bucket's writers over several rows on PostgreSQL (a row lock is held to
   * commit, so one hot row would serialize every writer of a tenant × meter × minute); always 0 on
   * SQLite, which has one writer. Queries sum the shards.
   */
  shard: number;
  n: number;
  total: number;
  min_value: number | null;
  max_value: number | null;
  latest_time: number | null;
  latest_id: string | null;
  latest_value: number | null;
}

/** UsageDistinctTable: the distinct values of a `unique_count` meter, per minute and group key. */
export interface UsageDistinctTable {
  environment_id: string;
  meter_id: string;
  tenant_id: string;
  bucket_start: number;
  group_key: string;
  value: string;
}

export interface UsageEntitlementTable {
  id: string;
  environment_id: string;
  tenant_id: string;
  feature: string;
  kind: "boolean" | "metered";
  enabled: number | boolean;
  meter_id: string | null;
  limit_value: number | null;
  period: "month" | "rolling" | null;
  rolling_seconds: number | null;
  /** time_zone: the zone named when set; unused while `zone_from_tenant` (the tenant's zone counts). */
  time_zone: string;
  zone_from_tenant: number | boolean;
  created_at: number;
  updated_at: number;
}

export type HoldStatus = "open" | "committed" | "released" | "expired";

export interface UsageHoldTable {
  id: string;
  environment_id: string;
  tenant_id: string;
  entitlement_id: string;
  feature: string;
  meter_id: string;
  amount: number;
  status: HoldStatus;
  expires_at: number;
  committed_amount: number | null;
  event_id: string | null;
  created_at: number;
  updated_at: number;
}

export interface UsageTables {
  usage_meter: UsageMeterTable;
  usage_event: UsageEventTable;
  usage_rollup: UsageRollupTable;
  usage_distinct: UsageDistinctTable;
  usage_entitlement: UsageEntitlementTable;
  usage_hold: UsageHoldTable;
}
