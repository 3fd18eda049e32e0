import {
  created,
  defineModuleFixtures,
  type EnvActors,
  expectJson,
  type IsolationWorld,
  readBack,
} from "../../testing/isolation.js";

/**
 * The access module's fixtures for the plane-wide suites: roles, memberships, invitations, tenant
 * keys and agent keys (environment routes; tenant-owned ones live in a fresh tenant unless the
 * caller passes one), the bodies a schema cannot generate, and one successful call per mutating
 * route with the facts it must commit.
 */
export const fixtures = defineModuleFixtures({
  module: "access",
  params: {
    roleKey: async (w, env) => {
      const key = `r${w.unique()}`;
      await created(
        await w.call(env.key, "POST", "/v1/roles", {
          body: { key, name: `Role ${env.marker}`, permissions: ["members:read", `reports_${env.marker}:read`] },
        }),
        "creating a role",
      );
      return { id: key, owner: env.key, read: () => readBack(w, env.key, `/v1/roles/${key}`) };
    },
    membershipId: async (w, env, parents) => {
      const tenant = parents.tenantId ?? (await w.param("tenantId", env));
      const user = await w.param("userId", env);
      const body = await created(
        await w.call(env.key, "POST", `/v1/tenants/${tenant.id}/members`, {
          body: { userId: user.id, roles: ["member"] },
        }),
        "adding a member",
      );
      const id = body.id as string;
      return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/tenants/${tenant.id}/members/${id}`) };
    },
    invitationId: async (w, env, parents) => {
      const tenant = parents.tenantId ?? (await w.param("tenantId", env));
      const body = await created(
        await w.call(env.key, "POST", `/v1/tenants/${tenant.id}/invitations`, {
          body: { email: `invitee-${w.unique()}@${env.marker}.example.com`, roles: ["member"] },
        }),
        "inviting",
      );
      const id = (body as { id: string }).id;
      return {
        id,
        owner: env.key,
        read: () => readBack(w, env.key, `/v1/tenants/${tenant.id}/invitations?limit=100`),
      };
    },
    keyId: async (w, env, parents) => {
      const tenant = parents.tenantId ?? (await w.param("tenantId", env));
      const body = await created(
        await w.call(env.key, "POST", `/v1/tenants/${tenant.id}/keys`, {
          body: { name: `key ${env.marker}`, permissions: ["members:read"] },
        }),
        "creating a tenant key",
      );
      const id = (body as { id: string }).id;
      return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/tenants/${tenant.id}/keys/${id}`) };
    },
    agentKeyId: async (w, env, parents) => {
      const tenant = parents.tenantId ?? (await w.param("tenantId", env));
      const userId = await memberOf(w, env, tenant.id);
      const body = await created(
        await w.call(env.key, "POST", `/v1/tenants/${tenant.id}/agent-keys`, {
          body: { name: `agent ${env.marker}`, scopes: ["members:read"], userId },
        }),
        "creating an agent key",
      );
      const id = (body as { id: string }).id;
      return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/tenants/${tenant.id}/agent-keys/${id}`) };
    },
  },
  bodies: {
    "POST /v1/roles": (w) => ({ key: `r${w.unique()}`, name: "Fixture role", permissions: ["members:read"] }),
    "PATCH /v1/roles/:roleKey": () => ({ name: "Renamed role", permissions: ["members:*"] }),
    // A user of A (the only environment whose tenants the positive control reaches).
    "POST /v1/tenants/:tenantId/members": async (w) => ({
      userId: (await w.param("userId", w.a)).id,
      roles: ["member"],
    }),
    "PATCH /v1/tenants/:tenantId/members/:membershipId": () => ({ roles: ["admin"] }),
    "POST /v1/tenants/:tenantId/invitations": (w) => ({
      email: `invitee-${w.unique()}@example.com`,
      roles: ["member"],
    }),
    "POST /v1/tenants/:tenantId/keys": () => ({ name: "fixture key", permissions: ["members:read"] }),
    "POST /v1/tenants/:tenantId/agent-keys": async (w, ids) => ({
      name: "fixture agent",
      scopes: ["members:read"],
      userId: ids.tenantId ? await memberOf(w, w.a, ids.tenantId) : w.a.user.actorId,
    }),
    "POST /v1/access/check": (w) => ({
      subject: { type: "user", id: w.a.user.actorId },
      tenantId: w.a.tenantId,
      permission: "members:read",
    }),
    "POST /v1/access/explain": (w) => ({
      subject: { type: "user", id: w.a.user.actorId },
      tenantId: w.a.tenantId,
      permission: "members:read",
    }),
    "POST /v1/access/check-batch": (w) => ({
      checks: [{ subject: { type: "user", id: w.a.user.actorId }, tenantId: w.a.tenantId, permission: "members:read" }],
    }),
  },
  facts: {
    // Roles (secret key)
    "POST /v1/roles": async (w) => ({
      caller: w.a.key,
      body: { key: `r${w.unique()}`, name: "Auditor", permissions: ["audit:read"] },
      expect: () => ({ types: ["role.created"], environmentId: w.a.environmentId }),
    }),
    "PATCH /v1/roles/:roleKey": async (w) => ({
      caller: w.a.key,
      ids: { roleKey: (await w.param("roleKey", w.a)).id },
      body: { permissions: ["audit:*"] },
      expect: () => ({ types: ["role.updated"], environmentId: w.a.environmentId }),
    }),
    "DELETE /v1/roles/:roleKey": async (w) => ({
      caller: w.a.key,
      ids: { roleKey: (await w.param("roleKey", w.a)).id },
      expect: () => ({ types: ["role.deleted"], environmentId: w.a.environmentId }),
    }),

    // Memberships and invitations: the home tenant's owner, tenant key and agent act.
    "POST /v1/tenants/:tenantId/members": async (w) => ({
      caller: w.a.user,
      ids: { tenantId: w.a.tenantId },
      body: { userId: (await w.param("userId", w.a)).id, roles: ["member"] },
      expect: () => ({ types: ["membership.created"], environmentId: w.a.environmentId }),
    }),
    "PATCH /v1/tenants/:tenantId/members/:membershipId": async (w) => ({
      caller: w.a.tenantKey,
      ids: { tenantId: w.a.tenantId, membershipId: (await inHomeTenant(w, "membershipId")).id },
      body: { roles: ["admin"] },
      expect: () => ({ types: ["membership.updated"], environmentId: w.a.environmentId }),
    }),
    "DELETE /v1/tenants/:tenantId/members/:membershipId": async (w) => ({
      caller: w.a.agent,
      ids: { tenantId: w.a.tenantId, membershipId: (await inHomeTenant(w, "membershipId")).id },
      expect: () => ({ types: ["membership.deleted"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/tenants/:tenantId/invitations": async (w) => ({
      caller: w.a.agent,
      ids: { tenantId: w.a.tenantId },
      body: { email: `facts-${w.unique()}@example.com`, roles: ["member"] },
      expect: () => ({ types: ["invitation.created"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/tenants/:tenantId/invitations/:invitationId/revoke": async (w) => ({
      caller: w.a.user,
      ids: { tenantId: w.a.tenantId, invitationId: (await inHomeTenant(w, "invitationId")).id },
      expect: () => ({ types: ["invitation.revoked"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/invitations/accept": async (w) => {
      const email = `accept-${w.unique()}@example.com`;
      const invited = await created(
        await w.call(w.a.key, "POST", `/v1/tenants/${w.a.tenantId}/invitations`, {
          body: { email, roles: ["member"] },
        }),
        "invitation",
      );
      return {
        caller: null,
        body: { token: invited.token, password: "a long and fine passphrase" },
        expect: (res) => ({
          types: ["user.signed_up", "invitation.accepted", "membership.created"],
          actorId: (res.membership as { userId: string }).userId,
          environmentId: w.a.environmentId,
        }),
      };
    },

    // Tenant keys and agent keys
    "POST /v1/tenants/:tenantId/keys": async (w) => ({
      caller: w.a.user,
      ids: { tenantId: w.a.tenantId },
      body: { name: "partner", permissions: ["members:read"] },
      expect: () => ({ types: ["tenant_key.created"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/tenants/:tenantId/keys/:keyId/revoke": async (w) => ({
      caller: w.a.user,
      ids: { tenantId: w.a.tenantId, keyId: (await inHomeTenant(w, "keyId")).id },
      expect: () => ({ types: ["tenant_key.revoked"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/tenants/:tenantId/keys/:keyId/rotate": async (w) => ({
      caller: w.a.key,
      ids: { tenantId: w.a.tenantId, keyId: (await inHomeTenant(w, "keyId")).id },
      body: { gracePeriodSeconds: 60 },
      expect: () => ({ types: ["tenant_key.rotated"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/tenants/:tenantId/agent-keys": async (w) => ({
      caller: w.a.user,
      ids: { tenantId: w.a.tenantId },
      body: { name: "Research agent", model: "model-1", scopes: ["members:read"] },
      expect: () => ({ types: ["agent_key.created"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/tenants/:tenantId/agent-keys/:agentKeyId/revoke": async (w) => ({
      caller: w.a.key,
      ids: { tenantId: w.a.tenantId, agentKeyId: (await inHomeTenant(w, "agentKeyId")).id },
      expect: () => ({ types: ["agent_key.revoked"], environmentId: w.a.environmentId }),
    }),
  },
});

/** memberOf creates a user of `env` and makes it a member of the tenant; returns its id. */
async function memberOf(w: IsolationWorld, env: EnvActors, tenantId: string, roles = ["member"]): Promise<string> {
  const user = await w.param("userId", env);
  await expectJson(
    await w.call(env.key, "POST", `/v1/tenants/${tenantId}/members`, { body: { userId: user.id, roles } }),
    201,
    "adding a member",
  );
  return user.id;
}

/** inHomeTenant creates the object `param` names in A's home tenant (where A's owner, key and agent act). */
function inHomeTenant(w: IsolationWorld, param: string) {
  return w.param(param, w.a, { tenantId: { id: w.a.tenantId, owner: w.a.key } });
}
