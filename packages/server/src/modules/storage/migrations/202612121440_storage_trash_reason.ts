import { columnTypes } from "../../../platform/db/columns.js";
import type { ModuleMigration } from "../../../platform/db/migrator.js";

/**
 * Why a file is in the trash (`request`, `retention`, `tenant_deactivated`): a tenant's reactivation
 * restores exactly the files its deactivation trashed.
 */
export const migration: ModuleMigration = {
  name: "202612121440_storage_trash_reason",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema.alterTable("storage_file").addColumn("deleted_reason", t.text).execute();
  },
  async down(db) {
    await db.schema.alterTable("storage_file").dropColumn("deleted_reason").execute();
  },
};
