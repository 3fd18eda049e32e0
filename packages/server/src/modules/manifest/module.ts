import { defineModule } from "../../platform/module.js";
import { MANIFEST_FACTS } from "./facts.js";
import { manifestRoutes } from "./routes.js";
import { ManifestService } from "./service.js";

/**
 * The manifest module: an environment's configuration as a declarative, diffable manifest
 * (`baseplate.yaml`), exported, planned and applied through the API (docs/manifest.md). It owns no
 * table: every section is another module's (their `manifest` declarations), so it lists last.
 */
export const manifestModule = defineModule({
  name: "manifest",
  migrations: [],
  permissions: { manifest: ["read", "apply"] },
  facts: MANIFEST_FACTS,
  createService: (ctx) => new ManifestService(ctx),
  routes: (service) => manifestRoutes(service),
});
