import { z } from "zod";
import { StepUpErrors } from "../../../platform/access.js";
import { pageSchema } from "../../../platform/http/pagination.js";
import { AUTH, defineRoute, type RouteDefinition } from "../../../platform/http/route.js";
import { Id } from "../../../platform/http/schemas.js";
import { IdentityErrors } from "../../identity/index.js";
import { TenancyErrors } from "../../tenancy/index.js";
import { AccessErrors } from "../errors.js";
import { AddMemberInput, ListQuery, Membership, UpdateMemberInput } from "../schemas.js";
import type { AccessService } from "../service.js";

/** membershipRoutes: users in tenants, with roles, and a user's own memberships (`/v1/auth/memberships`). */
export function membershipRoutes(s: AccessService): RouteDefinition[] {
  const tenantParams = z.strictObject({ tenantId: Id });
  const memberParams = z.strictObject({ tenantId: Id, membershipId: Id });
  const tenantErrors = [TenancyErrors.tenant_not_found];
  return [
    defineRoute({
      method: "GET",
      url: "/v1/tenants/:tenantId/members",
      operationId: "listMembers",
      summary: "List a tenant's members",
      tags: ["Members"],
      auth: AUTH.tenant,
      params: tenantParams,
      query: ListQuery,
      response: { status: 200, schema: pageSchema(Membership), description: "A page of memberships." },
      errors: tenantErrors,
      handler: ({ ctx, params, query }) => s.memberships.listMembers(ctx, params.tenantId, query),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/tenants/:tenantId/members",
      operationId: "addMember",
      summary: "Add a user to a tenant with roles",
      description: "The caller must hold every permission of the roles it grants (`grant_exceeds_own` otherwise).",
      tags: ["Members"],
      auth: AUTH.tenant,
      params: tenantParams,
      body: AddMemberInput,
      response: { status: 201, schema: Membership, description: "The membership." },
      errors: [
        ...tenantErrors,
        IdentityErrors.user_not_found,
        IdentityErrors.user_disabled,
        AccessErrors.already_member,
        AccessErrors.unknown_role,
        AccessErrors.grant_exceeds_own,
        AccessErrors.access_changed,
      ],
      handler: ({ ctx, params, body }) => s.memberships.addMember(ctx, params.tenantId, body),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/tenants/:tenantId/members/:membershipId",
      operationId: "getMember",
      summary: "Get a membership",
      tags: ["Members"],
      auth: AUTH.tenant,
      params: memberParams,
      response: { status: 200, schema: Membership, description: "The membership." },
      errors: [...tenantErrors, AccessErrors.membership_not_found],
      handler: ({ ctx, params }) => s.memberships.findMembershipById(ctx, params.tenantId, params.membershipId),
    }),
    defineRoute({
      method: "PATCH",
      url: "/v1/tenants/:tenantId/members/:membershipId",
      operationId: "updateMember",
      summary: "Change a member's roles",
      description: "Records the roles before and after. The tenant's last owner cannot be demoted.",
      tags: ["Members"],
      auth: AUTH.tenant,
      params: memberParams,
      body: UpdateMemberInput,
      response: { status: 200, schema: Membership, description: "The membership." },
      errors: [
        StepUpErrors.step_up_required,
        ...tenantErrors,
        AccessErrors.membership_not_found,
        AccessErrors.unknown_role,
        AccessErrors.grant_exceeds_own,
        AccessErrors.last_owner,
        AccessErrors.access_changed,
      ],
      handler: ({ ctx, params, body }) => s.memberships.updateMember(ctx, params.tenantId, params.membershipId, body),
    }),
    defineRoute({
      method: "DELETE",
      url: "/v1/tenants/:tenantId/members/:membershipId",
      operationId: "removeMember",
      summary: "Remove a member (or leave the tenant)",
      description:
        "The user loses the tenant's permissions at once and their agent keys in it are revoked. A user may " +
        "always remove their own membership; the last owner cannot leave.",
      tags: ["Members"],
      auth: AUTH.tenant,
      params: memberParams,
      response: { status: 200, schema: Membership, description: "The removed membership." },
      errors: [
        ...tenantErrors,
        AccessErrors.membership_not_found,
        AccessErrors.grant_exceeds_own,
        AccessErrors.last_owner,
        AccessErrors.access_changed,
      ],
      handler: ({ ctx, params }) => s.memberships.removeMember(ctx, params.tenantId, params.membershipId),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/auth/memberships",
      operationId: "listMyMemberships",
      summary: "List the signed-in user's memberships",
      tags: ["Members"],
      auth: AUTH.user,
      query: ListQuery,
      response: { status: 200, schema: pageSchema(Membership), description: "A page of memberships." },
      handler: ({ ctx, query }) => s.memberships.listMyMemberships(ctx, query),
    }),
  ];
}
