import type { Kysely } from "kysely";
import type { Tx } from "../../platform/db/db.js";
import type { Fact } from "../../platform/facts/index.js";
import { LastUsedTracker } from "../../platform/last-used.js";
import type { ModuleContext } from "../../platform/module.js";
import type { TenancyService } from "../tenancy/index.js";
import type { Core } from "./internal/core.js";
import { CredentialCache } from "./internal/credential-cache.js";
import { PasswordHasher } from "./internal/passwords.js";
import { SecondFactors } from "./internal/second-factors.js";
import { LoginThrottle } from "./internal/throttle.js";
import { AuthSettingsService } from "./service/auth-settings.js";
import { MfaChallengesService } from "./service/mfa-challenges.js";
import { MfaFactorsService } from "./service/mfa-factors.js";
import { MfaPolicy } from "./service/mfa-policy.js";
import { OperatorsService } from "./service/operators.js";
import { CredentialResolution } from "./service/resolve.js";
import { SecretKeysService } from "./service/secret-keys.js";
import { SessionsService } from "./service/sessions.js";
import { UsersService } from "./service/users.js";
import type { IdentityTables } from "./tables.js";

/** Facts from other modules that change what a cached credential may do. */
const INVALIDATING_FACTS = new Set(["project.archived", "environment.archived", "surface.archived", "surface.updated"]);

/** IdentityService: operators, end users, sessions, secret keys, and resolving them into principals. */
export class IdentityService {
  readonly operators: OperatorsService;
  readonly users: UsersService;
  readonly sessions: SessionsService;
  readonly secretKeys: SecretKeysService;
  readonly resolution: CredentialResolution;
  readonly authSettings: AuthSettingsService;
  /** mfa: when a second factor is due, and the registry of methods (`factors.register` adds one). */
  readonly mfa: MfaPolicy;
  readonly mfaFactors: MfaFactorsService;
  readonly mfaChallenges: MfaChallengesService;
  readonly core: Core;

  constructor(m: ModuleContext, tenancy: TenancyService) {
    const bus = m.bus;
    this.core = {
      config: m.config,
      db: m.db,
      clock: m.clock,
      logger: m.logger,
      facts: m.facts,
      bus,
      access: m.access,
      secrets: m.secrets,
      hasher: new PasswordHasher(m.config.passwords.profile, m.config.passwords.concurrency, {
        maxQueue: m.config.passwords.maxQueue,
      }),
      cache: new CredentialCache(bus),
      lastUsed: new LastUsedTracker(
        (table, rows) => this.resolution.writeLastUsed(table, rows),
        (err) => m.logger.warn({ err }, "could not record lastUsedAt"),
      ),
      throttle: new LoginThrottle(m.db.tables<IdentityTables>(), m.clock, {
        small: (fn) => m.db.small((db) => fn(db as unknown as Kysely<IdentityTables>)),
      }),
      tenancy,
      tables: m.db.tables<IdentityTables>(),
      revoked: (tx, owner) => bus.publish(tx, "credentials", owner),
    };
    this.authSettings = new AuthSettingsService(this.core);
    this.operators = new OperatorsService(this.core);
    this.users = new UsersService(this.core);
    this.mfa = new MfaPolicy(this.core, this.authSettings, new SecondFactors());
    this.mfaFactors = new MfaFactorsService(this.core, this.authSettings, this.mfa.factors);
    this.sessions = new SessionsService(this.core, this.users, this.mfa);
    this.mfaChallenges = new MfaChallengesService(this.core, this.mfa.factors, this.mfaFactors, this.sessions);
    this.secretKeys = new SecretKeysService(this.core);
    this.resolution = new CredentialResolution(this.core);
  }

  /** onFact evicts cached credentials when their surface, environment or project changes. */
  async onFact(tx: Tx, fact: Fact): Promise<void> {
    if (!INVALIDATING_FACTS.has(fact.type)) return;
    for (const target of fact.targets) await this.core.revoked(tx, target.id);
    if (fact.type === "project.archived") await this.core.revoked(tx, "*");
  }

  async start(): Promise<void> {
    this.core.lastUsed.start();
  }

  async stop(): Promise<void> {
    await this.core.lastUsed.stop();
    await this.core.hasher.close();
  }
}
