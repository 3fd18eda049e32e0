import { z } from "zod";
import { pageSchema, paginationQuery } from "../../../platform/http/pagination.js";
import { AUTH, defineRoute, type RouteDefinition } from "../../../platform/http/route.js";
import { Id } from "../../../platform/http/schemas.js";
import { TenancyErrors } from "../../tenancy/index.js";
import { SsoErrors } from "../errors.js";
import { CreateDomainInput, SsoDomain } from "../schemas.js";
import type { SsoService } from "../service.js";

const tags = ["Single sign-on"];

/** domainRoutes: a tenant's email domains, verified by DNS (secret keys, or the tenant's admins). */
export function domainRoutes(s: SsoService): RouteDefinition[] {
  const tenantParams = z.strictObject({ tenantId: Id });
  const params = z.strictObject({ tenantId: Id, domainId: Id });
  const errors = [TenancyErrors.tenant_not_found, SsoErrors.domain_not_found];
  return [
    defineRoute({
      method: "POST",
      url: "/v1/tenants/:tenantId/domains",
      operationId: "createSsoDomain",
      summary: "Claim an email domain for the tenant; answers the DNS TXT record that proves it",
      tags,
      auth: AUTH.tenant,
      params: tenantParams,
      body: CreateDomainInput,
      response: { status: 201, schema: SsoDomain, description: "The claim, not yet verified, with its TXT record." },
      errors: [TenancyErrors.tenant_not_found, SsoErrors.domain_taken],
      handler: ({ ctx, params, body }) => s.domains.createDomain(ctx, params.tenantId, body),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/tenants/:tenantId/domains",
      operationId: "listSsoDomains",
      summary: "List the tenant's domain claims",
      tags,
      auth: AUTH.tenant,
      params: tenantParams,
      query: paginationQuery,
      response: { status: 200, schema: pageSchema(SsoDomain), description: "A page of claims, oldest first." },
      errors: [TenancyErrors.tenant_not_found],
      handler: ({ ctx, params, query }) => s.domains.listDomains(ctx, params.tenantId, query),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/tenants/:tenantId/domains/:domainId",
      operationId: "getSsoDomain",
      summary: "Get a domain claim",
      tags,
      auth: AUTH.tenant,
      params,
      response: { status: 200, schema: SsoDomain, description: "The claim." },
      errors,
      handler: ({ ctx, params }) => s.domains.findDomainById(ctx, params.tenantId, params.domainId),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/tenants/:tenantId/domains/:domainId/verify",
      operationId: "verifySsoDomain",
      summary: "Look the claim's TXT record up in DNS and mark the domain verified",
      tags,
      auth: AUTH.tenant,
      params,
      response: { status: 200, schema: SsoDomain, description: "The verified claim." },
      errors: [...errors, SsoErrors.domain_verification_failed, SsoErrors.domain_taken],
      handler: ({ ctx, params }) => s.domains.verifyDomain(ctx, params.tenantId, params.domainId),
    }),
    defineRoute({
      method: "DELETE",
      url: "/v1/tenants/:tenantId/domains/:domainId",
      operationId: "deleteSsoDomain",
      summary: "Remove a domain claim (a verified domain stops routing sign-in to the tenant)",
      tags,
      auth: AUTH.tenant,
      params,
      response: { status: 200, schema: SsoDomain, description: "The claim as it was." },
      errors,
      handler: ({ ctx, params }) => s.domains.deleteDomain(ctx, params.tenantId, params.domainId),
    }),
  ];
}
