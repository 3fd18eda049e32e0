import { type PlaneClient, PlaneProblem, segment } from "../plane.js";
import { defineTool, type Identity, TenantId, type ToolSpec } from "./define.js";

const AGENT_KEY_PREFIX = "bp_ak_";

/**
 * resolveIdentity asks the plane who the agent key is (`GET /v1/credentials/self`, which every
 * credential may call about itself, no permission needed): the agent, the user it acts for, its
 * tenant and its effective permissions (its delegated scope ∩ its user's current permissions ∩
 * the surface's ceiling). Throws `PlaneProblem` when the plane refuses the key (401: unknown,
 * revoked or expired).
 */
export async function resolveIdentity(plane: PlaneClient, token: string): Promise<Identity> {
  const self = await plane.call<SelfAnswer>({ method: "GET", path: "/v1/credentials/self" });
  if (!self.valid) throw new PlaneProblem(401, "invalid_credentials", `The plane refused the key (${self.reason}).`);
  return {
    keyDisplay: `${AGENT_KEY_PREFIX}…${token.slice(-4)}`,
    agentKeyId: self.actor.id,
    agentName: self.actor.displayName,
    userId: self.onBehalfOf?.id ?? null,
    tenantId: self.tenantId,
    surfaceId: self.surfaceId,
    permissions: self.permissions,
    expiresAt: self.expiresAt,
  };
}

/**
 * probeKey asks the plane whether it accepts `plane`'s key, without acting and without a
 * permission (`GET /v1/credentials/self`). Resolves true (accepted) or false (401); throws
 * `PlaneProblem` when the plane cannot be asked.
 */
export async function probeKey(plane: PlaneClient): Promise<boolean> {
  try {
    await plane.call({ method: "GET", path: "/v1/credentials/self" });
    return true;
  } catch (err) {
    if (err instanceof PlaneProblem && err.status === 401) return false;
    throw err;
  }
}

type SelfAnswer =
  | {
      valid: true;
      actor: { type: string; id: string; displayName: string | null };
      surfaceId: string | null;
      tenantId: string | null;
      permissions: string[];
      expiresAt: string | number | null;
      onBehalfOf: { type: string; id: string } | null;
    }
  | { valid: false; reason: string };

/** IDENTITY_TOOLS: who the agent is, and its tenant. */
export const IDENTITY_TOOLS: ToolSpec[] = [
  defineTool({
    name: "whoami",
    title: "Who am I",
    description:
      "Who this agent key is: the agent, the user it acts for, its tenant and what it may do. Call it first: " +
      "every other tool acts in this tenant unless told otherwise, and with at most these permissions.",
    input: {},
    mutating: false,
    run: async (ctx) => ({ ...(await ctx.identity()) }),
    render: (r) =>
      [
        `Agent ${String(r.agentName ?? r.keyDisplay)}${r.agentKeyId ? ` (${String(r.agentKeyId)})` : ""}`,
        `acting for user ${String(r.userId ?? "unknown")}`,
        `in tenant ${String(r.tenantId ?? "unknown: pass tenantId to the tools")}`,
        `permissions: ${(r.permissions as string[]).join(", ") || "none"}`,
      ].join("; "),
  }),
  defineTool({
    name: "tenants_get",
    title: "Get the tenant",
    description:
      "The tenant (name, state, external id). Needs `tenants:read`. Agent keys are bound to one tenant: another " +
      "tenant's id answers not_found.",
    input: { tenantId: TenantId },
    mutating: false,
    run: async (ctx, args) => {
      const tenantId = await ctx.tenant(args.tenantId);
      return ctx.plane.call({ method: "GET", path: `/v1/tenants/${segment(tenantId)}` });
    },
    render: (r) => `Tenant ${String(r.id)} "${String(r.name)}" (${String(r.state)})`,
  }),
];
