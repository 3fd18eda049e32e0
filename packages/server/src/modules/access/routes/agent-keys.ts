import { z } from "zod";
import { StepUpErrors } from "../../../platform/access.js";
import { pageSchema } from "../../../platform/http/pagination.js";
import { AUTH, defineRoute, type RouteDefinition } from "../../../platform/http/route.js";
import { Id } from "../../../platform/http/schemas.js";
import { IdentityErrors } from "../../identity/index.js";
import { TenancyErrors } from "../../tenancy/index.js";
import { AccessErrors } from "../errors.js";
import { AgentKey, CreateAgentKeyInput, IssuedAgentKey, ListQuery } from "../schemas.js";
import type { AccessService } from "../service.js";

/** agentKeyRoutes: keys a user delegates to an agent (the key's scope ∩ the user's permissions). */
export function agentKeyRoutes(s: AccessService): RouteDefinition[] {
  const tenantParams = z.strictObject({ tenantId: Id });
  const agentKeyParams = z.strictObject({ tenantId: Id, agentKeyId: Id });
  const tenantErrors = [TenancyErrors.tenant_not_found];
  return [
    defineRoute({
      method: "POST",
      url: "/v1/tenants/:tenantId/agent-keys",
      operationId: "createAgentKey",
      summary: "Delegate to an agent",
      description:
        "A user (or the product's backend, naming the user) delegates to an AI agent or tool. On every request " +
        "the key may do only what its scope, the user's current permissions in the tenant and the surface's " +
        "ceiling all allow; it dies when the user leaves or is disabled. Everything it does is recorded as " +
        "user → agent. The token is shown once.",
      tags: ["Agent keys"],
      auth: AUTH.tenant,
      params: tenantParams,
      body: CreateAgentKeyInput,
      response: { status: 201, schema: IssuedAgentKey, description: "The key and its token." },
      errors: [
        StepUpErrors.step_up_required,
        ...tenantErrors,
        IdentityErrors.user_not_found,
        IdentityErrors.user_disabled,
        AccessErrors.membership_not_found,
        AccessErrors.access_changed,
      ],
      secretFields: ["token"],
      handler: ({ ctx, params, body }) => s.agentKeys.createAgentKey(ctx, params.tenantId, body),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/tenants/:tenantId/agent-keys",
      operationId: "listAgentKeys",
      summary: "List agent keys (a user sees their own)",
      tags: ["Agent keys"],
      auth: AUTH.tenant,
      params: tenantParams,
      query: ListQuery,
      response: { status: 200, schema: pageSchema(AgentKey), description: "A page of agent keys." },
      errors: tenantErrors,
      handler: ({ ctx, params, query }) => s.agentKeys.listAgentKeys(ctx, params.tenantId, query),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/tenants/:tenantId/agent-keys/:agentKeyId",
      operationId: "getAgentKey",
      summary: "Get an agent key",
      tags: ["Agent keys"],
      auth: AUTH.tenant,
      params: agentKeyParams,
      response: { status: 200, schema: AgentKey, description: "The agent key." },
      errors: [...tenantErrors, AccessErrors.agent_key_not_found],
      handler: ({ ctx, params }) => s.agentKeys.findAgentKeyById(ctx, params.tenantId, params.agentKeyId),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/tenants/:tenantId/agent-keys/:agentKeyId/revoke",
      operationId: "revokeAgentKey",
      summary: "Revoke an agent key",
      tags: ["Agent keys"],
      auth: AUTH.tenant,
      params: agentKeyParams,
      response: { status: 200, schema: AgentKey, description: "The agent key." },
      errors: [...tenantErrors, AccessErrors.agent_key_not_found, AccessErrors.access_changed],
      handler: ({ ctx, params }) => s.agentKeys.revokeAgentKey(ctx, params.tenantId, params.agentKeyId),
    }),
  ];
}
