import { z } from "zod";
import { pageSchema } from "../../platform/http/pagination.js";
import { AUTH, defineRoute, type RouteDefinition } from "../../platform/http/route.js";
import { Id } from "../../platform/http/schemas.js";
import { SupportErrors } from "./errors.js";
import {
  DecideSupportAccessInput,
  ListSupportAccessQuery,
  ListTenantSupportAccessQuery,
  RequestSupportAccessInput,
  SetSupportPolicyInput,
  SupportAccess,
  SupportPolicy,
} from "./schemas.js";
import type { SupportService } from "./service.js";

const tags = ["Support access"];
const accessParams = z.strictObject({ supportAccessId: Id });
const tenantParams = z.strictObject({ tenantId: Id });
const tenantAccessParams = z.strictObject({ tenantId: Id, supportAccessId: Id });

/** supportRoutes: operators ask for and end support access; tenants see, decide and set their policy. */
export function supportRoutes(s: SupportService): RouteDefinition[] {
  return [
    defineRoute({
      method: "POST",
      url: "/v1/support-access",
      operationId: "requestSupportAccess",
      summary: "Ask for support access to a tenant",
      description:
        "An operator acting in an environment (`Baseplate-Environment`) asks for time-boxed access to one of its tenants, with a reason. Under the tenant's `notify` policy it is granted at once; under `approval_required` it waits for a member's approval. Either way the tenant sees it in its audit log and events (`support_access.*`). Operators only.",
      tags,
      auth: AUTH.operator,
      body: RequestSupportAccessInput,
      response: { status: 201, schema: SupportAccess, description: "The request (`active` or `pending`)." },
      handler: ({ ctx, body }) => s.request(ctx, body),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/support-access",
      operationId: "listSupportAccess",
      summary: "List the environment's support access",
      description: "Newest first. Operators acting in the environment and its secret keys.",
      tags,
      auth: AUTH.environment,
      query: ListSupportAccessQuery,
      response: { status: 200, schema: pageSchema(SupportAccess), description: "A page of support access." },
      handler: ({ ctx, query }) => s.list(ctx, query),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/support-access/:supportAccessId",
      operationId: "getSupportAccess",
      summary: "Get a support access",
      tags,
      auth: AUTH.environment,
      params: accessParams,
      response: { status: 200, schema: SupportAccess, description: "The support access." },
      errors: [SupportErrors.support_access_not_found],
      handler: ({ ctx, params }) => s.get(ctx, params.supportAccessId),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/support-access/:supportAccessId/end",
      operationId: "endSupportAccess",
      summary: "End a support access early",
      description:
        "The operator who asked, an admin operator or a secret key ends an active access (or withdraws a pending request) now.",
      tags,
      auth: AUTH.environment,
      params: accessParams,
      response: { status: 200, schema: SupportAccess, description: "The ended access." },
      errors: [SupportErrors.support_access_not_found, SupportErrors.support_access_not_active],
      handler: ({ ctx, params }) => s.end(ctx, params.supportAccessId),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/tenants/:tenantId/support-access",
      operationId: "listTenantSupportAccess",
      summary: "List the support access to a tenant",
      description:
        "What the tenant's owners see: every operator's request, its reason, decision and time box, newest first. Members holding `support_access:read` (owners and admins), the tenant's keys with it, and the environment's secret keys.",
      tags,
      auth: AUTH.tenant,
      params: tenantParams,
      query: ListTenantSupportAccessQuery,
      response: { status: 200, schema: pageSchema(SupportAccess), description: "A page of support access." },
      handler: ({ ctx, params, query }) => s.listForTenant(ctx, params.tenantId, query),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/tenants/:tenantId/support-access/:supportAccessId",
      operationId: "getTenantSupportAccess",
      summary: "Get a support access to a tenant",
      tags,
      auth: AUTH.tenant,
      params: tenantAccessParams,
      response: { status: 200, schema: SupportAccess, description: "The support access." },
      errors: [SupportErrors.support_access_not_found],
      handler: ({ ctx, params }) => s.getForTenant(ctx, params.tenantId, params.supportAccessId),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/tenants/:tenantId/support-access/:supportAccessId/approve",
      operationId: "approveSupportAccess",
      summary: "Approve a pending support access request",
      description:
        "The access starts now and lasts the duration asked for. Members holding `support_access:approve` (owners) only: neither secret keys nor operators approve.",
      tags,
      auth: AUTH.tenant,
      params: tenantAccessParams,
      body: DecideSupportAccessInput,
      response: { status: 200, schema: SupportAccess, description: "The approved access." },
      errors: [
        SupportErrors.support_access_not_found,
        SupportErrors.support_access_not_pending,
        SupportErrors.support_access_decided_by_members,
      ],
      handler: ({ ctx, params, body }) => s.approve(ctx, params.tenantId, params.supportAccessId, body),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/tenants/:tenantId/support-access/:supportAccessId/deny",
      operationId: "denySupportAccess",
      summary: "Deny a pending support access request",
      description: "Members holding `support_access:approve` (owners) only.",
      tags,
      auth: AUTH.tenant,
      params: tenantAccessParams,
      body: DecideSupportAccessInput,
      response: { status: 200, schema: SupportAccess, description: "The denied request." },
      errors: [
        SupportErrors.support_access_not_found,
        SupportErrors.support_access_not_pending,
        SupportErrors.support_access_decided_by_members,
      ],
      handler: ({ ctx, params, body }) => s.deny(ctx, params.tenantId, params.supportAccessId, body),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/tenants/:tenantId/support-access/:supportAccessId/revoke",
      operationId: "revokeSupportAccess",
      summary: "Revoke a support access now",
      description:
        "Ends an active access (or a pending request) at once; a write the operator has in flight does not commit. Members holding `support_access:approve` and the environment's secret keys.",
      tags,
      auth: AUTH.tenant,
      params: tenantAccessParams,
      body: DecideSupportAccessInput,
      response: { status: 200, schema: SupportAccess, description: "The ended access." },
      errors: [
        SupportErrors.support_access_not_found,
        SupportErrors.support_access_not_active,
        SupportErrors.support_access_decided_by_members,
      ],
      handler: ({ ctx, params, body }) => s.revoke(ctx, params.tenantId, params.supportAccessId, body),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/tenants/:tenantId/support-policy",
      operationId: "getSupportPolicy",
      summary: "Get a tenant's support policy",
      tags,
      auth: AUTH.tenant,
      params: tenantParams,
      response: { status: 200, schema: SupportPolicy, description: "The tenant's policy." },
      handler: ({ ctx, params }) => s.getPolicy(ctx, params.tenantId),
    }),
    defineRoute({
      method: "PUT",
      url: "/v1/tenants/:tenantId/support-policy",
      operationId: "setSupportPolicy",
      summary: "Set a tenant's support policy",
      description:
        "`approval_required`: operators' requests wait for a member's approval. Members holding `support_access:approve` (owners) and the environment's secret keys (a product may set it by plan); never operators.",
      tags,
      auth: AUTH.tenant,
      params: tenantParams,
      body: SetSupportPolicyInput,
      response: { status: 200, schema: SupportPolicy, description: "The tenant's policy." },
      errors: [SupportErrors.support_access_decided_by_members],
      handler: ({ ctx, params, body }) => s.setPolicy(ctx, params.tenantId, body),
    }),
  ];
}
