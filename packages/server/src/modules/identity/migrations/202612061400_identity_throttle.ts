import { columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/**
 * Throttle counters shared by every process of the plane: one row per (scope, key, window), so a
 * login bumps its counters with one upsert on the primary key. `expires_at` lets the prune job
 * drop finished windows through an index.
 */
export const migration: ModuleMigration = {
  name: "202612061400_identity_throttle",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("throttle_counter")
      .addColumn("scope", t.text, (c) => c.notNull())
      .addColumn("key", t.text, (c) => c.notNull())
      .addColumn("window_start", t.timestamp, (c) => c.notNull())
      .addColumn("count", t.integer, (c) => c.notNull())
      .addColumn("expires_at", t.timestamp, (c) => c.notNull())
      .addPrimaryKeyConstraint("throttle_counter_pk", ["scope", "key", "window_start"])
      .execute();
    await db.schema.createIndex("throttle_counter_expires_idx").on("throttle_counter").column("expires_at").execute();
  },
  async down(db) {
    await db.schema.dropTable("throttle_counter").execute();
  },
};
