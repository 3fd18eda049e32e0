import type { Config } from "../../../config.js";
import type { Authorizer } from "../../../platform/access.js";
import type { Clock } from "../../../platform/clock.js";
import type { ChangeBus } from "../../../platform/db/bus.js";
import type { Db, Tx, TypedDb } from "../../../platform/db/db.js";
import type { FactRecorder } from "../../../platform/facts/index.js";
import type { JobQueue } from "../../../platform/jobs/index.js";
import type { LastUsedTracker } from "../../../platform/last-used.js";
import type { Logger } from "../../../platform/logger.js";
import type { PersonalDataRegistry } from "../../../platform/personal-data.js";
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
  /** jobs: the durable queue; a job enqueued in a write's transaction exists exactly when the write commits. */
  jobs: JobQueue;
  bus: ChangeBus;
  /** access is the platform's one permission check (the ModuleContext's `access`). */
  access: Authorizer;
  /** secrets seals what identity must read back (TOTP secrets, signing keys' private halves) under the master key. */
  secrets: SecretVault;
  hasher: PasswordHasher;
  cache: CredentialCache;
  lastUsed: LastUsedTracker;
  throttle: LoginThrottle;
  tenancy: TenancyService;
  tables: TypedDb<IdentityTables>;
  /** personalData runs data subject requests across every module (export, erasure). */
  personalData: PersonalDataRegistry;
  /** revoked announces that credentials owned by `owner` (a credential, user or operator id) changed. */
  revoked(tx: Tx, owner: string): Promise<void>;
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}
