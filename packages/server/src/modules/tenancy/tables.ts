/** Kysely table types of the tenancy module. */
export interface ProjectTable {
  id: string;
  name: string;
  slug: string;
  archived_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface EnvironmentTable {
  id: string;
  project_id: string;
  name: string;
  slug: string;
  /** production: live data and real money (test-only tools such as billing test clocks are refused). */
  production: boolean | number;
  archived_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface SurfaceTable {
  id: string;
  environment_id: string;
  name: string;
  kind: "web" | "api" | "agent" | "internal";
  allowed_origins: unknown;
  scope_ceiling: unknown;
  self_signup: number | boolean;
  archived_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface TenantTable {
  id: string;
  environment_id: string;
  name: string;
  slug: string;
  external_id: string | null;
  metadata: unknown;
  state: string;
  state_reason: string | null;
  /** state_category: `billing` or `other` while the tenant is not active. */
  state_category: string | null;
  state_changed_by: string | null;
  state_changed_at: number;
  /** time_zone: IANA; the tenant's calendar months (usage limits, billing) are counted in it. */
  time_zone: string;
  created_at: number;
  updated_at: number;
}

export interface TenancyTables {
  project: ProjectTable;
  environment: EnvironmentTable;
  surface: SurfaceTable;
  tenant: TenantTable;
}
