import { z } from "zod";
import { AUTH, defineRoute, type RouteDefinition, StreamedBody } from "../../../platform/http/route.js";
import { Id } from "../../../platform/http/schemas.js";
import { TenancyErrors } from "../../tenancy/index.js";
import { IdentityErrors } from "../errors.js";
import { Jwks, RefreshedTokens, RefreshTokenInput, RotateSigningKeyInput, SigningKey } from "../schemas.js";
import { JWKS_MAX_AGE_SECONDS } from "../service/signing-keys.js";
import type { IdentityService } from "../service.js";

/** json answers a public, cacheable JSON document (the JWKS and the discovery document). */
function json(value: unknown): StreamedBody {
  return new StreamedBody(
    "application/json",
    (async function* () {
      yield JSON.stringify(value);
    })(),
    { "cache-control": `public, max-age=${JWKS_MAX_AGE_SECONDS}` },
  );
}

export function tokenRoutes(s: IdentityService): RouteDefinition[] {
  const params = z.strictObject({ environmentId: Id });
  return [
    defineRoute({
      method: "POST",
      url: "/v1/auth/token/refresh",
      operationId: "refreshAccessToken",
      summary: "Spend a refresh token for a new access token and a new refresh token",
      description:
        "Refresh tokens rotate: the one sent is spent. Presenting a spent one again (or two requests racing with one) revokes the session and its refresh tokens, and is recorded (`session.refresh_reused`).",
      tags: ["End-user auth"],
      auth: "none",
      body: RefreshTokenInput,
      response: { status: 200, schema: RefreshedTokens, description: "The new tokens, shown once." },
      secretFields: ["accessToken", "refreshToken"],
      errors: [IdentityErrors.invalid_refresh_token],
      handler: ({ ctx, body }) => s.accessTokens.refresh(ctx, body.refreshToken),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/environments/:environmentId/.well-known/jwks.json",
      operationId: "getJwks",
      summary: "The environment's public keys for verifying access tokens (JWKS)",
      description: `Public and cacheable (\`Cache-Control: public, max-age=${JWKS_MAX_AGE_SECONDS}\`): the active key and those retiring. Match a token's \`kid\`.`,
      tags: ["Access tokens"],
      auth: "none",
      params,
      response: {
        status: 200,
        schema: Jwks,
        description: "The JSON Web Key Set.",
        contentTypes: ["application/json"],
      },
      errors: [TenancyErrors.environment_not_found],
      handler: async ({ params }) => json(await s.signingKeys.jwks(params.environmentId)),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/environments/:environmentId/.well-known/openid-configuration",
      operationId: "getTokenDiscovery",
      summary: "Discovery document of the environment's access tokens (issuer and JWKS address)",
      tags: ["Access tokens"],
      auth: "none",
      params,
      response: {
        status: 200,
        schema: z.looseObject({ issuer: z.string(), jwks_uri: z.string() }),
        description: "The issuer, the JWKS address and the signing algorithms.",
        contentTypes: ["application/json"],
      },
      errors: [TenancyErrors.environment_not_found],
      handler: async ({ params }) => {
        await s.signingKeys.jwks(params.environmentId);
        const issuer = s.accessTokens.issuer(params.environmentId);
        return json({
          issuer,
          jwks_uri: `${issuer}/.well-known/jwks.json`,
          access_token_signing_alg_values_supported: ["EdDSA", "ES256"],
          token_endpoint: `${s.core.config.publicUrl}/v1/auth/token/refresh`,
          grant_types_supported: ["refresh_token"],
        });
      },
    }),
    defineRoute({
      method: "POST",
      url: "/v1/environments/:environmentId/signing-keys/rotate",
      operationId: "rotateSigningKey",
      summary: "Rotate the environment's access-token signing key",
      description:
        "A new key signs from now on; the previous one stays in the JWKS until the longest access token it signed has expired (then it is retired).",
      tags: ["Access tokens"],
      auth: AUTH.operatorOrEnvironment,
      params,
      body: RotateSigningKeyInput,
      response: {
        status: 200,
        schema: z.object({ data: z.array(SigningKey) }),
        description: "The environment's published keys, newest first.",
      },
      errors: [TenancyErrors.environment_not_found],
      handler: ({ ctx, params, body }) => s.signingKeys.rotateSigningKey(ctx, params.environmentId, body.alg),
    }),
  ];
}
