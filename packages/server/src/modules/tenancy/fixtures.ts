import { created, defineModuleFixtures, expectJson, readBack } from "../../testing/isolation.js";

/**
 * The tenancy module's fixtures for the plane-wide suites: tenants (environment routes), projects,
 * environments and surfaces (operator routes, throwaways of the admin), and one successful call per
 * mutating route with the facts it must commit.
 */
export const fixtures = defineModuleFixtures({
  module: "tenancy",
  params: {
    // A surface of the environment, for the routes its secret keys may call (sign-in settings,
    // mail templates); surfaces are created by the admin operator.
    surfaceId: async (w, env) => {
      const surface = await created(
        await w.call(w.admin, "POST", `/v1/environments/${env.environmentId}/surfaces`, {
          body: { name: `Surface ${env.marker} ${w.unique()}`, kind: "web" },
        }),
        "creating a surface",
      );
      const id = surface.id as string;
      return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/surfaces/${id}/auth-settings`) };
    },
    tenantId: async (w, env) => {
      const n = w.unique();
      const body = await created(
        await w.call(env.key, "POST", "/v1/tenants", {
          body: { name: `Tenant ${env.marker} ${n}`, externalId: `ext-${env.marker}-${n}`, metadata: { tier: "gold" } },
        }),
        "creating a tenant",
      );
      const id = body.id as string;
      return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/tenants/${id}`) };
    },
  },
  operatorParams: {
    projectId: async (w) =>
      (
        await created(
          await w.call(w.admin, "POST", "/v1/projects", { body: { name: `Scratch ${w.unique()}` } }),
          "creating a project",
        )
      ).id as string,
    environmentId: async (w) => (await w.scratchEnvironment()).environmentId,
    surfaceId: async (w) => (await w.scratchEnvironment()).surfaceId,
  },
  bodies: {
    "POST /v1/tenants/:tenantId/suspend": () => ({ reason: "fixture suspension" }),
    "POST /v1/tenants/:tenantId/deactivate": () => ({ reason: "fixture deactivation" }),
  },
  facts: {
    // Projects, environments, surfaces (admin operator)
    "POST /v1/projects": async (w) => ({
      caller: w.admin,
      body: { name: `Facts ${w.unique()}` },
      expect: () => ({ types: ["project.created"], environmentId: null }),
    }),
    "PATCH /v1/projects/:projectId": async (w) => ({
      caller: w.admin,
      ids: { projectId: await w.operatorParam("projectId") },
      body: { name: "Renamed" },
      expect: () => ({ types: ["project.updated"], environmentId: null }),
    }),
    "POST /v1/projects/:projectId/archive": async (w) => ({
      caller: w.admin,
      ids: { projectId: await w.operatorParam("projectId") },
      expect: () => ({ types: ["project.archived"], environmentId: null }),
    }),
    "POST /v1/projects/:projectId/environments": async (w) => ({
      caller: w.admin,
      ids: { projectId: await w.operatorParam("projectId") },
      body: { name: "Production" },
      expect: (env) => ({ types: ["environment.created"], environmentId: env.id as string }),
    }),
    "PATCH /v1/environments/:environmentId": async (w) => {
      const { environmentId } = await w.scratchEnvironment("web");
      return {
        caller: w.admin,
        ids: { environmentId },
        body: { name: "Renamed" },
        expect: () => ({ types: ["environment.updated"], environmentId }),
      };
    },
    "POST /v1/environments/:environmentId/archive": async (w) => {
      const { environmentId } = await w.scratchEnvironment("web");
      return {
        caller: w.admin,
        ids: { environmentId },
        expect: () => ({ types: ["environment.archived"], environmentId }),
      };
    },
    "POST /v1/environments/:environmentId/surfaces": async (w) => {
      const { environmentId } = await w.scratchEnvironment("web");
      return {
        caller: w.admin,
        ids: { environmentId },
        body: { name: "Agent", kind: "agent", scopeCeiling: ["tenants:read"] },
        expect: () => ({ types: ["surface.created"], environmentId }),
      };
    },
    "PATCH /v1/surfaces/:surfaceId": async (w) => {
      const { environmentId, surfaceId } = await w.scratchEnvironment("web");
      return {
        caller: w.admin,
        ids: { surfaceId },
        body: { allowedOrigins: ["https://app.example.com"], selfSignup: true },
        expect: () => ({ types: ["surface.updated"], environmentId }),
      };
    },
    "POST /v1/surfaces/:surfaceId/archive": async (w) => {
      const { environmentId, surfaceId } = await w.scratchEnvironment("web");
      return {
        caller: w.admin,
        ids: { surfaceId },
        expect: () => ({ types: ["surface.archived"], environmentId }),
      };
    },

    // Tenants and their lifecycle (secret key)
    "POST /v1/tenants": async (w) => ({
      caller: w.a.key,
      body: { name: `Facts ${w.unique()}`, externalId: `cus_${w.unique()}`, metadata: { plan: "gold" } },
      expect: () => ({ types: ["tenant.created"], environmentId: w.a.environmentId }),
    }),
    "PATCH /v1/tenants/:tenantId": async (w) => ({
      caller: w.a.key,
      ids: { tenantId: (await w.param("tenantId", w.a)).id },
      body: { name: "Renamed", metadata: { plan: "platinum" } },
      expect: () => ({ types: ["tenant.updated"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/tenants/:tenantId/suspend": async (w) => ({
      caller: w.a.key,
      ids: { tenantId: (await w.param("tenantId", w.a)).id },
      body: { reason: "fraud review", category: "other" },
      expect: () => ({ types: ["tenant.suspended"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/tenants/:tenantId/reactivate": async (w) => {
      const tenantId = (await w.param("tenantId", w.a)).id;
      await expectJson(
        await w.call(w.a.key, "POST", `/v1/tenants/${tenantId}/suspend`, { body: { reason: "x" } }),
        200,
        "suspend",
      );
      return {
        caller: w.a.key,
        ids: { tenantId },
        body: { reason: "cleared" },
        expect: () => ({ types: ["tenant.reactivated"], environmentId: w.a.environmentId }),
      };
    },
    "POST /v1/tenants/:tenantId/deactivate": async (w) => ({
      caller: w.a.key,
      ids: { tenantId: (await w.param("tenantId", w.a)).id },
      body: { reason: "churned" },
      expect: () => ({ types: ["tenant.deactivated"], environmentId: w.a.environmentId }),
    }),
  },
});
