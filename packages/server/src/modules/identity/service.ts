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
import { AccessTokensService } from "./service/access-tokens.js";
import { AuthSettingsService } from "./service/auth-settings.js";
import { EmailChangeService } from "./service/email-change.js";
import { EmailFlowsService } from "./service/email-flows.js";
import { MailService } from "./service/mail.js";
import { MailTemplatesService } from "./service/mail-templates.js";
import { MfaChallengesService } from "./service/mfa-challenges.js";
import { MfaFactorsService } from "./service/mfa-factors.js";
import { MfaPolicy } from "./service/mfa-policy.js";
import { OperatorsService } from "./service/operators.js";
import { PasskeysService } from "./service/passkeys.js";
import { PrivacyService } from "./service/privacy.js";
import { CredentialResolution } from "./service/resolve.js";
import { SecretKeysService } from "./service/secret-keys.js";
import { SessionsService } from "./service/sessions.js";
import { SigningKeysService } from "./service/signing-keys.js";
import { UsersService } from "./service/users.js";
import type { IdentityTables } from "./tables.js";

/** Facts from other modules that change what a cached credential may do. */
const INVALIDATING_FACTS = new Set(["project.archived", "environment.archived", "surface.archived", "surface.updated"]);

/** IdentityService: operators, end users, sessions, passkeys, secret keys, and resolving them into principals. */
export class IdentityService {
  readonly operators: OperatorsService;
  readonly users: UsersService;
  readonly sessions: SessionsService;
  readonly secretKeys: SecretKeysService;
  readonly resolution: CredentialResolution;
  readonly authSettings: AuthSettingsService;
  readonly privacy: PrivacyService;
  readonly signingKeys: SigningKeysService;
  readonly accessTokens: AccessTokensService;
  readonly passkeys: PasskeysService;
  /** mail: the outbox; other modules queue mails through it inside their own transactions. */
  readonly mail: MailService;
  readonly mailTemplates: MailTemplatesService;
  readonly emailFlows: EmailFlowsService;
  readonly emailChange: EmailChangeService;
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
      jobs: m.jobs,
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
      personalData: m.personalData,
      revoked: (tx, owner) => bus.publish(tx, "credentials", owner),
    };
    this.authSettings = new AuthSettingsService(this.core);
    this.privacy = new PrivacyService(this.core);
    this.signingKeys = new SigningKeysService(this.core);
    this.accessTokens = new AccessTokensService(this.core, this.signingKeys, this.authSettings);
    this.operators = new OperatorsService(this.core);
    this.users = new UsersService(this.core);
    this.mfa = new MfaPolicy(this.core, this.authSettings, new SecondFactors());
    this.mfaFactors = new MfaFactorsService(this.core, this.authSettings, this.mfa.factors);
    this.sessions = new SessionsService(this.core, this.users, this.accessTokens, this.mfa, this.authSettings);
    this.mfaChallenges = new MfaChallengesService(this.core, this.mfa.factors, this.mfaFactors, this.sessions);
    this.secretKeys = new SecretKeysService(this.core);
    this.passkeys = new PasskeysService(this.core, this.sessions, this.authSettings);
    this.resolution = new CredentialResolution(this.core);
    this.mail = new MailService(this.core, this.authSettings);
    this.mailTemplates = new MailTemplatesService(this.core, this.authSettings);
    this.emailFlows = new EmailFlowsService(this.core, this.mail, this.sessions, this.authSettings);
    this.emailChange = new EmailChangeService(this.core, this.mail, this.authSettings);
    const flows = this.emailFlows;
    this.sessions.emailChecks = {
      afterSignup: async (tx, ctx, user, surface) => {
        const settings = await this.authSettings.settingsFor(surface.id, tx);
        if (settings.email.sendVerificationOnSignup) {
          await flows.queueVerification(tx, ctx, user, surface, settings);
        }
      },
      beforeLogin: (ctx, user, surfaceId, succeeded) => flows.refuseUnverified(ctx, user, surfaceId, succeeded),
    };
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
    this.mail.close();
  }
}
