import {
  created,
  defineModuleFixtures,
  type EnvActors,
  type EnvUser,
  expectJson,
  type IsolationWorld,
  readBack,
} from "../../testing/isolation.js";

const REASON = "Looking into a customer report (isolation)";

/**
 * The support module's fixtures for the plane-wide suites. A support access is asked for by the
 * admin operator acting in the environment. On the tenant's routes (a `tenantId` parent) it is a
 * pending request (asked while the tenant required approval), owned by a fresh member who holds
 * the owner role (so the home tenant's credentials are strangers there); on the environment's
 * routes it is an active access owned by the secret key.
 */
export const fixtures = defineModuleFixtures({
  module: "support",
  params: {
    supportAccessId: async (w, env, parents) => {
      if (parents.tenantId) {
        const tenantId = parents.tenantId.id;
        const owner = await ownerOf(w, env, tenantId);
        await expectJson(
          await w.call(env.key, "PUT", `/v1/tenants/${tenantId}/support-policy`, {
            body: { mode: "approval_required" },
          }),
          200,
          "requiring approval",
        );
        const id = await ask(w, env, tenantId);
        // Back to `notify`: an operator's later request in this tenant is granted at once.
        await expectJson(
          await w.call(env.key, "PUT", `/v1/tenants/${tenantId}/support-policy`, { body: { mode: "notify" } }),
          200,
          "notifying again",
        );
        return { id, owner, read: () => readBack(w, env.key, `/v1/support-access/${id}`) };
      }
      const tenantId = (await w.param("tenantId", env)).id;
      const id = await ask(w, env, tenantId);
      return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/support-access/${id}`) };
    },
  },
  bodies: {
    "POST /v1/support-access": () => ({ tenantId: "ten_00000000000000000000000000", reason: REASON }),
  },
  facts: {
    "POST /v1/support-access": async (w) => ({
      caller: w.a.operator,
      body: { tenantId: (await w.param("tenantId", w.a)).id, reason: REASON },
      expect: () => ({
        types: ["support_access.requested", "support_access.approved"],
        environmentId: w.a.environmentId,
      }),
    }),
    "POST /v1/support-access/:supportAccessId/end": async (w) => ({
      caller: w.a.key,
      ids: { supportAccessId: (await w.param("supportAccessId", w.a)).id },
      expect: () => ({ types: ["support_access.ended"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/tenants/:tenantId/support-access/:supportAccessId/approve": async (w) => {
      const tenant = await w.param("tenantId", w.a);
      const grant = await w.param("supportAccessId", w.a, { tenantId: tenant });
      return {
        caller: grant.owner,
        ids: { tenantId: tenant.id, supportAccessId: grant.id },
        body: { note: "Fine" },
        expect: () => ({ types: ["support_access.approved"], environmentId: w.a.environmentId }),
      };
    },
    "POST /v1/tenants/:tenantId/support-access/:supportAccessId/deny": async (w) => {
      const tenant = await w.param("tenantId", w.a);
      const grant = await w.param("supportAccessId", w.a, { tenantId: tenant });
      return {
        caller: grant.owner,
        ids: { tenantId: tenant.id, supportAccessId: grant.id },
        body: { note: "Not now" },
        expect: () => ({ types: ["support_access.denied"], environmentId: w.a.environmentId }),
      };
    },
    "POST /v1/tenants/:tenantId/support-access/:supportAccessId/revoke": async (w) => {
      const tenant = await w.param("tenantId", w.a);
      const grant = await w.param("supportAccessId", w.a, { tenantId: tenant });
      return {
        caller: w.a.key,
        ids: { tenantId: tenant.id, supportAccessId: grant.id },
        body: {},
        expect: () => ({ types: ["support_access.revoked"], environmentId: w.a.environmentId }),
      };
    },
    "PUT /v1/tenants/:tenantId/support-policy": async (w) => ({
      caller: w.a.key,
      ids: { tenantId: (await w.param("tenantId", w.a)).id },
      body: { mode: "approval_required" },
      expect: () => ({ types: ["support_policy.updated"], environmentId: w.a.environmentId }),
    }),
  },
});

async function ask(w: IsolationWorld, env: EnvActors, tenantId: string): Promise<string> {
  const body = await created(
    await w.call(env.operator, "POST", "/v1/support-access", { body: { tenantId, reason: REASON } }),
    "asking for support access",
  );
  return body.id as string;
}

/** OWNERS: one owner user per environment of a world, made once (signing up costs a password hash). */
const OWNERS = new WeakMap<EnvActors, Promise<EnvUser>>();

/**
 * ownerOf makes the environment's owner user (not the home tenant's user: a stranger to the home
 * tenant's credentials) an owner of the tenant, a member who approves.
 */
async function ownerOf(w: IsolationWorld, env: EnvActors, tenantId: string) {
  let made = OWNERS.get(env);
  if (!made) {
    made = w.newUser(env, "owner");
    OWNERS.set(env, made);
  }
  const user = await made;
  await expectJson(
    await w.call(env.key, "POST", `/v1/tenants/${tenantId}/members`, {
      body: { userId: user.actorId, roles: ["owner"] },
    }),
    201,
    "adding the tenant's owner",
  );
  return user;
}
