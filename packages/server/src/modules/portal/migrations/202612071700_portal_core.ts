import { columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/** The tenant portal: one-time links, the sessions they open, and each surface's theme. */
export const migration: ModuleMigration = {
  name: "202612071700_portal_core",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("portal_link")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id, (c) => c.notNull())
      .addColumn("surface_id", t.id, (c) => c.notNull())
      .addColumn("token_hash", t.text, (c) => c.notNull().unique())
      .addColumn("features", t.json, (c) => c.notNull())
      .addColumn("return_url", t.text)
      .addColumn("actor_email", t.text)
      .addColumn("actor_name", t.text)
      .addColumn("session_ttl_ms", t.integer, (c) => c.notNull())
      .addColumn("created_by_type", t.text, (c) => c.notNull())
      .addColumn("created_by_id", t.text, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("expires_at", t.timestamp, (c) => c.notNull())
      .addColumn("used_at", t.timestamp)
      .addColumn("session_id", t.id)
      .execute();
    await db.schema
      .createIndex("portal_link_tenant")
      .on("portal_link")
      .columns(["environment_id", "tenant_id", "id"])
      .execute();
    await db.schema
      .createTable("portal_session")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id, (c) => c.notNull())
      .addColumn("surface_id", t.id, (c) => c.notNull())
      .addColumn("link_id", t.id, (c) => c.notNull().unique())
      .addColumn("token_hash", t.text, (c) => c.notNull().unique())
      .addColumn("features", t.json, (c) => c.notNull())
      .addColumn("return_url", t.text)
      .addColumn("actor_email", t.text)
      .addColumn("actor_name", t.text)
      .addColumn("created_by_type", t.text, (c) => c.notNull())
      .addColumn("created_by_id", t.text, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("expires_at", t.timestamp, (c) => c.notNull())
      .addColumn("revoked_at", t.timestamp)
      .addColumn("last_used_at", t.timestamp)
      .execute();
    await db.schema
      .createIndex("portal_session_tenant")
      .on("portal_session")
      .columns(["environment_id", "tenant_id", "id"])
      .execute();
    await db.schema
      .createTable("portal_theme")
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("surface_id", t.id, (c) => c.notNull())
      .addColumn("name", t.text)
      .addColumn("logo_url", t.text)
      .addColumn("primary_color", t.text)
      .addColumn("accent_color", t.text)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .addPrimaryKeyConstraint("portal_theme_pk", ["environment_id", "surface_id"])
      .execute();
  },
  async down(db) {
    await db.schema.dropTable("portal_theme").execute();
    await db.schema.dropTable("portal_session").execute();
    await db.schema.dropTable("portal_link").execute();
  },
};
