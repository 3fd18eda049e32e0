import { z } from "zod";
import { paginationQuery } from "../../platform/http/pagination.js";
import { Id, nameSchemas, Timestamp } from "../../platform/http/schemas.js";

/** The longest support access an operator may ask for (8 hours), and the default (1 hour). */
export const MAX_DURATION_MINUTES = 480;
export const DEFAULT_DURATION_MINUTES = 60;
/** How long a request waits for the tenant's decision before it lapses (24 hours). */
export const PENDING_LIFETIME_MS = 24 * 60 * 60 * 1000;

export const SupportPolicyMode = z
  .enum(["notify", "approval_required"])
  .describe(
    "`notify`: an operator's request is granted at once and the tenant sees it (audit, events); `approval_required`: a member holding `support_access:approve` must approve it first.",
  );

export const SupportAccessStatus = z
  .enum(["pending", "active", "expired", "denied", "ended"])
  .describe(
    "`pending`: waiting for the tenant's decision (lapses to `expired` after 24 h); `active`: the operator may act until `expiresAt`; `expired`: its time ran out; `denied`: the tenant refused it; `ended`: ended early by the operator, the tenant or the environment's secret key.",
  );

/** RequestSupportAccessInput: what an operator asks for. */
export const RequestSupportAccessInput = z.strictObject({
  tenantId: Id.describe("The tenant to act in (of the environment named by `Baseplate-Environment`)."),
  reason: z
    .string()
    .trim()
    .min(10)
    .max(500)
    .describe("Why: shown to the tenant's owners and kept in the audit log (a ticket number helps)."),
  access: z
    .enum(["read", "write"])
    .default("read")
    .describe(
      "`read`: reading only (default); `write`: also acting, with the operator role's permissions (admins only).",
    ),
  durationMinutes: z
    .number()
    .int()
    .min(5)
    .max(MAX_DURATION_MINUTES)
    .default(DEFAULT_DURATION_MINUTES)
    .describe("How long the access lasts once granted, 5–480 minutes (default 60)."),
});
export type RequestSupportAccessInput = z.infer<typeof RequestSupportAccessInput>;

/** DecideSupportAccessInput: a member's approval, denial or revocation, with an optional note. */
export const DecideSupportAccessInput = z.strictObject({
  note: z.string().trim().max(500).optional().describe("Why, kept with the decision (optional)."),
});
export type DecideSupportAccessInput = z.infer<typeof DecideSupportAccessInput>;

/** SupportAccess: one operator's time-boxed access to one tenant. */
export const SupportAccess = z.object({
  id: z.string(),
  tenantId: z.string(),
  operatorId: z.string(),
  operatorName: z.string().nullable().describe("The operator's email or name when it asked."),
  reason: z.string(),
  access: z.enum(["read", "write"]),
  durationMinutes: z.number().int(),
  status: SupportAccessStatus,
  policy: SupportPolicyMode.describe("The tenant's policy when the operator asked."),
  requestedAt: Timestamp,
  decidedAt: Timestamp.nullable(),
  decidedBy: z
    .string()
    .nullable()
    .describe("The member who approved or denied (null: granted by the `notify` policy)."),
  decisionNote: z.string().nullable(),
  expiresAt: Timestamp.nullable().describe("When the access ends by itself (set once granted)."),
  endedAt: Timestamp.nullable(),
  endedBy: z
    .object({ type: z.string(), id: z.string() })
    .nullable()
    .describe("Who ended it early: the operator, a member or a secret key."),
});
export type SupportAccess = z.infer<typeof SupportAccess>;

export const ListSupportAccessQuery = paginationQuery.extend({
  tenantId: Id.optional().describe("Only this tenant's."),
  operatorId: Id.optional().describe("Only this operator's."),
  status: SupportAccessStatus.optional().describe("Only those in this state now."),
});
export const ListTenantSupportAccessQuery = paginationQuery.extend({
  status: SupportAccessStatus.optional().describe("Only those in this state now."),
});

/** SupportPolicy: a tenant's support policy. */
export const SupportPolicy = z.object({
  tenantId: z.string(),
  mode: SupportPolicyMode,
  updatedAt: Timestamp.nullable().describe("When the tenant last set it (null: the default, `notify`)."),
});
export type SupportPolicy = z.infer<typeof SupportPolicy>;
export const SetSupportPolicyInput = z.strictObject({ mode: SupportPolicyMode });
export type SetSupportPolicyInput = z.infer<typeof SetSupportPolicyInput>;

// The API document's names of this module's resources and inputs (`#/components/schemas/…`).
nameSchemas({
  SupportAccess,
  RequestSupportAccessInput,
  DecideSupportAccessInput,
  SupportPolicy,
  SetSupportPolicyInput,
});
