import { defineErrors } from "../../platform/errors.js";

export const TenancyErrors = defineErrors({
  project_not_found: { status: 404, title: "Project not found" },
  environment_not_found: { status: 404, title: "Environment not found" },
  surface_not_found: { status: 404, title: "Surface not found" },
  tenant_not_found: { status: 404, title: "Tenant not found" },
  project_slug_taken: { status: 409, title: "A project with this slug exists" },
  environment_slug_taken: { status: 409, title: "An environment with this slug exists in the project" },
  tenant_slug_taken: { status: 409, title: "A tenant with this slug exists in the environment" },
  tenant_external_id_taken: { status: 409, title: "A tenant with this external id exists in the environment" },
  archived: { status: 409, title: "The object is archived" },
  invalid_tenant_transition: { status: 409, title: "The tenant cannot move to that state" },
});
