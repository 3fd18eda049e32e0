import type { RouteDefinition } from "../../platform/http/route.js";
import { authRoutes } from "./routes/auth.js";
import { authSettingsRoutes } from "./routes/auth-settings.js";
import { mfaRoutes } from "./routes/mfa.js";
import { operatorRoutes } from "./routes/operators.js";
import { secretKeyRoutes } from "./routes/secret-keys.js";
import { userRoutes } from "./routes/users.js";
import type { IdentityService } from "./service.js";

export function identityRoutes(s: IdentityService): RouteDefinition[] {
  return [
    ...operatorRoutes(s),
    ...secretKeyRoutes(s),
    ...userRoutes(s),
    ...authRoutes(s),
    ...authSettingsRoutes(s),
    ...mfaRoutes(s),
  ];
}
