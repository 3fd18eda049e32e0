import { defineModule } from "../../platform/module.js";
import { migration as core } from "./migrations/202611261200_tenancy_core.js";
import { tenancyRoutes } from "./routes.js";
import { TenancyService } from "./service.js";

export const tenancyModule = defineModule<TenancyService>({
  name: "tenancy",
  dependsOn: [],
  migrations: [core],
  createService: (ctx) => new TenancyService(ctx),
  routes: (service) => tenancyRoutes(service),
});
