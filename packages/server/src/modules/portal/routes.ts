import { z } from "zod";
import { AUTH, defineRoute, type RouteDefinition } from "../../platform/http/route.js";
import { Id } from "../../platform/http/schemas.js";
import { TenancyErrors } from "../tenancy/index.js";
import { PortalErrors } from "./errors.js";
import {
  CreatePortalLinkInput,
  PortalContext,
  PortalLink,
  PortalSession,
  PortalTheme,
  RevokedPortalSession,
  SetPortalThemeInput,
  StartPortalSessionInput,
} from "./schemas.js";
import type { PortalService } from "./service.js";

const tags = ["Tenant portal"];
/** PORTAL_AUTH: a portal session's own routes. */
const PORTAL_AUTH = { actorTypes: ["portal"] } as const;

/** portalRoutes: links (environment credentials), sessions (the portal page), themes (environment credentials). */
export function portalRoutes(s: PortalService): RouteDefinition[] {
  return [
    defineRoute({
      method: "POST",
      url: "/v1/tenants/:tenantId/portal-links",
      operationId: "createPortalLink",
      summary: "Mint a one-time link that opens the tenant portal for one of the tenant's admins",
      description:
        "Called by the product's backend with its secret key, for the admin it vouches for (`actor`, recorded in the audit log). The link opens `/portal` on the plane, its token in the URL's fragment (never sent to a server); it can be opened once, before `expiresAt`. See docs/portal.md.",
      tags,
      auth: AUTH.environment,
      params: z.strictObject({ tenantId: Id }),
      body: CreatePortalLinkInput,
      response: { status: 201, schema: PortalLink, description: "The link; `url` and `token` are shown once." },
      secretFields: ["token", "url"],
      errors: [TenancyErrors.tenant_not_found, TenancyErrors.surface_not_found, PortalErrors.portal_surface_required],
      handler: ({ ctx, params, body }) => s.createLink(ctx, params.tenantId, body),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/portal/sessions",
      operationId: "startPortalSession",
      summary: "Exchange a portal link's token for a portal session",
      description:
        "The portal page calls this with the token from its URL's fragment. A link opens one session, once: a second exchange (or one after the link expired) answers 401 `portal_link_invalid`. The session is bound to the link's tenant, with the permissions of its sections, for at most an hour.",
      tags,
      auth: "none",
      body: StartPortalSessionInput,
      response: { status: 201, schema: PortalSession, description: "The session's bearer token, shown once." },
      secretFields: ["token"],
      errors: [PortalErrors.portal_link_invalid],
      handler: ({ ctx, body }) => s.startSession(ctx, body.token),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/portal/context",
      operationId: "getPortalContext",
      summary: "What the portal page draws: its tenant, sections, theme and return link",
      tags,
      auth: PORTAL_AUTH,
      response: { status: 200, schema: PortalContext, description: "The portal session's context." },
      errors: [PortalErrors.portal_session_not_found],
      handler: ({ ctx }) => s.context(ctx),
    }),
    defineRoute({
      method: "DELETE",
      url: "/v1/portal/sessions/current",
      operationId: "revokePortalSession",
      summary: "End the calling portal session",
      tags,
      auth: PORTAL_AUTH,
      response: { status: 200, schema: RevokedPortalSession, description: "The revoked session." },
      errors: [PortalErrors.portal_session_not_found],
      handler: ({ ctx }) => s.revokeCurrentSession(ctx),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/surfaces/:surfaceId/portal-theme",
      operationId: "getPortalTheme",
      summary: "Get a surface's portal theme",
      tags,
      auth: AUTH.environment,
      params: z.strictObject({ surfaceId: Id }),
      response: { status: 200, schema: PortalTheme, description: "The theme (null fields: the plane's look)." },
      errors: [TenancyErrors.surface_not_found],
      handler: ({ ctx, params }) => s.getTheme(ctx, params.surfaceId),
    }),
    defineRoute({
      method: "PUT",
      url: "/v1/surfaces/:surfaceId/portal-theme",
      operationId: "setPortalTheme",
      summary: "Set a surface's portal theme: name, logo and colours",
      description: "Replaces the whole theme: fields left out are cleared. The logo must be an https URL.",
      tags,
      auth: AUTH.environment,
      params: z.strictObject({ surfaceId: Id }),
      body: SetPortalThemeInput,
      response: { status: 200, schema: PortalTheme, description: "The theme." },
      errors: [TenancyErrors.surface_not_found],
      handler: ({ ctx, params, body }) => s.setTheme(ctx, params.surfaceId, body),
    }),
  ];
}
