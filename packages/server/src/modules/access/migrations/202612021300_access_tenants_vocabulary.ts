import type { ModuleMigration } from "../../../platform/db/migrator.js";
import { renameStoredPermissions } from "../../../platform/db/rename-permissions.js";

/** The tenants resource is plural like every other (`tenants:read`): stored grants and scopes follow. */
const RENAMES = { "tenant:read": "tenants:read", "tenant:update": "tenants:update", "tenant:*": "tenants:*" };
const BACK = Object.fromEntries(Object.entries(RENAMES).map(([from, to]) => [to, from]));

export const migration: ModuleMigration = {
  name: "202612021300_access_tenants_vocabulary",
  async up(db) {
    await renameStoredPermissions(db, "role", "permissions", RENAMES);
    await renameStoredPermissions(db, "tenant_key", "permissions", RENAMES);
    await renameStoredPermissions(db, "agent_key", "scopes", RENAMES);
  },
  async down(db) {
    await renameStoredPermissions(db, "role", "permissions", BACK);
    await renameStoredPermissions(db, "tenant_key", "permissions", BACK);
    await renameStoredPermissions(db, "agent_key", "scopes", BACK);
  },
};
