import { defineModuleFixtures, expectJson } from "../../testing/isolation.js";

/**
 * The ratelimits module's fixtures: its routes take the tenancy module's `tenantId`; the facts
 * sweep sets and clears a tenant's own limits with the environment's secret key.
 */
export const fixtures = defineModuleFixtures({
  module: "ratelimits",
  facts: {
    "PUT /v1/tenants/:tenantId/rate-limits": async (w) => ({
      caller: w.a.key,
      ids: { tenantId: (await w.param("tenantId", w.a)).id },
      body: { tenant: { write: { limit: 100, windowSeconds: 60 } } },
      expect: () => ({ types: ["tenant_rate_limits.set"], environmentId: w.a.environmentId }),
    }),
    "DELETE /v1/tenants/:tenantId/rate-limits": async (w) => {
      const tenantId = (await w.param("tenantId", w.a)).id;
      await expectJson(
        await w.call(w.a.key, "PUT", `/v1/tenants/${tenantId}/rate-limits`, {
          body: { credential: { read: { limit: 10, windowSeconds: 1 } } },
        }),
        200,
        "setting the tenant's limits",
      );
      return {
        caller: w.a.key,
        ids: { tenantId },
        expect: () => ({ types: ["tenant_rate_limits.cleared"], environmentId: w.a.environmentId }),
      };
    },
  },
});
