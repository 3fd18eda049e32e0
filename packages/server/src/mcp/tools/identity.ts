import { type PlaneClient, PlaneProblem, segment } from "../plane.js";
import { defineTool, type Identity, TenantId, type ToolSpec } from "./define.js";

const AGENT_KEY_PREFIX = "bp_ak_";

/**
 * resolveIdentity finds out who an agent key is, with the best route the plane opens to it:
 * 1. `POST /v1/credentials/verify` on the key itself: the plane's own verdict (agent, user,
 *    tenant, effective permissions), when the plane lets the key call it;
 * 2. else, with a configured tenant, the key's own record among the user's agent keys
 *    (`GET /v1/tenants/:tenantId/agent-keys`, matched by its display; needs `agents:read`);
 * 3. else what the configuration says (the tenant, if given).
 * Throws `PlaneProblem` 401 when the plane refuses the key itself (unknown, revoked, expired).
 */
export async function resolveIdentity(
  plane: PlaneClient,
  token: string,
  configuredTenant: string | null,
): Promise<Identity> {
  const keyDisplay = `${AGENT_KEY_PREFIX}…${token.slice(-4)}`;
  const base: Identity = {
    source: "configuration",
    keyDisplay,
    agentKeyId: null,
    agentName: null,
    model: null,
    userId: null,
    tenantId: configuredTenant,
    permissions: null,
    scopes: null,
    expiresAt: null,
  };
  try {
    const v = await plane.call<VerifyAnswer>({ method: "POST", path: "/v1/credentials/verify", body: { token } });
    if (v.valid) {
      return {
        ...base,
        source: "credentials.verify",
        agentKeyId: v.actor?.id ?? null,
        agentName: v.actor?.displayName ?? null,
        userId: v.onBehalfOf?.id ?? null,
        tenantId: v.tenantId ?? configuredTenant,
        permissions: v.permissions ?? null,
        expiresAt: v.expiresAt ?? null,
      };
    }
    throw new PlaneProblem(401, "unauthenticated", `The agent key is not valid (${v.reason ?? "invalid"}).`);
  } catch (err) {
    // 403: the plane keeps verification to secret keys; the key itself was accepted.
    if (!(err instanceof PlaneProblem) || err.status !== 403) throw err;
  }
  if (configuredTenant === null) return base;
  try {
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const keys = await plane.call<{ data: AgentKeyRecord[]; nextCursor: string | null }>({
        method: "GET",
        path: `/v1/tenants/${segment(configuredTenant)}/agent-keys`,
        query: { limit: 100, cursor },
      });
      const own = keys.data.find((k) => k.display === keyDisplay && k.revokedAt === null);
      if (own) {
        return {
          ...base,
          source: "agent-keys",
          agentKeyId: own.id,
          agentName: own.name,
          model: own.model,
          userId: own.userId,
          tenantId: own.tenantId,
          scopes: own.scopes,
          expiresAt: own.expiresAt,
        };
      }
      if (!keys.nextCursor) break;
      cursor = keys.nextCursor;
    }
  } catch (err) {
    if (!(err instanceof PlaneProblem) || (err.status !== 403 && err.status !== 404)) throw err;
  }
  return base;
}

interface VerifyAnswer {
  valid: boolean;
  reason?: string;
  actor?: { id: string; displayName: string | null };
  tenantId?: string | null;
  permissions?: string[];
  expiresAt?: string | number | null;
  onBehalfOf?: { type: string; id: string } | null;
}

interface AgentKeyRecord {
  id: string;
  tenantId: string;
  userId: string;
  name: string;
  model: string | null;
  display: string;
  scopes: string[];
  expiresAt: string | number | null;
  revokedAt: string | number | null;
}

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
        r.permissions
          ? `permissions: ${(r.permissions as string[]).join(", ") || "none"}`
          : r.scopes
            ? `delegated scopes: ${(r.scopes as string[]).join(", ")}`
            : "permissions: not disclosed to this key",
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
