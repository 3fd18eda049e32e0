import type { Tx, TypedDb } from "../../../platform/db/db.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { IdentityService } from "../../identity/index.js";
import type { TenancyService } from "../../tenancy/index.js";
import type { AccessTables } from "../tables.js";

/** ACCESS_TOPIC is the change-bus topic of membership, role and key changes (payload: an owner id). */
export const ACCESS_TOPIC = "access";

/** Core is what every access service shares. */
export interface Core {
  m: ModuleContext;
  tenancy: TenancyService;
  identity: IdentityService;
  tables: TypedDb<AccessTables>;
  /** changed announces, in `tx`, that what `owner` (a user, key, tenant or `roles:<env>`) grants changed. */
  changed(tx: Tx, owner: string): Promise<void>;
}

/** rolesOwner is the cache owner of an environment's custom roles. */
export function rolesOwner(environmentId: string): string {
  return `roles:${environmentId}`;
}
