import { defineModule } from "../../platform/module.js";
import { TOKEN_PREFIX } from "./internal/tokens.js";
import { migration as core } from "./migrations/202611261410_access_core.js";
import { accessRoutes } from "./routes.js";
import { AccessService } from "./service.js";

export const accessModule = defineModule<AccessService>({
  name: "access",
  dependsOn: ["tenancy", "identity"],
  migrations: [core],
  createService: (ctx) => new AccessService(ctx),
  routes: (service) => accessRoutes(service),
  credentialResolvers: (service) => [
    {
      kind: "tenant_key",
      prefix: TOKEN_PREFIX.tenantKey,
      resolve: (token) => service.resolution.resolveTenantKey(token),
    },
    { kind: "agent_key", prefix: TOKEN_PREFIX.agentKey, resolve: (token) => service.resolution.resolveAgentKey(token) },
  ],
  factSinks: (service) => [{ name: "access.delegations", sink: (tx, fact) => service.onFact(tx, fact) }],
  start: (service) => service.start(),
  stop: (service) => service.stop(),
});
