import { z } from "zod";
import { defineModule } from "../../platform/module.js";
import { tenancyModule } from "../tenancy/index.js";
import { migration as tenantLimits } from "./migrations/202612061905_ratelimits_tenant_limits.js";
import { rateLimitsRoutes } from "./routes.js";
import { RateLimitsService } from "./service.js";

const Rules = z.record(z.string(), z.record(z.string(), z.object({ limit: z.number(), windowSeconds: z.number() })));

/**
 * The ratelimits module: tenants' own rate limits, set by the environment's secret keys, and the
 * seam through which the platform's limiter reads them (`rateLimitOverrides`).
 */
export const rateLimitsModule = defineModule({
  name: "ratelimits",
  // The access check's tenant lookup (404 for another environment's tenant) comes from tenancy.
  dependsOn: { tenancy: tenancyModule },
  migrations: [tenantLimits],
  // No grants to built-in roles: owners hold every permission; admins and members get
  // `rate_limits:read` through a custom role, tenant and agent keys through their scopes.
  permissions: { rate_limits: ["read", "write"] },
  createService: (ctx) => new RateLimitsService(ctx),
  routes: (service) => rateLimitsRoutes(service),
  rateLimitOverrides: (service) => service,
  facts: {
    "tenant_rate_limits.set": {
      description: "A tenant was given its own rate limits (`before` and `after`: the tenant's own rules).",
      data: z.object({ before: Rules.nullable(), after: Rules }),
    },
    "tenant_rate_limits.cleared": {
      description: "A tenant's own rate limits were removed: the defaults apply again.",
      data: z.object({ before: Rules }),
    },
  },
});
