import { columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/** A tenant's own rate limits: one row per (environment, tenant), its rules as JSON. */
export const migration: ModuleMigration = {
  name: "202612061905_ratelimits_tenant_limits",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("tenant_rate_limit")
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id, (c) => c.notNull())
      .addColumn("rules", t.json, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .addPrimaryKeyConstraint("tenant_rate_limit_pk", ["environment_id", "tenant_id"])
      .execute();
  },
  async down(db) {
    await db.schema.dropTable("tenant_rate_limit").execute();
  },
};
