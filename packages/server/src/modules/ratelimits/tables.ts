/** Kysely table types of the ratelimits module. */
export interface TenantRateLimitTable {
  environment_id: string;
  tenant_id: string;
  /** rules: the tenant's own rules, `{ credential?: { read?: { limit, windowSeconds } … }, tenant?: … }` (JSON). */
  rules: unknown;
  created_at: number;
  updated_at: number;
}

export interface RateLimitsTables {
  tenant_rate_limit: TenantRateLimitTable;
}
