import { sql } from "kysely";
import { checkIn, columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/**
 * Passkeys (WebAuthn credentials) of end users, and the challenges of their ceremonies: a
 * challenge is stored only as its SHA-256, bound to a surface (and a user when one is known),
 * and used at most once before it expires.
 */
export const migration: ModuleMigration = {
  name: "202612131250_identity_passkeys",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("passkey")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("user_id", t.id, (c) => c.notNull().references("user.id"))
      .addColumn("surface_id", t.id, (c) => c.notNull())
      .addColumn("rp_id", t.text, (c) => c.notNull())
      .addColumn("credential_id", t.text, (c) => c.notNull())
      .addColumn("public_key", t.bytes, (c) => c.notNull())
      .addColumn("counter", t.integer, (c) => c.notNull().defaultTo(sql`0`))
      .addColumn("transports", t.json, (c) => c.notNull())
      .addColumn("aaguid", t.text, (c) => c.notNull())
      .addColumn("backed_up", t.boolean, (c) => c.notNull())
      .addColumn("name", t.text, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("last_used_at", t.timestamp)
      .addColumn("revoked_at", t.timestamp)
      .addUniqueConstraint("passkey_environment_credential_uq", ["environment_id", "credential_id"])
      .execute();
    await db.schema.createIndex("passkey_user_idx").on("passkey").columns(["environment_id", "user_id"]).execute();

    await db.schema
      .createTable("passkey_challenge")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("surface_id", t.id, (c) => c.notNull())
      .addColumn("user_id", t.id)
      .addColumn("purpose", t.text, (c) =>
        c.notNull().check(checkIn("purpose", ["registration", "login", "second_factor"])),
      )
      .addColumn("challenge_hash", t.text, (c) => c.notNull().unique())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("expires_at", t.timestamp, (c) => c.notNull())
      .addColumn("used_at", t.timestamp)
      .execute();
    await db.schema.createIndex("passkey_challenge_expiry_idx").on("passkey_challenge").column("expires_at").execute();
  },
  async down(db) {
    await db.schema.dropTable("passkey_challenge").execute();
    await db.schema.dropTable("passkey").execute();
  },
};
