/** The sso module's public surface: other modules import only this file. */
export { SsoErrors } from "./errors.js";
export { ssoIds } from "./ids.js";
export { ssoModule } from "./module.js";
export type { OidcProvider, SsoDomain } from "./schemas.js";
export type { SsoService } from "./service.js";
