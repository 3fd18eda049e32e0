import { sql } from "kysely";
import { columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/**
 * What the sign-in methods share: a session records how it was opened (`auth_method`), its
 * authentication level (`aal`: 1 one factor, 2 two) and when a second factor was last shown
 * (`second_factor_at`, for step-up); a user records when its address was proven
 * (`email_verified_at`); each surface keeps its sign-in settings (`surface_auth`, one JSON
 * document per surface, validated by `internal/settings`).
 */
export const migration: ModuleMigration = {
  name: "202612131000_identity_auth_foundation",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .alterTable("session")
      .addColumn("auth_method", t.text, (c) => c.notNull().defaultTo("password"))
      .execute();
    await db.schema
      .alterTable("session")
      .addColumn("aal", t.integer, (c) => c.notNull().defaultTo(sql`1`))
      .execute();
    await db.schema.alterTable("session").addColumn("second_factor_at", t.timestamp).execute();
    await db.schema.alterTable("user").addColumn("email_verified_at", t.timestamp).execute();
    await db.schema
      .createTable("surface_auth")
      .addColumn("surface_id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("settings", t.json, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .execute();
  },
  async down(db) {
    await db.schema.dropTable("surface_auth").execute();
    await db.schema.alterTable("user").dropColumn("email_verified_at").execute();
    await db.schema.alterTable("session").dropColumn("second_factor_at").execute();
    await db.schema.alterTable("session").dropColumn("aal").execute();
    await db.schema.alterTable("session").dropColumn("auth_method").execute();
  },
};
