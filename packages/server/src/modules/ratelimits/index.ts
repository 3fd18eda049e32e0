/** The ratelimits module's public surface: other modules import only this file. */
export { rateLimitsModule } from "./module.js";
export type { Rule, TenantRateLimits } from "./schemas.js";
export type { RateLimitsService } from "./service.js";
