import { sql } from "kysely";
import { columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/**
 * An entitlement set without a time zone follows its tenant's (`zone_from_tenant`): its calendar
 * months move when the tenant's time zone changes. Entitlements set before keep the zone they named
 * (UTC when they named none).
 */
export const migration: ModuleMigration = {
  name: "202612121420_usage_entitlement_zone",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .alterTable("usage_entitlement")
      .addColumn("zone_from_tenant", t.boolean, (c) =>
        c.notNull().defaultTo(engine === "postgres" ? sql`false` : sql`0`),
      )
      .execute();
  },
  async down(db) {
    await db.schema.alterTable("usage_entitlement").dropColumn("zone_from_tenant").execute();
  },
};
