import type { ModuleMigration } from "../../../platform/db/migrator.js";

/** An index for listing a tenant's holds newest first (`GET /v1/usage/holds?tenantId=`). */
export const migration: ModuleMigration = {
  name: "202612140900_usage_hold_list",
  async up(db) {
    await db.schema
      .createIndex("usage_hold_list_idx")
      .on("usage_hold")
      .columns(["environment_id", "tenant_id", "id"])
      .execute();
  },
  async down(db) {
    await db.schema.dropIndex("usage_hold_list_idx").execute();
  },
};
