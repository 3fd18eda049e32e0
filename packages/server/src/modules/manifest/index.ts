/** The manifest module's public surface: other code imports only this file. */
export { ManifestErrors } from "./errors.js";
export { MANIFEST_VERSION, manifestJsonSchema } from "./json-schema.js";
export { manifestModule } from "./module.js";
export { hashOf, ManifestService } from "./service.js";
