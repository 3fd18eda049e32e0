import {
  created,
  defineModuleFixtures,
  type EnvActors,
  expectJson,
  findIn,
  type IsolationWorld,
  readBack,
} from "../../testing/isolation.js";

/**
 * The usage module's fixtures for the plane-wide suites: meters (environment configuration),
 * entitlements and holds (in a fresh tenant, so the home tenant's credentials are refused there),
 * the bodies a schema cannot generate, and one successful call per mutating route with its facts.
 */
export const fixtures = defineModuleFixtures({
  module: "usage",
  params: {
    meterId: async (w, env) => {
      const meter = await meterIn(w, env);
      return { id: meter, owner: env.key, read: () => readBack(w, env.key, `/v1/usage/meters/${meter}`) };
    },
    entitlementId: async (w, env, parents) => {
      const tenant = parents.tenantId ?? (await w.param("tenantId", env));
      const body = await expectJson(
        await w.call(env.key, "POST", `/v1/tenants/${tenant.id}/entitlements`, {
          body: { feature: `f${w.unique()}` },
        }),
        200,
        "setting an entitlement",
      );
      const id = body.id as string;
      return { id, owner: env.key, read: () => findIn(w, env.key, `/v1/tenants/${tenant.id}/entitlements`, id) };
    },
    holdId: async (w, env) => {
      const tenant = await w.param("tenantId", env);
      const id = await holdIn(w, env, tenant.id);
      // And one in the home tenant, its feature named with the marker: what the home tenant's keys
      // see listing holds (`GET /v1/usage/holds`), and B's must never.
      await holdIn(w, env, env.tenantId, `${env.marker.toLowerCase()}${w.unique()}`);
      return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/usage/holds/${id}`) };
    },
  },
  bodies: {
    "POST /v1/usage/meters": (w) => ({ key: `m${w.unique()}`, eventType: "iso.used", aggregation: "count" }),
    "PATCH /v1/usage/meters/:meterId": () => ({ description: "Changed" }),
    "POST /v1/usage/events": (w) => ({ id: `iso-${w.unique()}`, type: "iso.used", data: {} }),
    "POST /v1/usage/events/batch": (w) => ({ events: [{ id: `iso-${w.unique()}`, type: "iso.used", data: {} }] }),
    "POST /v1/tenants/:tenantId/entitlements": (w) => ({ feature: `f${w.unique()}` }),
    "POST /v1/entitlements/check": () => ({ feature: "iso" }),
    "POST /v1/usage/holds": () => ({ feature: "iso", amount: 1 }),
    "POST /v1/usage/holds/:holdId/commit": () => ({ amount: 1 }),
  },
  facts: {
    "POST /v1/usage/meters": async (w) => ({
      caller: w.a.key,
      body: { key: `facts_${w.unique()}`, eventType: "facts.used", aggregation: "sum", valuePath: "n" },
      expect: () => ({ types: ["usage_meter.created"], environmentId: w.a.environmentId }),
    }),
    "PATCH /v1/usage/meters/:meterId": async (w) => ({
      caller: w.a.key,
      ids: { meterId: (await w.param("meterId", w.a)).id },
      body: { description: "Tokens of every model" },
      expect: () => ({ types: ["usage_meter.updated"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/usage/meters/:meterId/archive": async (w) => ({
      caller: w.a.key,
      ids: { meterId: (await w.param("meterId", w.a)).id },
      expect: () => ({ types: ["usage_meter.archived"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/tenants/:tenantId/entitlements": async (w) => ({
      caller: w.a.key,
      ids: { tenantId: (await w.param("tenantId", w.a)).id },
      body: { feature: "sso" },
      expect: () => ({ types: ["entitlement.set"], environmentId: w.a.environmentId }),
    }),
    "DELETE /v1/tenants/:tenantId/entitlements/:entitlementId": async (w) => {
      const tenant = await w.param("tenantId", w.a);
      const entitlement = await w.param("entitlementId", w.a, { tenantId: tenant });
      return {
        caller: w.a.key,
        ids: { tenantId: tenant.id, entitlementId: entitlement.id },
        expect: () => ({ types: ["entitlement.removed"], environmentId: w.a.environmentId }),
      };
    },
    // Holds: the home tenant's agent reserves, its tenant key commits, the secret key releases.
    "POST /v1/usage/holds": async (w) => {
      const feature = await meteredFeature(w, w.a, w.a.tenantId);
      return {
        caller: w.a.agent,
        body: { feature, amount: 5 },
        expect: () => ({ types: ["usage_hold.reserved"], environmentId: w.a.environmentId }),
      };
    },
    "POST /v1/usage/holds/:holdId/commit": async (w) => ({
      caller: w.a.tenantKey,
      ids: { holdId: await holdIn(w, w.a, w.a.tenantId) },
      body: { amount: 3 },
      expect: () => ({ types: ["usage_hold.committed"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/usage/holds/:holdId/release": async (w) => ({
      caller: w.a.key,
      ids: { holdId: await holdIn(w, w.a, w.a.tenantId) },
      expect: () => ({ types: ["usage_hold.released"], environmentId: w.a.environmentId }),
    }),
  },
  factExclusions: {
    "POST /v1/usage/events":
      "usage events are not facts: the stored event (with its reporting credential) is the record; see docs/usage.md",
    "POST /v1/usage/events/batch":
      "usage events are not facts: the stored events (with their reporting credential) are the record; see docs/usage.md",
    "POST /v1/entitlements/check": "a read: it changes nothing",
  },
});

/** meterIn creates a count meter in the environment and returns its id. */
async function meterIn(w: IsolationWorld, env: EnvActors): Promise<string> {
  const body = await created(
    await w.call(env.key, "POST", "/v1/usage/meters", {
      body: { key: `m${w.unique()}`, eventType: `iso.${env.marker}`, aggregation: "count", description: env.marker },
    }),
    "creating a meter",
  );
  return body.id as string;
}

/** meteredFeature gives `tenantId` a metered entitlement on a new `sum` meter and returns the feature. */
async function meteredFeature(
  w: IsolationWorld,
  env: EnvActors,
  tenantId: string,
  feature = `feature${w.unique()}`,
): Promise<string> {
  const n = w.unique();
  await created(
    await w.call(env.key, "POST", "/v1/usage/meters", {
      body: { key: `cost${n}`, eventType: `cost.${n}`, aggregation: "sum", valuePath: "amount" },
    }),
    "creating a sum meter",
  );
  await expectJson(
    await w.call(env.key, "POST", `/v1/tenants/${tenantId}/entitlements`, {
      body: { feature, meter: `cost${n}`, limit: 1000, period: "month" },
    }),
    200,
    "setting a metered entitlement",
  );
  return feature;
}

/** holdIn reserves an amount for `tenantId` and returns the hold's id. */
async function holdIn(w: IsolationWorld, env: EnvActors, tenantId: string, name?: string): Promise<string> {
  const feature = await meteredFeature(w, env, tenantId, name);
  const body = await created(
    await w.call(env.key, "POST", "/v1/usage/holds", { body: { tenantId, feature, amount: 10 } }),
    "reserving",
  );
  return body.id as string;
}
