/**
 * The probe module's public surface. The probe is laid out like a module of `modules/` (module,
 * routes, service, tables, migrations, errors, fixtures), so it shows that a module is one folder.
 */
export { ProbeErrors } from "./errors.js";
export { probeIds } from "./ids.js";
export { probeModule, probeModuleWith } from "./module.js";
export { CreateItemInput, type Item, ProbeService } from "./service.js";
export type { ProbeTables } from "./tables.js";
