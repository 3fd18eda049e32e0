import type { ModuleContext } from "../../platform/module.js";
import { ProjectsService } from "./service/projects.js";
import { SurfacesService } from "./service/surfaces.js";
import { TenantsService } from "./service/tenants.js";

/** TenancyService: projects, environments, surfaces (operator API) and tenants (environment API). */
export class TenancyService {
  readonly projects: ProjectsService;
  readonly surfaces: SurfacesService;
  readonly tenants: TenantsService;

  constructor(m: ModuleContext) {
    this.projects = new ProjectsService(m);
    this.surfaces = new SurfacesService(m);
    this.tenants = new TenantsService(m);
  }
}
