import { sql } from "kysely";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/**
 * PostgreSQL: a covering index on a tenant's rollups of one meter and grain, with the columns
 * `used` sums (`n`, `total`) included, so a range of buckets is summed from the index alone
 * (index-only scan) instead of one heap fetch per bucket. SQLite needs none: its rollup table is
 * stored in primary-key order (`without rowid`), which already covers the range.
 *
 * NOTE: `n` and `total` in an index make rollup upserts non-HOT updates on PostgreSQL (each writes
 * an index entry): ingestion pays that for reads of usage over long ranges (invoice previews,
 * finalization).
 */
export const migration: ModuleMigration = {
  name: "202612121610_usage_rollup_cover",
  async up(db, engine) {
    if (engine !== "postgres") return;
    await sql`create index usage_rollup_cover_idx on usage_rollup (environment_id, meter_id, tenant_id, grain, bucket_start) include (n, total)`.execute(
      db,
    );
  },
  async down(db, engine) {
    if (engine !== "postgres") return;
    await db.schema.dropIndex("usage_rollup_cover_idx").execute();
  },
};
