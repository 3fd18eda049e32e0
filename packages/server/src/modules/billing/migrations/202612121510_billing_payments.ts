import { sql } from "kysely";
import { checkIn, columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/**
 * Taxes, due dates, payments, credit notes and dunning: the invoice's tax and settlement columns,
 * tenants' billing settings (the tax rate), payments (unique per processor reference), credit notes
 * and their gap-free counter, and the marker of a tenant the billing module suspended.
 */
export const migration: ModuleMigration = {
  name: "202612121510_billing_payments",
  async up(db, engine) {
    const t = columnTypes(engine);
    // One column per statement: SQLite adds one column per ALTER TABLE.
    const invoice = () => db.schema.alterTable("billing_invoice");
    await invoice()
      .addColumn("tax_rate", t.text, (c) => c.notNull().defaultTo("0"))
      .execute();
    await invoice()
      .addColumn("tax", t.integer, (c) => c.notNull().defaultTo(0))
      .execute();
    await invoice().addColumn("due_at", t.timestamp).execute();
    await invoice()
      .addColumn("amount_paid", t.integer, (c) => c.notNull().defaultTo(0))
      .execute();
    await invoice()
      .addColumn("amount_credited", t.integer, (c) => c.notNull().defaultTo(0))
      .execute();
    await invoice().addColumn("paid_at", t.timestamp).execute();
    await invoice().addColumn("voided_at", t.timestamp).execute();
    // Invoices finalized before due dates existed were due at finalization.
    await db.updateTable("billing_invoice").set({ due_at: sql`finalized_at` }).execute();
    await db.schema
      .createIndex("billing_invoice_open_idx")
      .on("billing_invoice")
      .columns(["due_at"])
      .where(sql.ref("status"), "=", "finalized")
      .execute();

    await db.schema.alterTable("billing_subscription").addColumn("suspended_tenant_at", t.timestamp).execute();

    await db.schema
      .createTable("billing_settings")
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id, (c) => c.notNull())
      .addColumn("tax_rate", t.text, (c) => c.notNull())
      .addColumn("billing_name", t.text)
      .addColumn("billing_email", t.text)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .addPrimaryKeyConstraint("billing_settings_pk", ["environment_id", "tenant_id"])
      .execute();

    await db.schema
      .createTable("billing_payment")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id, (c) => c.notNull())
      .addColumn("invoice_id", t.id, (c) => c.notNull())
      .addColumn("processor", t.text, (c) => c.notNull())
      .addColumn("reference", t.text, (c) => c.notNull())
      .addColumn("currency", t.text, (c) => c.notNull())
      .addColumn("amount", t.integer, (c) => c.notNull())
      .addColumn("applied", t.integer, (c) => c.notNull())
      .addColumn("overpaid", t.integer, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addUniqueConstraint("billing_payment_reference_uq", ["environment_id", "processor", "reference"])
      .execute();
    await db.schema
      .createIndex("billing_payment_invoice_idx")
      .on("billing_payment")
      .columns(["invoice_id", "id"])
      .execute();

    await db.schema
      .createTable("billing_credit_note")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id, (c) => c.notNull())
      .addColumn("invoice_id", t.id, (c) => c.notNull())
      .addColumn("number", t.text, (c) => c.notNull())
      .addColumn("currency", t.text, (c) => c.notNull())
      .addColumn("reason", t.text, (c) => c.notNull())
      .addColumn("kind", t.text, (c) => c.notNull().check(checkIn("kind", ["full", "lines"])))
      .addColumn("lines", t.json, (c) => c.notNull())
      .addColumn("subtotal", t.integer, (c) => c.notNull())
      .addColumn("tax", t.integer, (c) => c.notNull())
      .addColumn("total", t.integer, (c) => c.notNull())
      .addColumn("credited_to_due", t.integer, (c) => c.notNull())
      .addColumn("refund", t.integer, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addUniqueConstraint("billing_credit_note_number_uq", ["environment_id", "number"])
      .execute();
    await db.schema
      .createIndex("billing_credit_note_invoice_idx")
      .on("billing_credit_note")
      .columns(["invoice_id", "id"])
      .execute();
    await db.schema
      .createIndex("billing_credit_note_tenant_idx")
      .on("billing_credit_note")
      .columns(["environment_id", "tenant_id", "id"])
      .execute();

    await db.schema
      .createTable("billing_credit_note_counter")
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("year", "integer", (c) => c.notNull())
      .addColumn("last_value", t.integer, (c) => c.notNull())
      .addPrimaryKeyConstraint("billing_credit_note_counter_pk", ["environment_id", "year"])
      .execute();
  },
  async down(db) {
    for (const table of ["billing_credit_note_counter", "billing_credit_note", "billing_payment", "billing_settings"]) {
      await db.schema.dropTable(table).execute();
    }
    await db.schema.dropIndex("billing_invoice_open_idx").execute();
    await db.schema.alterTable("billing_subscription").dropColumn("suspended_tenant_at").execute();
    for (const column of ["voided_at", "paid_at", "amount_credited", "amount_paid", "due_at", "tax", "tax_rate"]) {
      await db.schema.alterTable("billing_invoice").dropColumn(column).execute();
    }
  },
};
