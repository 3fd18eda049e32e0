import { checkIn, columnTypes } from "../columns.js";
import type { ModuleMigration } from "../migrator.js";

/** The durable job queue (also the transactional outbox) and the recurring-job schedule. */
export const migration: ModuleMigration = {
  name: "202611260001_platform_jobs",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("job")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("name", t.text, (c) => c.notNull())
      .addColumn("payload", t.json, (c) => c.notNull())
      .addColumn("status", t.text, (c) =>
        c.notNull().check(checkIn("status", ["queued", "running", "succeeded", "dead"])),
      )
      .addColumn("run_at", t.timestamp, (c) => c.notNull())
      .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
      .addColumn("max_attempts", "integer", (c) => c.notNull())
      .addColumn("locked_by", t.text)
      .addColumn("locked_until", t.timestamp)
      .addColumn("last_error", t.text)
      .addColumn("dedupe_key", t.text, (c) => c.unique())
      .addColumn("environment_id", t.id)
      .addColumn("tenant_id", t.id)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .addColumn("finished_at", t.timestamp)
      .execute();
    // Claiming scans runnable jobs by due time; finished jobs are pruned by their finish time.
    await db.schema.createIndex("job_runnable_idx").on("job").columns(["status", "run_at"]).execute();
    await db.schema.createIndex("job_finished_idx").on("job").columns(["finished_at"]).execute();

    await db.schema
      .createTable("job_schedule")
      .addColumn("name", t.text, (c) => c.primaryKey())
      .addColumn("cron", t.text, (c) => c.notNull())
      .addColumn("next_run_at", t.timestamp, (c) => c.notNull())
      .addColumn("last_enqueued_at", t.timestamp)
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .execute();
  },
  async down(db) {
    await db.schema.dropTable("job_schedule").execute();
    await db.schema.dropTable("job").execute();
  },
};
