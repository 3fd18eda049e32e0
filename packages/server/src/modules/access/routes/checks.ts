import { AUTH, defineRoute, type RouteDefinition } from "../../../platform/http/route.js";
import { TenancyErrors } from "../../tenancy/index.js";
import { BatchCheckInput, BatchCheckResult, CheckInput, CheckResult, Explanation } from "../schemas.js";
import type { AccessService } from "../service.js";

/** checkRoutes: the plane's permission rules answered for a product's own resources (secret-key API). */
export function checkRoutes(s: AccessService): RouteDefinition[] {
  const tenantErrors = [TenancyErrors.tenant_not_found];
  return [
    defineRoute({
      method: "POST",
      url: "/v1/access/check",
      operationId: "checkPermission",
      readOnly: true,
      summary: "Check one permission",
      description: "May this user, tenant key or agent key do `permission` in the tenant? Changes nothing.",
      tags: ["Access"],
      auth: AUTH.environment,
      body: CheckInput,
      response: { status: 200, schema: CheckResult, description: "The decision." },
      errors: tenantErrors,
      handler: ({ ctx, body }) => s.checks.check(ctx, body),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/access/check-batch",
      operationId: "checkPermissions",
      readOnly: true,
      summary: "Check up to 100 permissions at once",
      tags: ["Access"],
      auth: AUTH.environment,
      body: BatchCheckInput,
      response: { status: 200, schema: BatchCheckResult, description: "The decisions, in order." },
      errors: tenantErrors,
      handler: ({ ctx, body }) => s.checks.checkBatch(ctx, body.checks),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/access/explain",
      operationId: "explainPermission",
      readOnly: true,
      summary: "Explain a permission decision",
      description: "Which membership, role and grant allowed it — or the first rule that refused it.",
      tags: ["Access"],
      auth: AUTH.environment,
      body: CheckInput,
      response: { status: 200, schema: Explanation, description: "The decision and why." },
      errors: tenantErrors,
      handler: ({ ctx, body }) => s.checks.explain(ctx, body),
    }),
  ];
}
