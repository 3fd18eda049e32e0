import { sql } from "kysely";
import { checkIn, columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/**
 * Prepaid credits: a wallet per tenant and unit, its grants, its holds and its append-only
 * ledger; plan versions may carry credit grants per period.
 */
export const migration: ModuleMigration = {
  name: "202612121520_billing_credits",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema.alterTable("billing_plan_version").addColumn("credits", t.json).execute();

    await db.schema
      .createTable("billing_credit_wallet")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id, (c) => c.notNull())
      .addColumn("unit", t.text, (c) => c.notNull())
      .addColumn("balance", t.integer, (c) => c.notNull().check(sql`balance >= 0`))
      .addColumn("low_balance_threshold", t.integer)
      .addColumn("low_notified", t.boolean, (c) => c.notNull())
      .addColumn("block_feature", t.text)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .addUniqueConstraint("billing_credit_wallet_uq", ["environment_id", "tenant_id", "unit"])
      .execute();

    await db.schema
      .createTable("billing_credit_grant")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id, (c) => c.notNull())
      .addColumn("wallet_id", t.id, (c) => c.notNull())
      .addColumn("source", t.text, (c) =>
        c.notNull().check(checkIn("source", ["plan", "top_up", "operator", "overpayment"])),
      )
      .addColumn("amount", t.integer, (c) => c.notNull())
      .addColumn("remaining", t.integer, (c) => c.notNull().check(sql`remaining >= 0`))
      .addColumn("expires_at", t.timestamp)
      .addColumn("expired_at", t.timestamp)
      .addColumn("reference", t.text)
      .addColumn("description", t.text, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex("billing_credit_grant_wallet_idx")
      .on("billing_credit_grant")
      .columns(["wallet_id", "expires_at"])
      .execute();
    await db.schema
      .createIndex("billing_credit_grant_due_idx")
      .on("billing_credit_grant")
      .columns(["expires_at"])
      .where(sql.ref("expired_at"), "is", null)
      .execute();

    await db.schema
      .createTable("billing_credit_hold")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id, (c) => c.notNull())
      .addColumn("wallet_id", t.id, (c) => c.notNull())
      .addColumn("amount", t.integer, (c) => c.notNull())
      .addColumn("status", t.text, (c) =>
        c.notNull().check(checkIn("status", ["open", "committed", "released", "expired"])),
      )
      .addColumn("committed_amount", t.integer)
      .addColumn("reference", t.text)
      .addColumn("expires_at", t.timestamp, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex("billing_credit_hold_due_idx")
      .on("billing_credit_hold")
      .columns(["expires_at"])
      .where(sql.ref("status"), "=", "open")
      .execute();

    await db.schema
      .createTable("billing_credit_entry")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id, (c) => c.notNull())
      .addColumn("wallet_id", t.id, (c) => c.notNull())
      .addColumn("grant_id", t.id, (c) => c.notNull())
      .addColumn("hold_id", t.id)
      .addColumn("kind", t.text, (c) =>
        c.notNull().check(checkIn("kind", ["grant", "consume", "expire", "hold", "release"])),
      )
      .addColumn("amount", t.integer, (c) => c.notNull())
      .addColumn("balance_after", t.integer, (c) => c.notNull())
      .addColumn("reference", t.text)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex("billing_credit_entry_wallet_idx")
      .on("billing_credit_entry")
      .columns(["wallet_id", "id"])
      .execute();
    await db.schema
      .createIndex("billing_credit_entry_tenant_idx")
      .on("billing_credit_entry")
      .columns(["environment_id", "tenant_id", "id"])
      .execute();
  },
  async down(db) {
    for (const table of [
      "billing_credit_entry",
      "billing_credit_hold",
      "billing_credit_grant",
      "billing_credit_wallet",
    ]) {
      await db.schema.dropTable(table).execute();
    }
    await db.schema.alterTable("billing_plan_version").dropColumn("credits").execute();
  },
};
