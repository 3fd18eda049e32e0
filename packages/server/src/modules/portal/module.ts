import { z } from "zod";
import { defineModule } from "../../platform/module.js";
import { tenancyModule } from "../tenancy/index.js";
import { portalIds, TOKEN_PREFIX } from "./ids.js";
import { migration as core } from "./migrations/202612071700_portal_core.js";
import { portalRoutes } from "./routes.js";
import { PORTAL_FEATURES } from "./schemas.js";
import { PortalService, PRUNE_JOB } from "./service.js";

const Actor = z.object({ email: z.string().nullable(), name: z.string().nullable() });

/**
 * The portal module: the tenant portal a product embeds or links for its customers' admins. Links
 * minted by the product's backend open, once, a short-lived session bound to one tenant
 * (`actorType: "portal"`); the portal page (`/portal`, packages/console) calls the plane's own
 * tenant routes with it. See docs/portal.md.
 */
export const portalModule = defineModule({
  name: "portal",
  dependsOn: { tenancy: tenancyModule },
  migrations: [core],
  ids: portalIds.prefixes,
  // Secret keys hold `*`; no built-in role is granted these (they are the product's, not the tenant's).
  permissions: { portal_links: ["create"], portal_themes: ["read", "write"] },
  createService: (ctx, { tenancy }) => new PortalService(ctx, tenancy),
  routes: (service) => portalRoutes(service),
  credentialResolvers: (service) => [
    { kind: "portal_session", prefix: TOKEN_PREFIX.session, resolve: (token) => service.resolveSession(token) },
  ],
  facts: {
    "portal_link.created": {
      description:
        "A product's backend minted a portal link for one of a tenant's admins (`actor`: the admin it vouches for).",
      data: z.object({
        surfaceId: z.string(),
        features: z.array(z.enum(PORTAL_FEATURES)),
        actor: Actor,
        returnUrl: z.string().nullable(),
        expiresAt: z.string(),
      }),
    },
    "portal_session.started": {
      description: "A portal link was exchanged for a portal session (the session is the actor).",
      data: z.object({ features: z.array(z.enum(PORTAL_FEATURES)), actor: Actor, expiresAt: z.string() }),
    },
    "portal_session.revoked": { description: "A portal session was ended (signed out)." },
    "portal_theme.updated": {
      description: "A surface's portal theme was set (`before` and `after`).",
    },
  },
  jobs: (service) => [{ name: PRUNE_JOB, maxAttempts: 3, handler: async () => void (await service.prune()) }],
  schedules: { [PRUNE_JOB]: "25 * * * *" },
  start: async (service) => service.lastUsed.start(),
  stop: (service) => service.lastUsed.stop(),
});
