import type { Selectable } from "kysely";
import { fromJson } from "../../../platform/db/db.js";
import { iso, isoOrNull } from "../../../platform/http/schemas.js";
import type { Environment, Project, Surface, Tenant } from "../schemas.js";
import type { EnvironmentTable, ProjectTable, SurfaceTable, TenantTable } from "../tables.js";

export function toProject(r: Selectable<ProjectTable>): Project {
  return {
    id: r.id,
    name: r.name,
    slug: r.slug,
    archivedAt: isoOrNull(r.archived_at),
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

export function toEnvironment(r: Selectable<EnvironmentTable>): Environment {
  return {
    id: r.id,
    projectId: r.project_id,
    name: r.name,
    slug: r.slug,
    production: Boolean(r.production),
    archivedAt: isoOrNull(r.archived_at),
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

export function toSurface(r: Selectable<SurfaceTable>): Surface {
  return {
    id: r.id,
    environmentId: r.environment_id,
    name: r.name,
    kind: r.kind,
    allowedOrigins: fromJson<string[]>(r.allowed_origins),
    scopeCeiling: fromJson<string[]>(r.scope_ceiling),
    selfSignup: Boolean(r.self_signup),
    archivedAt: isoOrNull(r.archived_at),
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

export function toTenant(r: Selectable<TenantTable>): Tenant {
  return {
    id: r.id,
    environmentId: r.environment_id,
    name: r.name,
    slug: r.slug,
    externalId: r.external_id,
    metadata: fromJson<Record<string, unknown>>(r.metadata),
    timeZone: r.time_zone,
    state: r.state as Tenant["state"],
    stateReason: r.state_reason,
    stateCategory: (r.state_category as "billing" | "other" | null) ?? null,
    stateChangedBy: r.state_changed_by,
    stateChangedAt: iso(r.state_changed_at),
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

/** changedFields returns before/after of the fields that differ, for update facts. */
export function changedFields<T extends Record<string, unknown>>(
  before: T,
  after: T,
  fields: readonly (keyof T & string)[],
): { before: Record<string, unknown>; after: Record<string, unknown> } | null {
  const b: Record<string, unknown> = {};
  const a: Record<string, unknown> = {};
  for (const f of fields) {
    if (JSON.stringify(before[f]) !== JSON.stringify(after[f])) {
      b[f] = before[f];
      a[f] = after[f];
    }
  }
  return Object.keys(a).length === 0 ? null : { before: b, after: a };
}
