import { z } from "zod";
import { defineModule } from "../../platform/module.js";
import { tenancyModule } from "../tenancy/index.js";
import { supportIds } from "./ids.js";
import { migration as supportAccess } from "./migrations/202612071705_support_access.js";
import { supportReview } from "./review.js";
import { supportRoutes } from "./routes.js";
import { SupportService } from "./service.js";

const Operator = { operatorId: z.string() };

/**
 * The support module: operators' time-boxed support access to tenants (requested with a reason,
 * granted under the tenant's policy, seen by the tenant, ended by itself), and the access hook
 * without which an operator cannot act inside a tenant (`supportGrant`).
 */
export const supportModule = defineModule({
  name: "support",
  dependsOn: { tenancy: tenancyModule },
  migrations: [supportAccess],
  ids: supportIds.prefixes,
  permissions: { support_access: ["read", "approve", "write"] },
  // Owners hold every permission (they approve); admins see who had access.
  roleGrants: { admin: { support_access: ["read"] } },
  createService: (ctx) => new SupportService(ctx),
  routes: (service) => supportRoutes(service),
  review: (service) => supportReview(service),
  accessHooks: (service) => ({
    supportGrant: (environmentId, operatorId, tenantId) => service.grantFor(environmentId, operatorId, tenantId),
  }),
  factSinks: (service) => [{ name: "support.grant_check", sink: (tx, fact) => service.onFact(tx, fact) }],
  facts: {
    "support_access.requested": {
      description: "An operator asked for time-boxed access to the tenant, with a reason.",
      data: z.object({
        ...Operator,
        operatorName: z.string().nullable(),
        reason: z.string(),
        access: z.enum(["read", "write"]),
        durationMinutes: z.number(),
        policy: z.enum(["notify", "approval_required"]),
      }),
    },
    "support_access.approved": {
      description:
        "An operator's access to the tenant began: approved by a member (`approvedBy`) or at once under the `notify` policy (`approvedBy: null`).",
      data: z.object({ ...Operator, approvedBy: z.string().nullable(), expiresAt: z.string() }),
    },
    "support_access.denied": {
      description: "A member refused an operator's request for access to the tenant.",
      data: z.object({ ...Operator, deniedBy: z.string(), note: z.string().nullable() }),
    },
    "support_access.revoked": {
      description: "The tenant (a member or a secret key) ended an operator's access early.",
      data: z.object({ ...Operator, wasStatus: z.string(), note: z.string().nullable() }),
    },
    "support_access.ended": {
      description: "The operator (or an admin operator, or a secret key) ended the access early.",
      data: z.object({ ...Operator, wasStatus: z.string(), note: z.string().nullable() }),
    },
    "support_policy.updated": {
      description: "A member changed whether operators need the tenant's approval for support access.",
      data: z.object({ before: z.string(), after: z.string() }),
    },
  },
});
