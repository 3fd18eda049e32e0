import { z } from "zod";
import { paginationQuery } from "../../platform/http/pagination.js";
import { Id, nameSchemas, Timestamp, TimestampInput } from "../../platform/http/schemas.js";
import { isPermission } from "../../platform/permissions.js";

const Name = z.string().trim().min(1).max(200);
export const Permission = z
  .string()
  .max(100)
  .refine(isPermission, "must be resource:action, resource:*, *:action or *")
  .describe("A permission or pattern: `resource:action`, `resource:*`, `*:action` or `*`.");
export const Permissions = z.array(Permission).min(1).max(200);
export const RoleKey = z
  .string()
  .min(2)
  .max(64)
  .regex(/^[a-z][a-z0-9_-]*$/, "must be lower-case letters, digits, '-' or '_', starting with a letter")
  .describe("The role's stable key, e.g. `billing-admin`.");
const Roles = z.array(RoleKey).min(1).max(20).describe("Role keys (built-in `owner`, `admin`, `member`, or custom).");
const Email = z
  .string()
  .trim()
  .max(254)
  .pipe(z.email({ message: "must be an email address" }));
const Future = TimestampInput.describe(
  "A time in the future: an ISO 8601 date-time (epoch milliseconds still accepted).",
);

// Roles
export const Role = z.object({
  key: RoleKey,
  id: z.string().nullable().describe("Null for built-in roles."),
  name: z.string(),
  description: z.string().nullable(),
  permissions: z.array(z.string()),
  builtIn: z.boolean(),
  createdAt: Timestamp.nullable(),
  updatedAt: Timestamp.nullable(),
});
export type Role = z.infer<typeof Role>;
export const CreateRoleInput = z.strictObject({
  key: RoleKey,
  name: Name,
  description: z.string().max(1000).optional(),
  permissions: Permissions,
});
export const UpdateRoleInput = z.strictObject({
  name: Name.optional(),
  description: z.string().max(1000).nullable().optional(),
  permissions: Permissions.optional(),
});
export const Statement = z.object({ resource: z.string(), actions: z.array(z.string()) });

