import { checkIn, columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/** Operators and their tokens, end users, sessions, password resets and secret keys. */
export const migration: ModuleMigration = {
  name: "202611261300_identity_core",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("operator")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("email", t.text, (c) => c.notNull().unique())
      .addColumn("name", t.text, (c) => c.notNull())
      .addColumn("role", t.text, (c) => c.notNull().check(checkIn("role", ["admin", "support"])))
      .addColumn("password_hash", t.text, (c) => c.notNull())
      .addColumn("disabled_at", t.timestamp)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .execute();

    await db.schema
      .createTable("operator_token")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("operator_id", t.id, (c) => c.notNull().references("operator.id"))
      .addColumn("kind", t.text, (c) => c.notNull().check(checkIn("kind", ["session", "api"])))
      .addColumn("name", t.text, (c) => c.notNull())
      .addColumn("token_hash", t.text, (c) => c.notNull().unique())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("last_used_at", t.timestamp, (c) => c.notNull())
      .addColumn("expires_at", t.timestamp)
      .addColumn("revoked_at", t.timestamp)
      .addColumn("ip", t.text)
      .addColumn("user_agent", t.text)
      .execute();
    await db.schema.createIndex("operator_token_operator_idx").on("operator_token").column("operator_id").execute();

    await db.schema
      .createTable("user")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull().references("environment.id"))
      .addColumn("email", t.text, (c) => c.notNull())
      .addColumn("email_normalized", t.text, (c) => c.notNull())
      .addColumn("name", t.text)
      .addColumn("profile", t.json, (c) => c.notNull())
      .addColumn("password_hash", t.text)
      .addColumn("disabled_at", t.timestamp)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .addUniqueConstraint("user_environment_email_uq", ["environment_id", "email_normalized"])
      .execute();
    await db.schema.createIndex("user_environment_idx").on("user").columns(["environment_id", "id"]).execute();

    await db.schema
      .createTable("session")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("user_id", t.id, (c) => c.notNull().references("user.id"))
      .addColumn("surface_id", t.id, (c) => c.notNull())
      .addColumn("token_hash", t.text, (c) => c.notNull().unique())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("last_used_at", t.timestamp, (c) => c.notNull())
      .addColumn("expires_at", t.timestamp, (c) => c.notNull())
      .addColumn("revoked_at", t.timestamp)
      .addColumn("ip", t.text)
      .addColumn("user_agent", t.text)
      .execute();
    await db.schema.createIndex("session_user_idx").on("session").columns(["environment_id", "user_id"]).execute();

    await db.schema
      .createTable("password_reset")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("user_id", t.id, (c) => c.notNull().references("user.id"))
      .addColumn("token_hash", t.text, (c) => c.notNull().unique())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("expires_at", t.timestamp, (c) => c.notNull())
      .addColumn("used_at", t.timestamp)
      .execute();

    await db.schema
      .createTable("secret_key")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull().references("environment.id"))
      .addColumn("surface_id", t.id, (c) => c.notNull().references("surface.id"))
      .addColumn("name", t.text, (c) => c.notNull())
      .addColumn("token_hash", t.text, (c) => c.notNull().unique())
      .addColumn("display", t.text, (c) => c.notNull())
      .addColumn("scopes", t.json, (c) => c.notNull())
      .addColumn("created_by", t.text, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("expires_at", t.timestamp)
      .addColumn("revoked_at", t.timestamp)
      .addColumn("last_used_at", t.timestamp)
      .addColumn("replaced_by", t.id)
      .execute();
    await db.schema
      .createIndex("secret_key_environment_idx")
      .on("secret_key")
      .columns(["environment_id", "id"])
      .execute();
  },
  async down(db) {
    await db.schema.dropTable("secret_key").execute();
    await db.schema.dropTable("password_reset").execute();
    await db.schema.dropTable("session").execute();
    await db.schema.dropTable("user").execute();
    await db.schema.dropTable("operator_token").execute();
    await db.schema.dropTable("operator").execute();
  },
};
