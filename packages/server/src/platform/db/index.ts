export { BatchInsert } from "./batch-insert.js";
export { checkIn, columnTypes, moneyColumns } from "./columns.js";
export { connectDatabase } from "./connect.js";
export type { AnyKysely, Engine, Lockable, PoolStats, Tx } from "./db.js";
export { afterCommit, beforeCommit, containsPattern, Db, fromJson, isUniqueViolation, TypedDb, toJson } from "./db.js";
export type { MigrationStatus, ModuleMigration } from "./migrator.js";
export { MigrationError, PlaneMigrator } from "./migrator.js";
export type { PlatformTables } from "./tables.js";

import { migration as idempotency } from "./migrations/202611260000_platform_idempotency.js";
import { migration as jobs } from "./migrations/202611260001_platform_jobs.js";
import { migration as masterKey } from "./migrations/202611260002_platform_master_key.js";
import { migration as rateLimitBuckets } from "./migrations/202612061900_platform_rate_limit_buckets.js";

/** PLATFORM_MIGRATIONS are the platform's own tables, applied before any module's. */
export const PLATFORM_MIGRATIONS = [idempotency, jobs, masterKey, rateLimitBuckets];
