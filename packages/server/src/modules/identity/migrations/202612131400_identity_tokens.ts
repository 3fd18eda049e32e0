import { sql } from "kysely";
import { checkIn, columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/**
 * Tokens a product verifies on its own: each environment's JWT signing keys (`signing_key`: the
 * public JWK in clear, the private key sealed under the master key; one `active` key per
 * environment, older ones `retiring` until the tokens they signed expired, then `retired`) and
 * the refresh tokens of sessions that carry access tokens (`refresh_token`, SHA-256 only; one
 * family per session, each token spent once).
 */
export const migration: ModuleMigration = {
  name: "202612131400_identity_tokens",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("signing_key")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("alg", t.text, (c) => c.notNull().check(checkIn("alg", ["EdDSA", "ES256"])))
      .addColumn("public_jwk", t.json, (c) => c.notNull())
      .addColumn("private_key", t.text, (c) => c.notNull())
      .addColumn("status", t.text, (c) => c.notNull().check(checkIn("status", ["active", "retiring", "retired"])))
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("rotated_at", t.timestamp)
      .addColumn("retires_at", t.timestamp)
      .execute();
    await db.schema
      .createIndex("signing_key_environment")
      .on("signing_key")
      .columns(["environment_id", "status"])
      .execute();
    // One active key per environment: a second concurrent first issuance finds the first one.
    await db.schema
      .createIndex("signing_key_one_active")
      .on("signing_key")
      .column("environment_id")
      .unique()
      .where(sql.ref("status"), "=", "active")
      .execute();
    await db.schema
      .createTable("refresh_token")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("session_id", t.id, (c) => c.notNull())
      .addColumn("family_id", t.id, (c) => c.notNull())
      .addColumn("parent_id", t.id)
      .addColumn("token_hash", t.text, (c) => c.notNull().unique())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("expires_at", t.timestamp, (c) => c.notNull())
      .addColumn("used_at", t.timestamp)
      .addColumn("revoked_at", t.timestamp)
      .execute();
    await db.schema.createIndex("refresh_token_family").on("refresh_token").column("family_id").execute();
    await db.schema.createIndex("refresh_token_session").on("refresh_token").column("session_id").execute();
  },
  async down(db) {
    await db.schema.dropTable("refresh_token").execute();
    await db.schema.dropTable("signing_key").execute();
  },
};
