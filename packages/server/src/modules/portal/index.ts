/** The portal module's public surface: other modules import only this file. */
export { PortalErrors } from "./errors.js";
export { portalIds, TOKEN_PREFIX as PORTAL_TOKEN_PREFIX } from "./ids.js";
export { portalModule } from "./module.js";
export type { PortalContext, PortalLink, PortalSession, PortalTheme } from "./schemas.js";
export type { PortalService } from "./service.js";
