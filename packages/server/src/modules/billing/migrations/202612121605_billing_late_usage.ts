import { columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/**
 * Late usage: each invoice records the received-time cut-off it billed usage up to
 * (`late_cutoff`: events received before it are on this invoice or an earlier one) and the first
 * event time its subscription bills (`late_from`: the first invoiced period's start). Invoices
 * finalized before have neither: the next invoice starts its late window at their creation.
 */
export const migration: ModuleMigration = {
  name: "202612121605_billing_late_usage",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema.alterTable("billing_invoice").addColumn("late_cutoff", t.timestamp).execute();
    await db.schema.alterTable("billing_invoice").addColumn("late_from", t.timestamp).execute();
  },
  async down(db) {
    await db.schema.alterTable("billing_invoice").dropColumn("late_from").execute();
    await db.schema.alterTable("billing_invoice").dropColumn("late_cutoff").execute();
  },
};
