import { columnTypes } from "../columns.js";
import type { ModuleMigration } from "../migrator.js";

/**
 * The master key check: one value sealed under the plane's master key. It lets a process tell, at
 * start-up, a missing or wrong key file (refuse to start) from a new plane (generate the key).
 */
export const migration: ModuleMigration = {
  name: "202611260002_platform_master_key",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("master_key_check")
      .addColumn("id", t.text, (c) => c.primaryKey())
      .addColumn("sealed", t.text, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .execute();
  },
  async down(db) {
    await db.schema.dropTable("master_key_check").execute();
  },
};
