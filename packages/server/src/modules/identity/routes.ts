import type { RouteDefinition } from "../../platform/http/route.js";
import { authRoutes } from "./routes/auth.js";
import { authSettingsRoutes } from "./routes/auth-settings.js";
import { mailRoutes } from "./routes/mail.js";
import { mfaRoutes } from "./routes/mfa.js";
import { operatorRoutes } from "./routes/operators.js";
import { passkeyRoutes } from "./routes/passkeys.js";
import { secretKeyRoutes } from "./routes/secret-keys.js";
import { tokenRoutes } from "./routes/tokens.js";
import { userRoutes } from "./routes/users.js";
import type { IdentityService } from "./service.js";

export function identityRoutes(s: IdentityService): RouteDefinition[] {
  return [
    ...operatorRoutes(s),
    ...secretKeyRoutes(s),
    ...userRoutes(s),
    ...authRoutes(s),
    ...authSettingsRoutes(s),
    ...tokenRoutes(s),
    ...passkeyRoutes(s),
    ...mailRoutes(s),
    ...mfaRoutes(s),
  ];
}
