import { z } from "zod";
import { nameSchemas, Timestamp } from "../../platform/http/schemas.js";

/** Rule: a bucket of `limit` requests that refills completely in `windowSeconds`; `limit: 0` is no limit. */
export const Rule = z.strictObject({
  limit: z.number().int().min(0).max(1_000_000_000).describe("Requests per window (the bucket's size); 0: no limit."),
  windowSeconds: z.number().int().min(1).max(86_400).describe("Seconds in which an empty bucket refills completely."),
});
export type Rule = z.infer<typeof Rule>;

const SurfaceRules = z.strictObject({
  read: Rule.optional(),
  write: Rule.optional(),
  usage_ingest: Rule.optional(),
});

/** SetTenantRateLimitsInput: the tenant's own rules; surfaces left out get the plane's defaults. */
export const SetTenantRateLimitsInput = z.strictObject({
  credential: SurfaceRules.optional().describe("Rules of each credential bound to the tenant (tenant and agent keys)."),
  tenant: SurfaceRules.optional().describe("Rules of the bucket the tenant's credentials share."),
});
export type SetTenantRateLimitsInput = z.infer<typeof SetTenantRateLimitsInput>;

const EffectiveRule = Rule.extend({
  source: z.enum(["tenant", "default"]).describe("`tenant`: the tenant's own rule; `default`: the plane's."),
});
const EffectiveSurfaces = z.object({ read: EffectiveRule, write: EffectiveRule, usage_ingest: EffectiveRule });

/** TenantRateLimits: the limits that apply to a tenant, each with where it comes from. */
export const TenantRateLimits = z.object({
  tenantId: z.string(),
  credential: EffectiveSurfaces,
  tenant: EffectiveSurfaces,
  updatedAt: Timestamp.nullable().describe("When the tenant's own rules last changed (null: none set)."),
});
export type TenantRateLimits = z.infer<typeof TenantRateLimits>;

// The API document's names of this module's resources and inputs (`#/components/schemas/…`).
nameSchemas({ RateLimitRule: Rule, SetTenantRateLimitsInput, TenantRateLimits });
