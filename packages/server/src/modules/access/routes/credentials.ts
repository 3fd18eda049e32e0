import { z } from "zod";
import { AUTH, defineRoute, type RouteDefinition } from "../../../platform/http/route.js";
import { Id } from "../../../platform/http/schemas.js";
import { VerifyCredentialInput, VerifyCredentialResult } from "../schemas.js";
import type { AccessService } from "../service.js";

/** credentialRoutes: a product's backend asks the plane about a credential it was handed. */
export function credentialRoutes(s: AccessService): RouteDefinition[] {
  return [
    defineRoute({
      method: "POST",
      url: "/v1/credentials/verify",
      operationId: "verifyCredential",
      readOnly: true,
      summary: "Verify a session token, tenant key, agent key or access token",
      description:
        "Answers 200 with `valid: true` (who, which surface and tenant, effective permissions, expiry) or `valid: false` and a reason. A credential of another environment is `invalid`, like an unknown one. Served from the plane's credential caches: a revocation applies at once in the process that made it and as soon as the change bus reaches the others (at most `cachedFor` seconds should the bus fail).",
      tags: ["Access"],
      auth: AUTH.environment,
      body: VerifyCredentialInput,
      response: { status: 200, schema: VerifyCredentialResult, description: "The verdict." },
      handler: ({ ctx, body }) => s.verification.verifyCredential(ctx, body),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/credentials/self",
      operationId: "describeOwnCredential",
      summary: "Describe the calling credential",
      description:
        "The credential this request carries (a session, access token, tenant key or agent key), described as `POST /v1/credentials/verify` would describe it: its actor, surface, tenant, effective permissions, expiry and, for an agent key, the user it acts for. No permission is needed: every credential may learn what it may do. A user session names `tenantId` (400 without it, as everywhere a user acts within a tenant) and learns their permissions there (empty where they are not a member).",
      tags: ["Access"],
      auth: { actorTypes: ["user", "tenant_key", "agent"] },
      query: z.strictObject({
        tenantId: Id.optional().describe("Required for a user session: the tenant to compute its permissions in."),
      }),
      response: { status: 200, schema: VerifyCredentialResult, description: "The calling credential." },
      handler: ({ ctx, query, headers }) =>
        s.verification.describeSelf(ctx, bearerOf(headers.authorization), query.tenantId ?? null),
    }),
  ];
}

/** bearerOf is the token of an `Authorization: Bearer …` header (the HTTP layer already resolved it). */
function bearerOf(header: string | undefined): string {
  return header?.replace(/^Bearer\s+/i, "").trim() ?? "";
}
