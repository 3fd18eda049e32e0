import { iso, isoOrNull } from "../../platform/http/schemas.js";
import { defineModule } from "../../platform/module.js";
import { accessModule } from "../access/index.js";
import { identityModule } from "../identity/index.js";
import { tenancyModule } from "../tenancy/index.js";
import { SSO_FACTS } from "./facts.js";
import { ssoIds } from "./ids.js";
import { migration as core } from "./migrations/202612131300_sso_core.js";
import { ssoRoutes } from "./routes.js";
import { SsoService } from "./service.js";

const PRUNE_JOB = "sso.prune_logins";

/**
 * The sso module: sign-in with OpenID Connect. Social providers per surface, enterprise IdPs per
 * tenant routed by the tenant's DNS-verified email domains, the authorization code flow with
 * PKCE, state and nonce, and linking rules no unproven address can use to take an account over.
 * Sessions are opened by identity's `SessionsService.open`; memberships by access's.
 */
export const ssoModule = defineModule({
  name: "sso",
  dependsOn: { tenancy: tenancyModule, identity: identityModule, access: accessModule },
  migrations: [core],
  ids: ssoIds.prefixes,
  permissions: { sso: ["read", "manage"] },
  roleGrants: { admin: { sso: ["read", "manage"] } },
  facts: SSO_FACTS,
  sealedColumns: [
    { table: "oidc_provider", column: "client_secret" },
    { table: "oidc_login", column: "code_verifier" },
  ],
  createService: (ctx, { tenancy, identity, access }) => new SsoService(ctx, tenancy, identity, access),
  routes: (service) => ssoRoutes(service),
  personalData: (service) => ({
    export: async (_db, subject) => ({
      identities: (
        await service.core.tables
          .q()
          .selectFrom("user_identity")
          .select(["id", "provider_id", "subject", "email", "created_at", "last_login_at"])
          .where("environment_id", "=", subject.environmentId)
          .where("user_id", "=", subject.userId)
          .execute()
      ).map((r) => ({
        id: r.id,
        providerId: r.provider_id,
        subject: r.subject,
        email: r.email,
        linkedAt: iso(r.created_at),
        lastLoginAt: isoOrNull(r.last_login_at),
      })),
    }),
    // The links to IdP accounts go: signing in again through the IdP creates or links afresh.
    erase: async (tx, subject) => {
      const gone = await service.core.tables
        .q(tx)
        .deleteFrom("user_identity")
        .where("environment_id", "=", subject.environmentId)
        .where("user_id", "=", subject.userId)
        .executeTakeFirst();
      return { identities: Number(gone.numDeletedRows) };
    },
  }),
  jobs: (service) => [
    { name: PRUNE_JOB, maxAttempts: 3, handler: async () => void (await service.signIn.pruneLogins()) },
  ],
  schedules: { [PRUNE_JOB]: "*/15 * * * *" },
});
