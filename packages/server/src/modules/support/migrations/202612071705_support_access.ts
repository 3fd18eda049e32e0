import { columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/** Operators' support access to tenants, and each tenant's support policy. */
export const migration: ModuleMigration = {
  name: "202612071705_support_access",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("support_access")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id, (c) => c.notNull())
      .addColumn("operator_id", t.id, (c) => c.notNull())
      .addColumn("operator_name", t.text)
      .addColumn("reason", t.text, (c) => c.notNull())
      .addColumn("access", t.text, (c) => c.notNull())
      .addColumn("duration_seconds", t.integer, (c) => c.notNull())
      .addColumn("status", t.text, (c) => c.notNull())
      .addColumn("policy", t.text, (c) => c.notNull())
      .addColumn("requested_at", t.timestamp, (c) => c.notNull())
      .addColumn("decided_at", t.timestamp)
      .addColumn("decided_by", t.id)
      .addColumn("decision_note", t.text)
      .addColumn("expires_at", t.timestamp)
      .addColumn("ended_at", t.timestamp)
      .addColumn("ended_by_type", t.text)
      .addColumn("ended_by_id", t.id)
      .execute();
    // The access check's lookup: an operator's grants in one tenant.
    await db.schema
      .createIndex("support_access_lookup")
      .on("support_access")
      .columns(["environment_id", "tenant_id", "operator_id", "status"])
      .execute();
    await db.schema
      .createIndex("support_access_environment")
      .on("support_access")
      .columns(["environment_id", "id"])
      .execute();
    await db.schema
      .createTable("support_policy")
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id, (c) => c.notNull())
      .addColumn("mode", t.text, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .addPrimaryKeyConstraint("support_policy_pk", ["environment_id", "tenant_id"])
      .execute();
  },
  async down(db) {
    await db.schema.dropTable("support_policy").execute();
    await db.schema.dropTable("support_access").execute();
  },
};
