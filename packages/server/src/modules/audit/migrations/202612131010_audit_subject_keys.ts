import { columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/**
 * One key per data subject (an end user) for the personal fields of audit entries about them
 * (`internal/personal.ts`). `sealed_key` is sealed under the master key; erasure sets it to null
 * and stamps `erased_at` (the row stays as a tombstone).
 */
export const migration: ModuleMigration = {
  name: "202612131010_audit_subject_keys",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("audit_subject_key")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("sealed_key", t.text)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("erased_at", t.timestamp)
      .execute();
  },
  async down(db) {
    await db.schema.dropTable("audit_subject_key").execute();
  },
};
