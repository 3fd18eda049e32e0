import { columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/** The event log (one gap-free sequence per environment), the event catalog and per-environment settings. */
export const migration: ModuleMigration = {
  name: "202611261500_events_core",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("event")
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("seq", t.integer, (c) => c.notNull())
      .addColumn("id", t.text, (c) => c.notNull())
      .addColumn("tenant_id", t.id)
      .addColumn("type", t.text, (c) => c.notNull())
      .addColumn("source", t.text, (c) => c.notNull())
      .addColumn("subject", t.text)
      .addColumn("time", t.timestamp, (c) => c.notNull())
      .addColumn("data", t.json, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addPrimaryKeyConstraint("event_pk", ["environment_id", "seq"])
      .addUniqueConstraint("event_environment_id_uq", ["environment_id", "id"])
      .execute();
    await db.schema
      .createIndex("event_tenant_idx")
      .on("event")
      .columns(["environment_id", "tenant_id", "seq"])
      .execute();
    await db.schema.createIndex("event_time_idx").on("event").columns(["environment_id", "time"]).execute();

    await db.schema
      .createTable("event_sequence")
      .addColumn("environment_id", t.id, (c) => c.primaryKey())
      .addColumn("last_seq", t.integer, (c) => c.notNull())
      .execute();

    await db.schema
      .createTable("event_type")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("name", t.text, (c) => c.notNull())
      .addColumn("description", t.text, (c) => c.notNull())
      .addColumn("version", "integer", (c) => c.notNull())
      .addColumn("schema", t.json)
      .addColumn("deprecated_at", t.timestamp)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .addUniqueConstraint("event_type_environment_name_uq", ["environment_id", "name"])
      .execute();

    await db.schema
      .createTable("event_settings")
      .addColumn("environment_id", t.id, (c) => c.primaryKey())
      .addColumn("retention_days", "integer", (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .execute();
  },
  async down(db) {
    await db.schema.dropTable("event_settings").execute();
    await db.schema.dropTable("event_type").execute();
    await db.schema.dropTable("event_sequence").execute();
    await db.schema.dropTable("event").execute();
  },
};
