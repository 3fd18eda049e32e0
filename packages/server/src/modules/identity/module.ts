import { defineModule } from "../../platform/module.js";
import { tenancyModule } from "../tenancy/index.js";
import { IDENTITY_FACTS } from "./facts.js";
import { identityIds } from "./ids.js";
import { TOKEN_PREFIX } from "./internal/tokens.js";
import { signInSection } from "./manifest.js";
import { migration as core } from "./migrations/202611261300_identity_core.js";
import { migration as dropTenancyFks } from "./migrations/202612011200_identity_drop_tenancy_fks.js";
import { migration as tenantsVocabulary } from "./migrations/202612021310_identity_tenants_vocabulary.js";
import { migration as throttle } from "./migrations/202612061400_identity_throttle.js";
import { migration as authFoundation } from "./migrations/202612131000_identity_auth_foundation.js";
import { migration as mail } from "./migrations/202612131100_identity_mail.js";
import { migration as mfa } from "./migrations/202612131200_identity_mfa.js";
import { migration as passkeys } from "./migrations/202612131250_identity_passkeys.js";
import { migration as tokens } from "./migrations/202612131400_identity_tokens.js";
import { migration as operatorMfa } from "./migrations/202612140910_identity_operator_mfa.js";
import { identityReview } from "./review.js";
import { identityRoutes } from "./routes.js";
import { MAIL_MAX_ATTEMPTS, PRUNE_MAIL_JOB, SEND_MAIL_JOB } from "./service/mail.js";
import { IdentityService } from "./service.js";

export const identityModule = defineModule({
  name: "identity",
  dependsOn: { tenancy: tenancyModule },
  migrations: [
    core,
    dropTenancyFks,
    tenantsVocabulary,
    throttle,
    authFoundation,
    mail,
    mfa,
    passkeys,
    tokens,
    operatorMfa,
  ],
  ids: identityIds.prefixes,
  facts: IDENTITY_FACTS,
  createService: (ctx, { tenancy }) => new IdentityService(ctx, tenancy),
  routes: (service) => identityRoutes(service),
  manifest: (service) => [signInSection(service)],
  review: (service) => identityReview(service),
  accessHooks: (service) => ({ stepUp: (principal) => service.mfa.stepUpDemand(principal) }),
  credentialResolvers: (service) => [
    {
      kind: "secret_key",
      prefix: TOKEN_PREFIX.secretKey,
      resolve: (token) => service.resolution.resolveSecretKey(token),
    },
    { kind: "session", prefix: TOKEN_PREFIX.session, resolve: (token) => service.resolution.resolveSession(token) },
    {
      kind: "operator_token",
      prefix: TOKEN_PREFIX.operator,
      resolve: (token) => service.resolution.resolveOperatorToken(token),
    },
  ],
  jobs: (service) => [
    {
      name: "identity.prune_throttle",
      maxAttempts: 3,
      handler: async () => void (await service.core.throttle.prune()),
    },
    {
      name: "identity.retire_signing_keys",
      maxAttempts: 3,
      handler: async () => void (await service.signingKeys.retireSigningKeys()),
    },
    {
      name: "identity.prune_passkey_challenges",
      maxAttempts: 3,
      handler: async () => void (await service.passkeys.pruneChallenges()),
    },
    {
      name: SEND_MAIL_JOB,
      maxAttempts: MAIL_MAX_ATTEMPTS,
      handler: async (payload: { mailId: string }, job) =>
        service.mail.deliver(payload.mailId, job.attempt, job.maxAttempts),
    },
    { name: PRUNE_MAIL_JOB, maxAttempts: 3, handler: async () => void (await service.mail.prune()) },
  ],
  personalData: (service) => service.privacy,
  schedules: {
    "identity.prune_throttle": "*/15 * * * *",
    "identity.retire_signing_keys": "*/10 * * * *",
    "identity.prune_passkey_challenges": "*/15 * * * *",
    [PRUNE_MAIL_JOB]: "40 3 * * *",
  },
  sealedColumns: [
    { table: "mfa_factor", column: "secret" },
    { table: "signing_key", column: "private_key" },
  ],
  factSinks: (service) => [{ name: "identity.credential_cache", sink: (tx, fact) => service.onFact(tx, fact) }],
  start: (service) => service.start(),
  stop: (service) => service.stop(),
});
