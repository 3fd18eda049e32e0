import { type PlaneClient, PlaneProblem, segment } from "../plane.js";
import { defineTool, type Identity, TenantId, type ToolSpec } from "./define.js";

const AGENT_KEY_PREFIX = "bp_ak_";

/**
 * resolveIdentity finds out who an agent key is, with the best the plane opens to an agent key.
 * NOTE: `POST /v1/credentials/verify` would answer everything, but it is for secret keys: an agent
 * key calling it is refused and the refusal audited (`access.denied`), so it is not asked. Instead,
 * with a configured tenant, the key's own record among its user's agent keys
 * (`GET /v1/tenants/:tenantId/agent-keys`, matched by its display; needs `agents:read`) gives the
 * agent, its model, its user and its delegated scopes; without `agents:read` (or a tenant) the
 * answer holds what the configuration says. `source` tells which. Throws `PlaneProblem` for any
 * other refusal (401: the key is unknown, revoked or expired).
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

/**
 * probeKey asks the plane whether it accepts `plane`'s key, without acting and without a
 * permission: a read with an out-of-range page size, which the plane answers 401 for a key it
 * refuses and 400 (input is validated before any permission check, and nothing is recorded) for a
 * live one. NOTE: replace with a self-introspection route once the plane has one for keys.
 * Resolves true (accepted) or false (401); throws `PlaneProblem` when the plane cannot be asked.
 */
export async function probeKey(plane: PlaneClient): Promise<boolean> {
  try {
    await plane.call({ method: "GET", path: "/v1/events", query: { limit: 0 } });
    return true;
  } catch (err) {
    if (!(err instanceof PlaneProblem)) throw err;
    if (err.status === 401) return false;
    if (err.status === 400 || err.status === 403 || err.status === 404) return true;
    throw err;
  }
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
