import { checkIn, columnTypes } from "../columns.js";
import type { ModuleMigration } from "../migrator.js";

/** The idempotency ledger: one row per (scope, key), holding the first response. */
export const migration: ModuleMigration = {
  name: "202611260000_platform_idempotency",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("idempotency_record")
      .addColumn("scope_hash", t.text, (c) => c.notNull())
      .addColumn("idempotency_key", t.text, (c) => c.notNull())
      .addColumn("environment_id", t.id)
      .addColumn("fingerprint", t.text, (c) => c.notNull())
      .addColumn("state", t.text, (c) => c.notNull().check(checkIn("state", ["in_progress", "completed"])))
      .addColumn("locked_until", t.timestamp, (c) => c.notNull())
      .addColumn("response_status", "integer")
      .addColumn("response_body", t.text)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("expires_at", t.timestamp, (c) => c.notNull())
      .addPrimaryKeyConstraint("idempotency_record_pk", ["scope_hash", "idempotency_key"])
      .execute();
    await db.schema
      .createIndex("idempotency_record_expires_idx")
      .on("idempotency_record")
      .column("expires_at")
      .execute();
  },
  async down(db) {
    await db.schema.dropTable("idempotency_record").execute();
  },
};
