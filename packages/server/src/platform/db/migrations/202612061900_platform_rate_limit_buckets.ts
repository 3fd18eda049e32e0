import type { ModuleMigration } from "../migrator.js";

/**
 * Rate-limit buckets shared by every process (`BASEPLATE_RATE_LIMIT_STORE=database`): one row per
 * bucket, its state as a GCRA theoretical arrival time (`tat`, epoch ms, fractional), plus the
 * rule of its last request and whether that request was granted (read back by the same upsert).
 */
export const migration: ModuleMigration = {
  name: "202612061900_platform_rate_limit_buckets",
  async up(db, engine) {
    const float = engine === "postgres" ? "double precision" : "real";
    await db.schema
      .createTable("rate_limit_bucket")
      .addColumn("bucket", "text", (c) => c.primaryKey())
      .addColumn("tat", float, (c) => c.notNull())
      .addColumn("interval_ms", float, (c) => c.notNull())
      .addColumn("window_ms", float, (c) => c.notNull())
      .addColumn("granted", "integer", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("rate_limit_bucket_tat").on("rate_limit_bucket").column("tat").execute();
  },
  async down(db) {
    await db.schema.dropTable("rate_limit_bucket").execute();
  },
};