// Memberships
export const Membership = z.object({
  id: z.string(),
  environmentId: z.string(),
  tenantId: z.string(),
  userId: z.string(),
  roles: z.array(z.string()),
  createdBy: z.string().nullable(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Membership = z.infer<typeof Membership>;
export const AddMemberInput = z.strictObject({ userId: Id, roles: Roles });
export const UpdateMemberInput = z.strictObject({ roles: Roles });
export const ListQuery = paginationQuery.strict();

// Invitations
export const Invitation = z.object({
  id: z.string(),
  tenantId: z.string(),
  email: z.string(),
  roles: z.array(z.string()),
  invitedBy: z.string(),
  createdAt: Timestamp,
  expiresAt: Timestamp,
  status: z.enum(["pending", "accepted", "revoked", "expired"]),
  acceptedAt: Timestamp.nullable(),
  acceptedBy: z.string().nullable(),
});
export type Invitation = z.infer<typeof Invitation>;
export const CreateInvitationInput = z.strictObject({
  email: Email,
  roles: Roles,
  expiresInSeconds: z
    .number()
    .int()
    .min(300)
    .max(30 * 86_400)
    .default(7 * 86_400)
    .describe("How long the invitation is valid (default 7 days)."),
});
/** IssuedInvitation: a new invitation, with its token shown once (a create answer). */
export const IssuedInvitation = Invitation.extend({
  token: z
    .string()
    .nullable()
    .describe("The invitation token (`bp_iv_…`), shown once: send it to the invitee. Null in an idempotent replay."),
  emailed: z
    .boolean()
    .describe("Whether the plane mailed the accept link (the key's surface has `email.appUrl`).")
    .optional(),
});
export const AcceptInvitationInput = z.strictObject({
  token: z.string().min(1).max(512),
  name: Name.optional().describe("For a new user: their name."),
  password: z.string().min(1).max(4096).optional().describe("For a new user: their password (optional)."),
});
export const AcceptedInvitation = z.object({
  membership: Membership,
  userCreated: z.boolean().describe("Whether accepting created the user."),
});

// Tenant keys
export const TenantKey = z.object({
  id: z.string(),
  tenantId: z.string(),
  surfaceId: z.string(),
  name: z.string(),
  display: z.string().describe("A redacted form of the token, safe to show."),
  permissions: z.array(z.string()),
  createdBy: z.string(),
  createdByType: z.string(),
  createdAt: Timestamp,
  expiresAt: Timestamp.nullable(),
  revokedAt: Timestamp.nullable(),
  lastUsedAt: Timestamp.nullable(),
  replacedBy: z.string().nullable(),
});
export type TenantKey = z.infer<typeof TenantKey>;
export const CreateTenantKeyInput = z.strictObject({
  name: Name,
  permissions: Permissions.describe("At most the creator's own permissions in the tenant."),
  expiresAt: Future.optional(),
  surfaceId: Id.optional().describe(
    "The surface the key calls through (e.g. the partner API): an active surface of the environment whose scope ceiling holds every permission (else 422 `scope_exceeds_ceiling`). Default: the surface of the creator's credential.",
  ),
});
export const RotateKeyInput = z.strictObject({
  gracePeriodSeconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400)
    .default(0)
    .describe("How long the old key keeps working (default: it stops at once)."),
});
/** IssuedTenantKey: a new tenant key, with its token shown once (a create or rotate answer). */
export const IssuedTenantKey = TenantKey.extend({
  token: z.string().nullable().describe("The tenant key (`bp_tk_…`), shown once. Null in an idempotent replay."),
});

// Agent keys
export const AgentKey = z.object({
  id: z.string(),
  tenantId: z.string(),
  userId: z.string().describe("The user the agent acts for."),
  surfaceId: z.string(),
  name: z.string().describe("The agent's declared name."),
  model: z.string().nullable().describe("The agent's declared model, if given."),
  display: z.string(),
  scopes: z.array(z.string()),
  createdAt: Timestamp,
  expiresAt: Timestamp.nullable(),
  revokedAt: Timestamp.nullable(),
  lastUsedAt: Timestamp.nullable(),
});
export type AgentKey = z.infer<typeof AgentKey>;
export const CreateAgentKeyInput = z.strictObject({
  name: Name,
  model: z.string().trim().min(1).max(200).optional(),
  scopes: Permissions.describe(
    "What the agent may do at most; its effective permissions are these ∩ the user's current ones ∩ the surface's ceiling.",
  ),
  expiresAt: Future.optional(),
  userId: Id.optional().describe("Secret keys only: the user delegating (a session delegates for itself)."),
});
/** IssuedAgentKey: a new agent key, with its token shown once (a create answer). */
export const IssuedAgentKey = AgentKey.extend({
  token: z.string().nullable().describe("The agent key (`bp_ak_…`), shown once. Null in an idempotent replay."),
});

// Checks
export const Subject = z
  .discriminatedUnion("type", [
    z.strictObject({ type: z.literal("user"), id: Id }),
    z.strictObject({ type: z.literal("tenant_key"), id: Id }),
    z.strictObject({ type: z.literal("agent_key"), id: Id }),
  ])
  .describe("Whose access to check.");
export const CheckInput = z.strictObject({
  subject: Subject,
  tenantId: Id,
  permission: z.string().min(3).max(100),
});
export const CheckResult = z.object({
  allowed: z.boolean(),
  permission: z.string(),
  tenantId: z.string(),
});
export const BatchCheckInput = z.strictObject({ checks: z.array(CheckInput).min(1).max(100) });
export const BatchCheckResult = z.object({ results: z.array(CheckResult) });
export const Explanation = CheckResult.extend({
  reason: z
    .enum([
      "granted",
      "not_a_member",
      "no_matching_grant",
      "outside_scope",
      "outside_user_permissions",
      "outside_surface_ceiling",
      "credential_inactive",
      "user_disabled",
      "tenant_suspended",
      "subject_not_found",
    ])
    .describe("Why the decision was made."),
  matched: z
    .array(z.object({ via: z.string(), id: z.string().nullable(), role: z.string().nullable(), grant: z.string() }))
    .describe("The grants that allow the permission (membership role, key permission, agent scope)."),
  detail: z.string(),
});
export type Explanation = z.infer<typeof Explanation>;

// Credential verification
export const VerifyCredentialInput = z.strictObject({
  token: z
    .string()
    .min(1)
    .max(4096)
    .describe("A session token (`bp_st_…`), a tenant key (`bp_tk_…`), an agent key (`bp_ak_…`) or a JWT access token."),
  tenantId: Id.optional().describe(
    "For a user's session or access token: answer the user's permissions in this tenant.",
  ),
});
const Actor = z.object({
  type: z.string().describe("`user`, `tenant_key` or `agent`."),
  id: z.string(),
  displayName: z.string().nullable(),
});
export const VerifyCredentialResult = z.discriminatedUnion("valid", [
  z.object({
    valid: z.literal(true),
    kind: z.enum(["session", "access_token", "tenant_key", "agent_key"]),
    actor: Actor,
    environmentId: z.string(),
    surfaceId: z.string().nullable(),
    tenantId: z.string().nullable().describe("The key's tenant, or the tenant named in the request."),
    permissions: z
      .array(z.string())
      .describe("Effective permissions: after the surface's ceiling, an agent's user, a user's roles in `tenantId`."),
    expiresAt: Timestamp.nullable(),
    sessionId: z.string().nullable(),
    authLevel: z.number().int().nullable().describe("A user's authentication level (1 or 2)."),
    authMethod: z.string().nullable(),
    onBehalfOf: z.object({ type: z.string(), id: z.string() }).nullable(),
    cachedFor: z
      .number()
      .int()
      .describe(
        "Seconds: the most this answer can lag a revocation made in another process, should the change bus fail (revocations normally apply at once).",
      ),
  }),
  z.object({
    valid: z.literal(false),
    reason: z
      .enum(["malformed", "unsupported_kind", "invalid", "expired", "revoked"])
      .describe(
        "`invalid`: unknown, revoked, forged, or of another environment. `revoked`: an access token whose session ended. `expired`: this environment's credential, expired.",
      ),
  }),
]);

// The API document's names of this module's resources and inputs (`#/components/schemas/…`).
nameSchemas(
  {
    AcceptInvitationInput,
    AcceptedInvitation,
    AddMemberInput,
    AgentKey,
    BatchCheckInput,
    BatchCheckResult,
    AccessCheckInput: CheckInput,
    AccessCheckResult: CheckResult,
    CreateAgentKeyInput,
    CreateInvitationInput,
    CreateRoleInput,
    CreateTenantKeyInput,
    Explanation,
    Invitation,
    IssuedAgentKey,
    IssuedInvitation,
    IssuedTenantKey,
    Membership,
    Role,
    RotateKeyInput,
    Statement,
    AccessSubject: Subject,
    TenantKey,
    UpdateMemberInput,
    UpdateRoleInput,
    VerifyCredentialInput,
    VerifyCredentialResult,
  },
  {
    TenantKey: {
      description: "A key bound to one tenant (`bp_tk_…`, shown once when issued), limited to its permissions.",
      examples: [
        {
          id: "tky_01JEXQ7F0G2H4J6K8M0N2P4Q6R",
          tenantId: "ten_01JEXQ4Z7M3K9T2V8W5Y6B1C0D",
          surfaceId: "srf_01JEXPZ9V1W3X5Y7Z9A1B3C5D7",
          name: "ERP sync",
          display: "bp_tk_…x7Qa",
          permissions: ["members:read"],
          createdBy: "usr_01JEXQ5B2C4D6E8F0G1H2J3K4M",
          createdByType: "user",
          createdAt: "2026-12-01T09:30:00.000Z",
          expiresAt: null,
          revokedAt: null,
          lastUsedAt: "2026-12-07T10:15:42.000Z",
          replacedBy: null,
        },
      ],
    },
  },
);
