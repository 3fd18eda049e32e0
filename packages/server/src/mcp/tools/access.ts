import { z } from "zod";
import { segment } from "../plane.js";
import { CallId, defineTool, Id, listed, Page, summary, TenantId, type ToolSpec } from "./define.js";

const Roles = z
  .array(z.string().min(1).max(64))
  .min(1)
  .max(20)
  .describe('Role keys, e.g. ["member"] or ["admin"]. The agent can grant no more than its user holds.');

const members = (tenantId: string) => `/v1/tenants/${segment(tenantId)}/members`;
const invitations = (tenantId: string) => `/v1/tenants/${segment(tenantId)}/invitations`;

/** ACCESS_TOOLS: the tenant's members and invitations. */
export const ACCESS_TOOLS: ToolSpec[] = [
  defineTool({
    name: "members_list",
    title: "List members",
    description: "The tenant's members (user id and roles), a page at a time. Needs `members:read`.",
    input: { tenantId: TenantId, ...Page },
    mutating: false,
    run: async (ctx, a) =>
      ctx.plane.call({
        method: "GET",
        path: members(await ctx.tenant(a.tenantId)),
        query: { limit: a.limit, cursor: a.cursor },
      }),
    render: listed("members", (m) => `${String(m.id)}: user ${String(m.userId)} [${(m.roles as string[]).join(", ")}]`),
  }),
  defineTool({
    name: "members_add",
    title: "Add a member",
    description: "Adds an existing user of the environment to the tenant with roles. Needs `members:invite`.",
    input: { tenantId: TenantId, userId: Id("The user (`usr_…`)."), roles: Roles, callId: CallId },
    mutating: true,
    run: async (ctx, a) =>
      ctx.plane.call({
        method: "POST",
        path: members(await ctx.tenant(a.tenantId)),
        body: { userId: a.userId, roles: a.roles },
        idempotencyKey: ctx.idempotencyKey,
      }),
    render: summary("Membership", "userId", "roles"),
  }),
  defineTool({
    name: "members_update",
    title: "Change a member's roles",
    description: "Replaces a member's roles. Needs `members:update`. The tenant always keeps an owner.",
    input: { tenantId: TenantId, membershipId: Id("The membership (`mem_…`)."), roles: Roles, callId: CallId },
    mutating: true,
    replay: "memory",
    run: async (ctx, a) =>
      ctx.plane.call({
        method: "PATCH",
        path: `${members(await ctx.tenant(a.tenantId))}/${segment(a.membershipId)}`,
        body: { roles: a.roles },
      }),
    render: summary("Membership", "userId", "roles"),
  }),
  defineTool({
    name: "members_remove",
    title: "Remove a member",
    description:
      "Removes a member from the tenant (their sessions lose the tenant, their agent keys die). Needs `members:remove`.",
    input: { tenantId: TenantId, membershipId: Id("The membership (`mem_…`)."), callId: CallId },
    mutating: true,
    replay: "memory",
    destructive: true,
    run: async (ctx, a) =>
      ctx.plane.call({
        method: "DELETE",
        path: `${members(await ctx.tenant(a.tenantId))}/${segment(a.membershipId)}`,
      }),
    render: (r) => `Removed membership ${String(r.id)} (user ${String(r.userId)}).`,
  }),
  defineTool({
    name: "invitations_create",
    title: "Invite someone",
    description:
      "Invites an email address to the tenant with roles. Needs `members:invite`. The answer carries the " +
      "invitation token once (null when replayed).",
    input: {
      tenantId: TenantId,
      email: z.string().email().max(320).describe("Who to invite."),
      roles: Roles,
      expiresInSeconds: z.number().int().min(300).max(2_592_000).optional().describe("Validity (default 7 days)."),
      callId: CallId,
    },
    mutating: true,
    run: async (ctx, a) =>
      ctx.plane.call({
        method: "POST",
        path: invitations(await ctx.tenant(a.tenantId)),
        body: {
          email: a.email,
          roles: a.roles,
          ...(a.expiresInSeconds ? { expiresInSeconds: a.expiresInSeconds } : {}),
        },
        idempotencyKey: ctx.idempotencyKey,
      }),
    render: (r) => {
      return `Invitation ${String(r.id)} for ${String(r.email)} (${String(r.status)}).`;
    },
  }),
  defineTool({
    name: "invitations_list",
    title: "List invitations",
    description: "The tenant's invitations and their status. Needs `members:read`.",
    input: { tenantId: TenantId, ...Page },
    mutating: false,
    run: async (ctx, a) =>
      ctx.plane.call({
        method: "GET",
        path: invitations(await ctx.tenant(a.tenantId)),
        query: { limit: a.limit, cursor: a.cursor },
      }),
    render: listed("invitations", (i) => `${String(i.id)}: ${String(i.email)} ${String(i.status)}`),
  }),
  defineTool({
    name: "invitations_revoke",
    title: "Revoke an invitation",
    description: "Revokes a pending invitation. Needs `members:invite`.",
    input: { tenantId: TenantId, invitationId: Id("The invitation (`inv_…`)."), callId: CallId },
    mutating: true,
    destructive: true,
    run: async (ctx, a) =>
      ctx.plane.call({
        method: "POST",
        path: `${invitations(await ctx.tenant(a.tenantId))}/${segment(a.invitationId)}/revoke`,
        idempotencyKey: ctx.idempotencyKey,
      }),
    render: summary("Invitation", "email", "status"),
  }),
];
