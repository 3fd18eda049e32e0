import { defineModule } from "../../platform/module.js";
import { tenancyModule } from "../tenancy/index.js";
import { IDENTITY_FACTS } from "./facts.js";
import { identityIds } from "./ids.js";
import { TOKEN_PREFIX } from "./internal/tokens.js";
import { migration as core } from "./migrations/202611261300_identity_core.js";
import { migration as dropTenancyFks } from "./migrations/202612011200_identity_drop_tenancy_fks.js";
import { migration as tenantsVocabulary } from "./migrations/202612021310_identity_tenants_vocabulary.js";
import { migration as throttle } from "./migrations/202612061400_identity_throttle.js";
import { migration as authFoundation } from "./migrations/202612131000_identity_auth_foundation.js";
import { migration as mfa } from "./migrations/202612131200_identity_mfa.js";
import { identityRoutes } from "./routes.js";
import { IdentityService } from "./service.js";

export const identityModule = defineModule({
  name: "identity",
  dependsOn: { tenancy: tenancyModule },
  migrations: [core, dropTenancyFks, tenantsVocabulary, throttle, authFoundation, mfa],
  ids: identityIds.prefixes,
  facts: IDENTITY_FACTS,
  createService: (ctx, { tenancy }) => new IdentityService(ctx, tenancy),
  routes: (service) => identityRoutes(service),
  sealedColumns: [{ table: "mfa_factor", column: "secret" }],
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
  ],
  schedules: { "identity.prune_throttle": "*/15 * * * *" },
  factSinks: (service) => [{ name: "identity.credential_cache", sink: (tx, fact) => service.onFact(tx, fact) }],
  start: (service) => service.start(),
  stop: (service) => service.stop(),
});
