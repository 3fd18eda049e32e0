import type { TypedDb } from "../../../platform/db/db.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { AccessService } from "../../access/index.js";
import type { IdentityService } from "../../identity/index.js";
import type { TenancyService } from "../../tenancy/index.js";
import type { SsoTables } from "../tables.js";
import type { IssuerDirectory } from "./issuer.js";

/** Core is what every sso service shares. */
export interface Core {
  m: ModuleContext;
  tenancy: TenancyService;
  identity: IdentityService;
  access: AccessService;
  tables: TypedDb<SsoTables>;
  issuers: IssuerDirectory;
}
