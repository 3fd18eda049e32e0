import type { RouteDefinition } from "../../platform/http/route.js";
import { agentKeyRoutes } from "./routes/agent-keys.js";
import { checkRoutes } from "./routes/checks.js";
import { credentialRoutes } from "./routes/credentials.js";
import { invitationRoutes } from "./routes/invitations.js";
import { membershipRoutes } from "./routes/memberships.js";
import { roleRoutes } from "./routes/roles.js";
import { tenantKeyRoutes } from "./routes/tenant-keys.js";
import type { AccessService } from "./service.js";

/** accessRoutes: every route of the access module, one file per resource under `routes/`. */
export function accessRoutes(s: AccessService): RouteDefinition[] {
  return [
    ...roleRoutes(s),
    ...membershipRoutes(s),
    ...invitationRoutes(s),
    ...tenantKeyRoutes(s),
    ...agentKeyRoutes(s),
    ...checkRoutes(s),
    ...credentialRoutes(s),
  ];
}
