import { afterCommit } from "../../platform/db/db.js";
import { defineModule } from "../../platform/module.js";
import { TENANCY_FACTS } from "./facts.js";
import { tenancyIds } from "./ids.js";
import { surfacesSection } from "./manifest.js";
import { migration as core } from "./migrations/202611261200_tenancy_core.js";
import { migration as lifecycle } from "./migrations/202611261400_tenancy_lifecycle.js";
import { migration as timeZone } from "./migrations/202612121410_tenancy_time_zone.js";
import { migration as production } from "./migrations/202612121550_tenancy_environment_production.js";
import { tenancyReview } from "./review.js";
import { tenancyRoutes } from "./routes.js";
import { TenancyService } from "./service.js";

export const tenancyModule = defineModule({
  name: "tenancy",
  migrations: [core, lifecycle, timeZone, production],
  ids: tenancyIds.prefixes,
  permissions: { tenants: ["read", "update"] },
  roleGrants: { admin: { tenants: ["read", "update"] }, member: { tenants: ["read"] } },
  facts: TENANCY_FACTS,
  createService: (ctx) => new TenancyService(ctx),
  routes: (service) => tenancyRoutes(service),
  manifest: (service) => [surfacesSection(service)],
  review: (service) => tenancyReview(service),
  accessHooks: (service) => ({
    tenantState: (environmentId, tenantId) => service.tenants.tenantState(environmentId, tenantId),
    environmentActive: (environmentId) => service.projects.environmentActive(environmentId),
  }),
  originPolicy: (service) => (origin) => service.surfaces.allowsOrigin(origin),
  factSinks: (service) => [
    {
      name: "tenancy.origins",
      sink: async (tx, fact) => {
        if (/^(surface|environment|project)\./.test(fact.type)) {
          service.surfaces.forgetOrigins();
          afterCommit(tx, () => service.surfaces.forgetOrigins());
        }
      },
    },
  ],
});
