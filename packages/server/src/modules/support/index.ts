/** The support module's public surface: other modules import only this file. */
export { supportModule } from "./module.js";
export type { SupportAccess, SupportPolicy } from "./schemas.js";
export type { SupportService } from "./service.js";
