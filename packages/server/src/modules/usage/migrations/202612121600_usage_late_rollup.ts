import { sql } from "kysely";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/**
 * Late events by the time they were received: a partial index of the events whose time is more
 * than a minute (`LATE_AFTER_MS`) before they were received. Billing reads the usage that arrived
 * after a period was invoiced through it; events reported on time are not in it (nothing to write
 * for them at ingestion).
 */
export const migration: ModuleMigration = {
  name: "202612121600_usage_late_rollup",
  async up(db) {
    await sql`create index usage_event_late_idx on usage_event (environment_id, tenant_id, received_at) where time < received_at - 60000`.execute(
      db,
    );
  },
  async down(db) {
    await db.schema.dropIndex("usage_event_late_idx").execute();
  },
};
