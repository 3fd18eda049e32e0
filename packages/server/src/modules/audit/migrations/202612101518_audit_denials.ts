import { columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/**
 * The rate limit of `access.denied` entries: one row per (environment, actor, action, reason)
 * holding when its current window ends and how many refusals it counted without writing an entry.
 */
export const migration: ModuleMigration = {
  name: "202612101518_audit_denials",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("audit_denial_window")
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("actor_id", t.id, (c) => c.notNull())
      .addColumn("action", t.text, (c) => c.notNull())
      .addColumn("reason", t.text, (c) => c.notNull())
      .addColumn("window_ends_at", t.timestamp, (c) => c.notNull())
      .addColumn("suppressed", t.integer, (c) => c.notNull())
      .addPrimaryKeyConstraint("audit_denial_window_pk", ["environment_id", "actor_id", "action", "reason"])
      .execute();
  },
  async down(db) {
    await db.schema.dropTable("audit_denial_window").execute();
  },
};
