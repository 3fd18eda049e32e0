import { columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/** Tenant lifecycle: why a tenant left `active` (billing or other) and who moved it. */
export const migration: ModuleMigration = {
  name: "202611261400_tenancy_lifecycle",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema.alterTable("tenant").addColumn("state_category", t.text).execute();
    await db.schema.alterTable("tenant").addColumn("state_changed_by", t.text).execute();
  },
  async down(db) {
    await db.schema.alterTable("tenant").dropColumn("state_changed_by").execute();
    await db.schema.alterTable("tenant").dropColumn("state_category").execute();
  },
};
