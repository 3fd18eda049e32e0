import { checkIn, columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/** Projects, environments (the hard isolation boundary), surfaces and tenants. */
export const migration: ModuleMigration = {
  name: "202611261200_tenancy_core",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("project")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("name", t.text, (c) => c.notNull())
      .addColumn("slug", t.text, (c) => c.notNull().unique())
      .addColumn("archived_at", t.timestamp)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .execute();

    await db.schema
      .createTable("environment")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("project_id", t.id, (c) => c.notNull().references("project.id"))
      .addColumn("name", t.text, (c) => c.notNull())
      .addColumn("slug", t.text, (c) => c.notNull())
      .addColumn("archived_at", t.timestamp)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .addUniqueConstraint("environment_project_slug_uq", ["project_id", "slug"])
      .execute();

    await db.schema
      .createTable("surface")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull().references("environment.id"))
      .addColumn("name", t.text, (c) => c.notNull())
      .addColumn("kind", t.text, (c) => c.notNull().check(checkIn("kind", ["web", "api", "agent", "internal"])))
      .addColumn("allowed_origins", t.json, (c) => c.notNull())
      .addColumn("scope_ceiling", t.json, (c) => c.notNull())
      .addColumn("self_signup", t.boolean, (c) => c.notNull())
      .addColumn("archived_at", t.timestamp)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .execute();
    await db.schema.createIndex("surface_environment_idx").on("surface").columns(["environment_id", "id"]).execute();

    await db.schema
      .createTable("tenant")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull().references("environment.id"))
      .addColumn("name", t.text, (c) => c.notNull())
      .addColumn("slug", t.text, (c) => c.notNull())
      .addColumn("external_id", t.text)
      .addColumn("metadata", t.json, (c) => c.notNull())
      .addColumn("state", t.text, (c) => c.notNull())
      .addColumn("state_reason", t.text)
      .addColumn("state_changed_at", t.timestamp, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .addUniqueConstraint("tenant_environment_slug_uq", ["environment_id", "slug"])
      .addUniqueConstraint("tenant_environment_external_id_uq", ["environment_id", "external_id"])
      .execute();
    await db.schema.createIndex("tenant_environment_idx").on("tenant").columns(["environment_id", "id"]).execute();
  },
  async down(db) {
    await db.schema.dropTable("tenant").execute();
    await db.schema.dropTable("surface").execute();
    await db.schema.dropTable("environment").execute();
    await db.schema.dropTable("project").execute();
  },
};
