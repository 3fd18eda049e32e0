import type { Config } from "../../../config.js";
import type { Authorizer } from "../../../platform/access.js";
import type { Clock } from "../../../platform/clock.js";
import type { ChangeBus } from "../../../platform/db/bus.js";
import type { Db, Tx, TypedDb } from "../../../platform/db/db.js";
import type { FactRecorder } from "../../../platform/facts/index.js";
import type { LastUsedTracker } from "../../../platform/last-used.js";
import type { Logger } from "../../../platform/logger.js";
import type { SecretVault } from "../../../platform/secrets-vault.js";
import type { TenancyService } from "../../tenancy/index.js";
import type { IdentityTables } from "../tables.js";
import type { CredentialCache } from "./credential-cache.js";
import type { PasswordHasher } from "./passwords.js";
import type { LoginThrottle } from "./throttle.js";

/** Core is what every identity service shares. */
export interface Core {
  config: Config;
  db: Db;
  clock: Clock;
  logger: Logger;
  facts: FactRecorder;
  bus: ChangeBus;
  /** access is the platform's one permission check (the ModuleContext's `access`). */
  access: Authorizer;
  /** secrets seals what identity must read back (TOTP secrets) under the plane's master key. */
  secrets: SecretVault;
  hasher: PasswordHasher;
  cache: CredentialCache;
  lastUsed: LastUsedTracker;
  throttle: LoginThrottle;
  tenancy: TenancyService;
  tables: TypedDb<IdentityTables>;
  /** revoked announces that credentials owned by `owner` (a credential, user or operator id) changed. */
  revoked(tx: Tx, owner: string): Promise<void>;
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}
