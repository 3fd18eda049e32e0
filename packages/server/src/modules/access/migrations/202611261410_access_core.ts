import { columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/** Custom roles, memberships (with a role index), invitations, tenant keys and agent keys. */
export const migration: ModuleMigration = {
  name: "202611261410_access_core",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("role")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("key", t.text, (c) => c.notNull())
      .addColumn("name", t.text, (c) => c.notNull())
      .addColumn("description", t.text)
      .addColumn("permissions", t.json, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .addUniqueConstraint("role_environment_key_uq", ["environment_id", "key"])
      .execute();

    await db.schema
      .createTable("membership")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id, (c) => c.notNull())
      .addColumn("user_id", t.id, (c) => c.notNull())
      .addColumn("roles", t.json, (c) => c.notNull())
      .addColumn("created_by", t.text)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .addUniqueConstraint("membership_tenant_user_uq", ["environment_id", "tenant_id", "user_id"])
      .execute();
    await db.schema
      .createIndex("membership_user_idx")
      .on("membership")
      .columns(["environment_id", "user_id"])
      .execute();

    await db.schema
      .createTable("membership_role")
      .addColumn("membership_id", t.id, (c) => c.notNull().references("membership.id").onDelete("cascade"))
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id, (c) => c.notNull())
      .addColumn("role_key", t.text, (c) => c.notNull())
      .addPrimaryKeyConstraint("membership_role_pk", ["membership_id", "role_key"])
      .execute();
    await db.schema
      .createIndex("membership_role_key_idx")
      .on("membership_role")
      .columns(["environment_id", "role_key", "tenant_id"])
      .execute();

    await db.schema
      .createTable("invitation")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id, (c) => c.notNull())
      .addColumn("email", t.text, (c) => c.notNull())
      .addColumn("email_normalized", t.text, (c) => c.notNull())
      .addColumn("roles", t.json, (c) => c.notNull())
      .addColumn("token_hash", t.text, (c) => c.notNull().unique())
      .addColumn("surface_id", t.id)
      .addColumn("invited_by", t.text, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("expires_at", t.timestamp, (c) => c.notNull())
      .addColumn("accepted_at", t.timestamp)
      .addColumn("accepted_by", t.id)
      .addColumn("revoked_at", t.timestamp)
      .execute();
    await db.schema
      .createIndex("invitation_tenant_email_idx")
      .on("invitation")
      .columns(["environment_id", "tenant_id", "email_normalized"])
      .execute();

    await db.schema
      .createTable("tenant_key")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id, (c) => c.notNull())
      .addColumn("surface_id", t.id, (c) => c.notNull())
      .addColumn("name", t.text, (c) => c.notNull())
      .addColumn("token_hash", t.text, (c) => c.notNull().unique())
      .addColumn("display", t.text, (c) => c.notNull())
      .addColumn("permissions", t.json, (c) => c.notNull())
      .addColumn("created_by", t.text, (c) => c.notNull())
      .addColumn("created_by_type", t.text, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("expires_at", t.timestamp)
      .addColumn("revoked_at", t.timestamp)
      .addColumn("last_used_at", t.timestamp)
      .addColumn("replaced_by", t.id)
      .execute();
    await db.schema
      .createIndex("tenant_key_tenant_idx")
      .on("tenant_key")
      .columns(["environment_id", "tenant_id"])
      .execute();

    await db.schema
      .createTable("agent_key")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id, (c) => c.notNull())
      .addColumn("user_id", t.id, (c) => c.notNull())
      .addColumn("surface_id", t.id, (c) => c.notNull())
      .addColumn("name", t.text, (c) => c.notNull())
      .addColumn("model", t.text)
      .addColumn("token_hash", t.text, (c) => c.notNull().unique())
      .addColumn("display", t.text, (c) => c.notNull())
      .addColumn("scopes", t.json, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("expires_at", t.timestamp)
      .addColumn("revoked_at", t.timestamp)
      .addColumn("last_used_at", t.timestamp)
      .execute();
    await db.schema
      .createIndex("agent_key_user_idx")
      .on("agent_key")
      .columns(["environment_id", "tenant_id", "user_id"])
      .execute();
  },
  async down(db) {
    for (const table of ["agent_key", "tenant_key", "invitation", "membership_role", "membership", "role"]) {
      await db.schema.dropTable(table).execute();
    }
  },
};
