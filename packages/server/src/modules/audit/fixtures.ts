import { defineModuleFixtures, expectJson, findIn } from "../../testing/isolation.js";

/**
 * The audit module's fixtures for the plane-wide suites: audit schemas (environment routes), the
 * bodies a schema cannot generate, and one successful call per mutating route with the facts it
 * must commit (or, for a product's own entries, the entries it writes).
 */
export const fixtures = defineModuleFixtures({
  module: "audit",
  params: {
    auditSchemaId: async (w, env) => {
      const action = `isolation_${w.unique()}.probed`;
      const body = await expectJson(
        await w.call(env.key, "POST", "/v1/audit/schemas", { body: { action, schema: { type: "object" } } }),
        200,
        "registering an audit schema",
      );
      const id = body.id as string;
      return { id, owner: env.key, read: () => findIn(w, env.key, "/v1/audit/schemas", id) };
    },
  },
  bodies: {
    // Audit actions are noun.past_verb, which no generated string is.
    "POST /v1/audit/entries": () => ({ action: "isolation.probed", targets: [{ type: "probe", id: "p1" }] }),
    "POST /v1/tenants/:tenantId/audit/entries": () => ({ action: "isolation.probed" }),
    "POST /v1/audit/schemas": () => ({ action: "isolation.probed", schema: { type: "object" } }),
    "POST /v1/audit/checkpoints": () => ({}),
  },
  facts: {
    "POST /v1/audit/entries": async (w) => ({
      caller: w.a.key,
      body: { action: "report.exported", targets: [{ type: "report", id: "rep_1" }], metadata: { rows: 3 } },
      expect: () => ({ types: [], productEntries: ["report.exported"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/tenants/:tenantId/audit/entries": async (w) => ({
      caller: w.a.key,
      ids: { tenantId: (await w.param("tenantId", w.a)).id },
      body: { action: "invoice.paid", targets: [{ type: "invoice", id: "inv_1" }] },
      expect: () => ({ types: [], productEntries: ["invoice.paid"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/audit/checkpoints": async (w) => ({
      caller: w.a.key,
      body: { tenantId: (await w.param("tenantId", w.a)).id },
      expect: () => ({ types: ["audit_checkpoint.created"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/audit/schemas": async (w) => ({
      caller: w.a.key,
      body: { action: `facts_${w.unique()}.recorded`, schema: { type: "object", required: ["id"] } },
      expect: () => ({ types: ["audit_schema.created"], environmentId: w.a.environmentId }),
    }),
    "DELETE /v1/audit/schemas/:auditSchemaId": async (w) => ({
      caller: w.a.key,
      ids: { auditSchemaId: (await w.param("auditSchemaId", w.a)).id },
      expect: () => ({ types: ["audit_schema.deleted"], environmentId: w.a.environmentId }),
    }),
    "PATCH /v1/audit/settings": async (w) => ({
      caller: w.a.key,
      body: { retentionDays: 365 },
      expect: () => ({ types: ["audit_settings.updated"], environmentId: w.a.environmentId }),
    }),
    // The signing-key rotation is the plane's: the admin operator.
    "POST /v1/operator/audit/signing-keys/rotate": async (w) => ({
      caller: w.admin,
      expect: () => ({ types: ["audit_signing_key.rotated"], environmentId: null }),
    }),
  },
});
