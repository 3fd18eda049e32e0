import { columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/** The probe module's tables: items, the facts its sink stores, and job runs. */
export const migration: ModuleMigration = {
  name: "202611260100_probe_tables",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("probe_item")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("name", t.text, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .execute();
    await db.schema.createIndex("probe_item_env_idx").on("probe_item").columns(["environment_id", "id"]).execute();
    await db.schema
      .createTable("probe_fact")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("type", t.text, (c) => c.notNull())
      .addColumn("environment_id", t.id)
      .addColumn("actor_id", t.text)
      .addColumn("targets", t.text, (c) => c.notNull())
      .execute();
    await db.schema
      .createTable("probe_job_run")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("job_id", t.id, (c) => c.notNull())
      .addColumn("worker_pid", "integer", (c) => c.notNull())
      .addColumn("ran_at", t.timestamp, (c) => c.notNull())
      .execute();
  },
  async down(db) {
    await db.schema.dropTable("probe_job_run").execute();
    await db.schema.dropTable("probe_fact").execute();
    await db.schema.dropTable("probe_item").execute();
  },
};
