/** The tenancy module's public surface: other modules import only this file. */
export { TenancyErrors } from "./errors.js";
export { tenancyIds } from "./ids.js";
export { tenancyModule } from "./module.js";
export type { Environment, Project, Surface, Tenant } from "./schemas.js";
export { TENANT_TOPIC, type TenantStateName } from "./service/tenants.js";
export type { TenancyService } from "./service.js";
