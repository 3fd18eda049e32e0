import { sql } from "kysely";
import { columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/**
 * An environment's `production` flag: live data and real money. Non-production environments may
 * use test-only tools (billing test clocks). Existing environments whose slug says production
 * (`production`, `prod`, `live`) are marked as such; the rest are not.
 */
export const migration: ModuleMigration = {
  name: "202612121550_tenancy_environment_production",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .alterTable("environment")
      .addColumn("production", t.boolean, (c) => c.notNull().defaultTo(engine === "postgres" ? sql`false` : sql`0`))
      .execute();
    await db
      .updateTable("environment" as never)
      .set({ production: engine === "postgres" ? sql`true` : sql`1` } as never)
      .where(sql.ref("slug"), "in", ["production", "prod", "live"])
      .execute();
  },
  async down(db) {
    await db.schema.alterTable("environment").dropColumn("production").execute();
  },
};
