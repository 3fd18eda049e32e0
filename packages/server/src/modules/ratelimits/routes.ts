import { z } from "zod";
import { AUTH, defineRoute, type RouteDefinition } from "../../platform/http/route.js";
import { Id } from "../../platform/http/schemas.js";
import { SetTenantRateLimitsInput, TenantRateLimits } from "./schemas.js";
import type { RateLimitsService } from "./service.js";

const tags = ["Rate limits"];
const params = z.strictObject({ tenantId: Id });

/** rateLimitsRoutes: read a tenant's limits (its members and keys too), set and clear them (secret keys). */
export function rateLimitsRoutes(s: RateLimitsService): RouteDefinition[] {
  return [
    defineRoute({
      method: "GET",
      url: "/v1/tenants/:tenantId/rate-limits",
      operationId: "getTenantRateLimits",
      summary: "Get the rate limits that apply to a tenant",
      description: "Each rule says whether it is the tenant's own or the plane's default (docs/rate-limits.md).",
      tags,
      auth: AUTH.tenant,
      params,
      response: { status: 200, schema: TenantRateLimits, description: "The tenant's limits." },
      handler: ({ ctx, params: p }) => s.get(ctx, p.tenantId),
    }),
    defineRoute({
      method: "PUT",
      url: "/v1/tenants/:tenantId/rate-limits",
      operationId: "setTenantRateLimits",
      summary: "Give a tenant its own rate limits",
      description:
        "Replaces the tenant's own rules with the body's: surfaces left out get the plane's defaults. Applies to the next request in the process that answers, and in every other process as soon as the change notification reaches it (milliseconds).",
      tags,
      auth: AUTH.environment,
      params,
      body: SetTenantRateLimitsInput,
      response: { status: 200, schema: TenantRateLimits, description: "The tenant's limits." },
      handler: ({ ctx, params: p, body }) => s.set(ctx, p.tenantId, body),
    }),
    defineRoute({
      method: "DELETE",
      url: "/v1/tenants/:tenantId/rate-limits",
      operationId: "clearTenantRateLimits",
      summary: "Give a tenant the default rate limits again",
      tags,
      auth: AUTH.environment,
      params,
      response: { status: 200, schema: TenantRateLimits, description: "The tenant's limits (the defaults)." },
      handler: ({ ctx, params: p }) => s.clear(ctx, p.tenantId),
    }),
  ];
}
