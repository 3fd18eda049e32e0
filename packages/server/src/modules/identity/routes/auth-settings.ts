import { z } from "zod";
import { AUTH, defineRoute, type RouteDefinition } from "../../../platform/http/route.js";
import { Id } from "../../../platform/http/schemas.js";
import { TenancyErrors } from "../../tenancy/index.js";
import { AuthSettingsPatch, SurfaceAuthSettings } from "../schemas.js";
import type { IdentityService } from "../service.js";

export function authSettingsRoutes(s: IdentityService): RouteDefinition[] {
  const params = z.strictObject({ surfaceId: Id });
  return [
    defineRoute({
      method: "GET",
      url: "/v1/surfaces/:surfaceId/auth-settings",
      operationId: "getSurfaceAuthSettings",
      summary: "A surface's sign-in settings (email, MFA, passkeys, access tokens, sign-in methods)",
      tags: ["Surfaces"],
      auth: AUTH.operatorOrEnvironment,
      params,
      response: { status: 200, schema: SurfaceAuthSettings, description: "The settings (defaults filled in)." },
      errors: [TenancyErrors.surface_not_found],
      handler: ({ ctx, params }) => s.authSettings.get(ctx, params.surfaceId),
    }),
    defineRoute({
      method: "PATCH",
      url: "/v1/surfaces/:surfaceId/auth-settings",
      operationId: "updateSurfaceAuthSettings",
      summary: "Change a surface's sign-in settings; fields left out keep their value",
      tags: ["Surfaces"],
      auth: AUTH.operatorOrEnvironment,
      params,
      body: AuthSettingsPatch,
      response: { status: 200, schema: SurfaceAuthSettings, description: "The settings after the change." },
      errors: [TenancyErrors.surface_not_found],
      handler: ({ ctx, params, body }) => s.authSettings.update(ctx, params.surfaceId, body),
    }),
  ];
}
