import { AUTH, defineRoute, type RouteDefinition } from "../../../platform/http/route.js";
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
  ];
}
