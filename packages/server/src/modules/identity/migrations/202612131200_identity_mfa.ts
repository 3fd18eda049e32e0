import { columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/**
 * Second factors: `mfa_factor` holds a user's factors (a TOTP secret sealed under the master key,
 * `pending` until a first code confirms it, and the last accepted time step so a code is never
 * accepted twice); `mfa_recovery_code` the single-use recovery codes (SHA-256); `mfa_challenge`
 * the short-lived, single-use challenges a first-factor sign-in answers with (token as SHA-256).
 */
export const migration: ModuleMigration = {
  name: "202612131200_identity_mfa",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("mfa_factor")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("user_id", t.id, (c) => c.notNull())
      .addColumn("kind", t.text, (c) => c.notNull())
      .addColumn("status", t.text, (c) => c.notNull())
      .addColumn("secret", t.text)
      .addColumn("last_time_step", t.integer)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("confirmed_at", t.timestamp)
      .addColumn("last_used_at", t.timestamp)
      .execute();
    await db.schema
      .createIndex("mfa_factor_user_idx")
      .on("mfa_factor")
      .columns(["environment_id", "user_id"])
      .execute();
    await db.schema
      .createTable("mfa_recovery_code")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("user_id", t.id, (c) => c.notNull())
      .addColumn("code_hash", t.text, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("used_at", t.timestamp)
      .execute();
    await db.schema
      .createIndex("mfa_recovery_code_user_idx")
      .on("mfa_recovery_code")
      .columns(["user_id", "code_hash"])
      .execute();
    await db.schema
      .createTable("mfa_challenge")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("user_id", t.id, (c) => c.notNull())
      .addColumn("surface_id", t.id, (c) => c.notNull())
      .addColumn("token_hash", t.text, (c) => c.notNull().unique())
      .addColumn("purpose", t.text, (c) => c.notNull())
      .addColumn("first_factor", t.text, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("expires_at", t.timestamp, (c) => c.notNull())
      .addColumn("used_at", t.timestamp)
      .execute();
    await db.schema.createIndex("mfa_challenge_expires_idx").on("mfa_challenge").column("expires_at").execute();
  },
  async down(db) {
    await db.schema.dropTable("mfa_challenge").execute();
    await db.schema.dropTable("mfa_recovery_code").execute();
    await db.schema.dropTable("mfa_factor").execute();
  },
};
