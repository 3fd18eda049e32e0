import { z } from "zod";
import { StepUpErrors } from "../../../platform/access.js";
import { PlatformErrors } from "../../../platform/errors.js";
import { pageSchema } from "../../../platform/http/pagination.js";
import { AUTH, defineRoute, type RouteDefinition } from "../../../platform/http/route.js";
import { Id } from "../../../platform/http/schemas.js";
import { IdentityErrors } from "../../identity/index.js";
import { TenancyErrors } from "../../tenancy/index.js";
import { AccessErrors } from "../errors.js";
import { CreateTenantKeyInput, IssuedTenantKey, ListQuery, RotateKeyInput, TenantKey } from "../schemas.js";
import type { AccessService } from "../service.js";

/** tenantKeyRoutes: API keys a tenant issues for its own integrations, confined to that tenant. */
export function tenantKeyRoutes(s: AccessService): RouteDefinition[] {
  const tenantParams = z.strictObject({ tenantId: Id });
  const keyParams = z.strictObject({ tenantId: Id, keyId: Id });
  const tenantErrors = [TenancyErrors.tenant_not_found];
  return [
    defineRoute({
      method: "POST",
      url: "/v1/tenants/:tenantId/keys",
      operationId: "createTenantKey",
      summary: "Create a tenant key",
      description:
        "A key the tenant owns for its own integrations. Its permissions must be within the creator's; it " +
        "survives the creator leaving. Only a user or a secret key issues one: a tenant key or an agent key " +
        "is refused (403 key_cannot_issue). `surfaceId` names the surface the key calls through (e.g. the " +
        "partner API; its ceiling must hold the permissions); by default, the surface of the creator's credential. " +
        "The token is shown once.",
      tags: ["Tenant keys"],
      auth: AUTH.tenant,
      params: tenantParams,
      body: CreateTenantKeyInput,
      response: { status: 201, schema: IssuedTenantKey, description: "The key and its token." },
      errors: [
        StepUpErrors.step_up_required,
        ...tenantErrors,
        TenancyErrors.surface_not_found,
        IdentityErrors.scope_exceeds_ceiling,
        AccessErrors.grant_exceeds_own,
        AccessErrors.key_cannot_issue,
        AccessErrors.access_changed,
      ],
      secretFields: ["token"],
      handler: ({ ctx, params, body }) => s.tenantKeys.createTenantKey(ctx, params.tenantId, body),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/tenants/:tenantId/keys",
      operationId: "listTenantKeys",
      summary: "List a tenant's keys",
      tags: ["Tenant keys"],
      auth: AUTH.tenant,
      params: tenantParams,
      query: ListQuery,
      response: { status: 200, schema: pageSchema(TenantKey), description: "A page of keys." },
      errors: tenantErrors,
      handler: ({ ctx, params, query }) => s.tenantKeys.listTenantKeys(ctx, params.tenantId, query),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/tenants/:tenantId/keys/:keyId",
      operationId: "getTenantKey",
      summary: "Get a tenant key",
      tags: ["Tenant keys"],
      auth: AUTH.tenant,
      params: keyParams,
      response: { status: 200, schema: TenantKey, description: "The key." },
      errors: [...tenantErrors, AccessErrors.tenant_key_not_found],
      handler: ({ ctx, params }) => s.tenantKeys.findTenantKeyById(ctx, params.tenantId, params.keyId),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/tenants/:tenantId/keys/:keyId/revoke",
      operationId: "revokeTenantKey",
      summary: "Revoke a tenant key",
      tags: ["Tenant keys"],
      auth: AUTH.tenant,
      params: keyParams,
      response: { status: 200, schema: TenantKey, description: "The key." },
      errors: [...tenantErrors, AccessErrors.tenant_key_not_found, AccessErrors.access_changed],
      handler: ({ ctx, params }) => s.tenantKeys.revokeTenantKey(ctx, params.tenantId, params.keyId),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/tenants/:tenantId/keys/:keyId/rotate",
      operationId: "rotateTenantKey",
      summary: "Rotate a tenant key",
      description:
        "Issues a replacement; the old key keeps working for the grace period (default none). A key has at most " +
        "one successor: rotating it again answers 409 key_already_rotated. Only a user or a secret key rotates.",
      tags: ["Tenant keys"],
      auth: AUTH.tenant,
      params: keyParams,
      body: RotateKeyInput,
      response: { status: 201, schema: IssuedTenantKey, description: "The new key and its token." },
      errors: [
        StepUpErrors.step_up_required,
        ...tenantErrors,
        AccessErrors.tenant_key_not_found,
        AccessErrors.key_inactive,
        PlatformErrors.key_already_rotated,
        AccessErrors.key_cannot_issue,
        AccessErrors.grant_exceeds_own,
        AccessErrors.access_changed,
      ],
      secretFields: ["token"],
      handler: ({ ctx, params, body }) => s.tenantKeys.rotateTenantKey(ctx, params.tenantId, params.keyId, body),
    }),
  ];
}
