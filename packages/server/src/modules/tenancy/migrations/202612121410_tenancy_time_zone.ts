import { sql } from "kysely";
import { columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/** A tenant's IANA time zone: its calendar months (usage limits, billing periods) are counted in it. */
export const migration: ModuleMigration = {
  name: "202612121410_tenancy_time_zone",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .alterTable("tenant")
      .addColumn("time_zone", t.text, (c) => c.notNull().defaultTo(sql`'UTC'`))
      .execute();
  },
  async down(db) {
    await db.schema.alterTable("tenant").dropColumn("time_zone").execute();
  },
};
