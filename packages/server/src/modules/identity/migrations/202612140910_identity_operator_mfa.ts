import { columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/**
 * Operators' second factor: `operator_mfa_factor` holds an operator's TOTP secret (sealed under the
 * master key; `pending` until a first code confirms it; the last accepted time step, so a code is
 * never accepted twice), `operator_recovery_code` its single-use recovery codes (SHA-256).
 */
export const migration: ModuleMigration = {
  name: "202612140910_identity_operator_mfa",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("operator_mfa_factor")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("operator_id", t.id, (c) => c.notNull().references("operator.id"))
      .addColumn("status", t.text, (c) => c.notNull())
      .addColumn("secret", t.text, (c) => c.notNull())
      .addColumn("last_time_step", t.integer)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("confirmed_at", t.timestamp)
      .addColumn("last_used_at", t.timestamp)
      .execute();
    await db.schema
      .createIndex("operator_mfa_factor_operator_idx")
      .on("operator_mfa_factor")
      .columns(["operator_id", "status"])
      .execute();
    await db.schema
      .createTable("operator_recovery_code")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("operator_id", t.id, (c) => c.notNull().references("operator.id"))
      .addColumn("code_hash", t.text, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("used_at", t.timestamp)
      .execute();
    await db.schema
      .createIndex("operator_recovery_code_idx")
      .on("operator_recovery_code")
      .columns(["operator_id", "code_hash"])
      .execute();
  },
  async down(db) {
    await db.schema.dropTable("operator_recovery_code").execute();
    await db.schema.dropTable("operator_mfa_factor").execute();
  },
};
