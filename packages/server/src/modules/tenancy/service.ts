import type { ModuleContext } from "../../platform/module.js";
import { ProjectsService } from "./service/projects.js";
import { SurfacesService } from "./service/surfaces.js";
import { TenantsService } from "./service/tenants.js";

/** TenancyService: projects, environments, surfaces (operator API) and tenants (environment API). */
export class TenancyService {
  readonly projects: ProjectsService;
  readonly surfaces: SurfacesService;
  readonly tenants: TenantsService;
  /** context is the module's platform context (its manifest section guards and locks with it). */
  readonly context: ModuleContext;

  constructor(m: ModuleContext) {
    this.context = m;
    this.projects = new ProjectsService(m);
    this.surfaces = new SurfacesService(m);
    this.tenants = new TenantsService(m);
  }
}
