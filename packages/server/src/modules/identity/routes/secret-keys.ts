import { z } from "zod";
import { PlatformErrors } from "../../../platform/errors.js";
import { pageSchema } from "../../../platform/http/pagination.js";
import { AUTH, defineRoute, type RouteDefinition } from "../../../platform/http/route.js";
import { Id } from "../../../platform/http/schemas.js";
import { TenancyErrors } from "../../tenancy/index.js";
import { IdentityErrors } from "../errors.js";
import { CreateSecretKeyInput, IssuedSecretKey, ListQuery, RotateSecretKeyInput, SecretKey } from "../schemas.js";
import type { IdentityService } from "../service.js";

export function secretKeyRoutes(s: IdentityService): RouteDefinition[] {
  const keyParams = z.strictObject({ keyId: Id });
  return [
    defineRoute({
      method: "POST",
      url: "/v1/environments/:environmentId/secret-keys",
      operationId: "createSecretKey",
      summary: "Issue a secret key to a surface of the environment",
      description: "The key is shown once; only its SHA-256 is stored. Scopes must stay within the surface's ceiling.",
      tags: ["Secret keys"],
      auth: AUTH.operator,
      params: z.strictObject({ environmentId: Id }),
      body: CreateSecretKeyInput,
      response: { status: 201, schema: IssuedSecretKey, description: "The key and its token, shown once." },
      secretFields: ["token"],
      errors: [TenancyErrors.surface_not_found, IdentityErrors.scope_exceeds_ceiling],
      handler: ({ ctx, params, body }) => s.secretKeys.createSecretKey(ctx, params.environmentId, body),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/environments/:environmentId/secret-keys",
      operationId: "listSecretKeys",
      summary: "List an environment's secret keys (redacted)",
      tags: ["Secret keys"],
      auth: AUTH.operator,
      params: z.strictObject({ environmentId: Id }),
      query: ListQuery,
      response: { status: 200, schema: pageSchema(SecretKey), description: "A page of keys." },
      errors: [TenancyErrors.environment_not_found],
      handler: ({ ctx, params, query }) => s.secretKeys.listSecretKeys(ctx, params.environmentId, query),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/secret-keys/:keyId",
      operationId: "getSecretKey",
      summary: "Get a secret key (redacted)",
      tags: ["Secret keys"],
      auth: AUTH.operator,
      params: keyParams,
      response: { status: 200, schema: SecretKey, description: "The key." },
      errors: [IdentityErrors.secret_key_not_found],
      handler: ({ ctx, params }) => s.secretKeys.findSecretKeyById(ctx, params.keyId),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/secret-keys/:keyId/revoke",
      operationId: "revokeSecretKey",
      summary: "Revoke a secret key (effective at once, in every process)",
      tags: ["Secret keys"],
      auth: AUTH.operator,
      params: keyParams,
      response: { status: 200, schema: SecretKey, description: "The revoked key." },
      errors: [IdentityErrors.secret_key_not_found],
      handler: ({ ctx, params }) => s.secretKeys.revokeSecretKey(ctx, params.keyId),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/secret-keys/:keyId/rotate",
      operationId: "rotateSecretKey",
      summary: "Rotate a secret key: a new key now, the old one keeps working for a grace period",
      tags: ["Secret keys"],
      auth: AUTH.operator,
      params: keyParams,
      body: RotateSecretKeyInput.prefault({}),
      response: { status: 201, schema: IssuedSecretKey, description: "The new key and its token, shown once." },
      secretFields: ["token"],
      errors: [IdentityErrors.secret_key_not_found, IdentityErrors.key_revoked, PlatformErrors.key_already_rotated],
      handler: ({ ctx, params, body }) => s.secretKeys.rotateSecretKey(ctx, params.keyId, body),
    }),
  ];
}
