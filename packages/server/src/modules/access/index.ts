/** The access module's public surface: other modules import only this file. */
export { AccessErrors } from "./errors.js";
export { accessIds } from "./ids.js";
export { accessModule } from "./module.js";
export type { AgentKey, Invitation, Membership, Role, TenantKey } from "./schemas.js";
export type { AccessService } from "./service.js";
export type { BuiltInRole } from "./statements.js";
