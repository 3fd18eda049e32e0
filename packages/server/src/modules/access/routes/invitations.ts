import { z } from "zod";
import { pageSchema } from "../../../platform/http/pagination.js";
import { AUTH, defineRoute, type RouteDefinition } from "../../../platform/http/route.js";
import { Id } from "../../../platform/http/schemas.js";
import { IdentityErrors } from "../../identity/index.js";
import { TenancyErrors } from "../../tenancy/index.js";
import { AccessErrors } from "../errors.js";
import {
  AcceptedInvitation,
  AcceptInvitationInput,
  CreateInvitationInput,
  Invitation,
  IssuedInvitation,
  ListQuery,
} from "../schemas.js";
import type { AccessService } from "../service.js";

/** invitationRoutes: joining a tenant by email; accepting is public and single use. */
export function invitationRoutes(s: AccessService): RouteDefinition[] {
  const tenantParams = z.strictObject({ tenantId: Id });
  const invitationParams = z.strictObject({ tenantId: Id, invitationId: Id });
  const tenantErrors = [TenancyErrors.tenant_not_found];
  return [
    defineRoute({
      method: "POST",
      url: "/v1/tenants/:tenantId/invitations",
      operationId: "createInvitation",
      summary: "Invite someone to a tenant by email",
      description:
        "Returns a single-use token (shown once) for the product to send. Re-inviting an email replaces its " +
        "pending invitation. An invitation an agent key or a tenant key issues is void once that key is " +
        "revoked or expired (an agent's key also when its user leaves or is disabled).",
      tags: ["Invitations"],
      auth: AUTH.tenant,
      params: tenantParams,
      body: CreateInvitationInput,
      response: { status: 201, schema: IssuedInvitation, description: "The invitation and its token." },
      errors: [...tenantErrors, AccessErrors.unknown_role, AccessErrors.grant_exceeds_own, AccessErrors.access_changed],
      secretFields: ["token"],
      handler: ({ ctx, params, body }) => s.invitations.createInvitation(ctx, params.tenantId, body),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/tenants/:tenantId/invitations",
      operationId: "listInvitations",
      summary: "List a tenant's pending invitations",
      tags: ["Invitations"],
      auth: AUTH.tenant,
      params: tenantParams,
      query: ListQuery,
      response: { status: 200, schema: pageSchema(Invitation), description: "A page of invitations." },
      errors: tenantErrors,
      handler: ({ ctx, params, query }) => s.invitations.listInvitations(ctx, params.tenantId, query),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/tenants/:tenantId/invitations/:invitationId/revoke",
      operationId: "revokeInvitation",
      summary: "Revoke a pending invitation",
      tags: ["Invitations"],
      auth: AUTH.tenant,
      params: invitationParams,
      response: { status: 200, schema: Invitation, description: "The invitation." },
      errors: [...tenantErrors, AccessErrors.invitation_not_found, AccessErrors.access_changed],
      handler: ({ ctx, params }) => s.invitations.revokeInvitation(ctx, params.tenantId, params.invitationId),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/invitations/accept",
      operationId: "acceptInvitation",
      summary: "Accept an invitation",
      description:
        "Redeems the token once: the invited email's user joins the tenant (created when the environment has " +
        "none, with the optional name and password).",
      tags: ["Invitations"],
      auth: "none",
      body: AcceptInvitationInput,
      response: { status: 201, schema: AcceptedInvitation, description: "The new membership." },
      errors: [AccessErrors.invitation_invalid, AccessErrors.already_member, IdentityErrors.user_disabled],
      handler: ({ ctx, body }) => s.invitations.acceptInvitation(ctx, body),
    }),
  ];
}
