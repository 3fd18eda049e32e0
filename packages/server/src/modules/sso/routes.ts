import type { RouteDefinition } from "../../platform/http/route.js";
import { domainRoutes } from "./routes/domains.js";
import { providerRoutes } from "./routes/providers.js";
import { signInRoutes } from "./routes/sign-in.js";
import type { SsoService } from "./service.js";

export function ssoRoutes(s: SsoService): RouteDefinition[] {
  return [...providerRoutes(s), ...domainRoutes(s), ...signInRoutes(s)];
}
