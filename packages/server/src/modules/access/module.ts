import { defineModule } from "../../platform/module.js";
import { identityModule } from "../identity/index.js";
import { tenancyModule } from "../tenancy/index.js";
import { ACCESS_FACTS } from "./facts.js";
import { accessIds } from "./ids.js";
import { TOKEN_PREFIX } from "./internal/tokens.js";
import { rolesSection } from "./manifest.js";
import { migration as core } from "./migrations/202611261410_access_core.js";
import { migration as tenantsVocabulary } from "./migrations/202612021300_access_tenants_vocabulary.js";
import { migration as invitationIssuer } from "./migrations/202612061730_access_invitation_issuer.js";
import { accessReview } from "./review.js";
import { accessRoutes } from "./routes.js";
import { AccessService } from "./service.js";
import { ACCESS_ROLE_GRANTS, ACCESS_STATEMENTS } from "./statements.js";

export const accessModule = defineModule({
  name: "access",
  dependsOn: { tenancy: tenancyModule, identity: identityModule },
  migrations: [core, tenantsVocabulary, invitationIssuer],
  ids: accessIds.prefixes,
  permissions: ACCESS_STATEMENTS,
  roleGrants: ACCESS_ROLE_GRANTS,
  facts: ACCESS_FACTS,
  createService: (ctx, { tenancy, identity }) => new AccessService(ctx, tenancy, identity),
  // Identity cannot import access, so access tells it what it needs: the memberships access
  // tokens list, and whether a user holds an admin role (the `required_for_admins` MFA policy).
  connect: (service, { identity }) => {
    identity.accessTokens.useMemberships((tx, environmentId, userId, limit) =>
      service.memberships.summaryOf(tx, environmentId, userId, limit),
    );
    identity.mfa.useAdminCheck((environmentId, userId, tx) => service.grants.holdsAdminRole(environmentId, userId, tx));
  },
  routes: (service) => accessRoutes(service),
  manifest: (service) => [rolesSection(service)],
  review: (service) => accessReview(service),
  credentialResolvers: (service) => [
    {
      kind: "tenant_key",
      prefix: TOKEN_PREFIX.tenantKey,
      resolve: (token) => service.resolution.resolveTenantKey(token),
    },
    { kind: "agent_key", prefix: TOKEN_PREFIX.agentKey, resolve: (token) => service.resolution.resolveAgentKey(token) },
  ],
  factSinks: (service) => [{ name: "access.delegations", sink: (tx, fact) => service.onFact(tx, fact) }],
  personalData: (service) => service.privacy,
  accessHooks: (service) => ({
    memberPermissions: (environmentId, userId, tenantId) =>
      service.grants.memberPermissions(environmentId, userId, tenantId),
  }),
  start: (service) => service.start(),
  stop: (service) => service.stop(),
});
