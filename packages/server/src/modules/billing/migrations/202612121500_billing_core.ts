import { sql } from "kysely";
import { checkIn, columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/** Plans and their immutable versions, subscriptions, invoices and the invoice number counters. */
export const migration: ModuleMigration = {
  name: "202612121500_billing_core",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("billing_plan")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("key", t.text, (c) => c.notNull())
      .addColumn("name", t.text, (c) => c.notNull())
      .addColumn("description", t.text, (c) => c.notNull())
      .addColumn("current_version_id", t.id, (c) => c.notNull())
      .addColumn("current_version", "integer", (c) => c.notNull())
      .addColumn("archived_at", t.timestamp)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .addUniqueConstraint("billing_plan_key_uq", ["environment_id", "key"])
      .execute();

    await db.schema
      .createTable("billing_plan_version")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("plan_id", t.id, (c) => c.notNull())
      .addColumn("version", "integer", (c) => c.notNull())
      .addColumn("interval", t.text, (c) => c.notNull().check(checkIn("interval", ["week", "month", "year"])))
      .addColumn("currency", t.text, (c) => c.notNull())
      .addColumn("trial_days", "integer", (c) => c.notNull())
      .addColumn("fixed_fee", t.text, (c) => c.notNull())
      .addColumn("charges", t.json, (c) => c.notNull())
      .addColumn("entitlements", t.json, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addUniqueConstraint("billing_plan_version_uq", ["plan_id", "version"])
      .execute();

    await db.schema
      .createTable("billing_subscription")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id, (c) => c.notNull())
      .addColumn("plan_id", t.id, (c) => c.notNull())
      .addColumn("plan_version_id", t.id, (c) => c.notNull())
      .addColumn("pending_plan_version_id", t.id)
      .addColumn("status", t.text, (c) =>
        c.notNull().check(checkIn("status", ["trialing", "active", "past_due", "canceled"])),
      )
      .addColumn("live_tenant_id", t.id)
      .addColumn("anchor", t.timestamp, (c) => c.notNull())
      .addColumn("period_index", "integer", (c) => c.notNull())
      .addColumn("current_period_start", t.timestamp, (c) => c.notNull())
      .addColumn("current_period_end", t.timestamp, (c) => c.notNull())
      .addColumn("trial_end", t.timestamp)
      .addColumn("cancel_at_period_end", t.boolean, (c) => c.notNull())
      .addColumn("canceled_at", t.timestamp)
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addColumn("updated_at", t.timestamp, (c) => c.notNull())
      .addUniqueConstraint("billing_subscription_live_uq", ["environment_id", "live_tenant_id"])
      .execute();
    await db.schema
      .createIndex("billing_subscription_tenant_idx")
      .on("billing_subscription")
      .columns(["environment_id", "tenant_id"])
      .execute();
    await db.schema
      .createIndex("billing_subscription_due_idx")
      .on("billing_subscription")
      .columns(["current_period_end"])
      .where(sql.ref("live_tenant_id"), "is not", null)
      .execute();

    await db.schema
      .createTable("billing_invoice")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("tenant_id", t.id, (c) => c.notNull())
      .addColumn("subscription_id", t.id, (c) => c.notNull())
      .addColumn("plan_version_id", t.id, (c) => c.notNull())
      .addColumn("number", t.text, (c) => c.notNull())
      .addColumn("status", t.text, (c) => c.notNull().check(checkIn("status", ["finalized", "paid", "void"])))
      .addColumn("currency", t.text, (c) => c.notNull())
      .addColumn("period_start", t.timestamp, (c) => c.notNull())
      .addColumn("period_end", t.timestamp, (c) => c.notNull())
      .addColumn("subtotal", t.integer, (c) => c.notNull())
      .addColumn("total", t.integer, (c) => c.notNull())
      .addColumn("lines", t.json, (c) => c.notNull())
      .addColumn("finalized_at", t.timestamp, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .addUniqueConstraint("billing_invoice_period_uq", ["subscription_id", "period_start"])
      .addUniqueConstraint("billing_invoice_number_uq", ["environment_id", "number"])
      .execute();
    await db.schema
      .createIndex("billing_invoice_tenant_idx")
      .on("billing_invoice")
      .columns(["environment_id", "tenant_id", "id"])
      .execute();

    await db.schema
      .createTable("billing_invoice_counter")
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("year", "integer", (c) => c.notNull())
      .addColumn("last_value", t.integer, (c) => c.notNull())
      .addPrimaryKeyConstraint("billing_invoice_counter_pk", ["environment_id", "year"])
      .execute();
  },
  async down(db) {
    for (const table of [
      "billing_invoice_counter",
      "billing_invoice",
      "billing_subscription",
      "billing_plan_version",
      "billing_plan",
    ]) {
      await db.schema.dropTable(table).execute();
    }
  },
};
