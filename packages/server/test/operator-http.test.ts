import { afterAll, beforeAll, expect, it } from "vitest";
import { type SeededPlane, seedPlane } from "../src/testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../src/testing/harness.js";

// Operators act over HTTP: an operator names the environment it acts in with the
// `Baseplate-Environment` header and then calls the environment's routes with its own role (admin:
// everything; support: reading), recorded in the audit log as itself. The plane's own chain has
// read routes of its own.
describeEachEngine("operators over HTTP", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
  });
  afterAll(async () => t?.close());

  const as = (token: string, environmentId?: string) => ({
    authorization: `Bearer ${token}`,
    ...(environmentId ? { "baseplate-environment": environmentId } : {}),
  });

  it("an admin operator runs a tenant's lifecycle in the environment it names, audited as itself", async () => {
    const admin = as(p.operatorToken, p.a.id);
    const created = await t.inject({ method: "POST", url: "/v1/tenants", headers: admin, payload: { name: "Acme" } });
    expect(created.statusCode, created.body).toBe(201);
    const tenantId = created.json().id as string;

    // Inside the tenant, an operator acts only under support access the tenant can see.
    const withoutAccess = await t.inject({
      method: "POST",
      url: `/v1/tenants/${tenantId}/keys`,
      headers: admin,
      payload: { name: "integration", permissions: ["tenants:read"], surfaceId: p.a.surfaceId },
    });
    expect(withoutAccess.statusCode, withoutAccess.body).toBe(403);
    expect(withoutAccess.json().code).toBe("support_access_required");
    const grant = await t.inject({
      method: "POST",
      url: "/v1/support-access",
      headers: admin,
      payload: { tenantId, reason: "Set up the customer's integration (ticket 4711)", access: "write" },
    });
    expect(grant.statusCode, grant.body).toBe(201);
    expect(grant.json()).toMatchObject({ status: "active", access: "write", policy: "notify" });
    const grantId = grant.json().id as string;

    // A tenant key issued by the operator names its surface (operators have none of their own).
    const noSurface = await t.inject({
      method: "POST",
      url: `/v1/tenants/${tenantId}/keys`,
      headers: admin,
      payload: { name: "integration", permissions: ["tenants:read"] },
    });
    expect(noSurface.statusCode, noSurface.body).toBe(400);
    const key = await t.inject({
      method: "POST",
      url: `/v1/tenants/${tenantId}/keys`,
      headers: admin,
      payload: { name: "integration", permissions: ["tenants:read", "audit:write"], surfaceId: p.a.surfaceId },
    });
    expect(key.statusCode, key.body).toBe(201);
    const tenantKey = key.json().token as string;

    const suspend = await t.inject({
      method: "POST",
      url: `/v1/tenants/${tenantId}/suspend`,
      headers: admin,
      payload: { reason: "Chargeback under review" },
    });
    expect(suspend.statusCode, suspend.body).toBe(200);
    const refused = await t.inject({
      method: "POST",
      url: "/v1/audit/entries",
      headers: as(tenantKey),
      payload: { action: "report.exported" },
    });
    expect(refused.statusCode, refused.body).toBe(403);
    expect(refused.json().code).toBe("tenant_suspended");
    const reactivate = await t.inject({
      method: "POST",
      url: `/v1/tenants/${tenantId}/reactivate`,
      headers: admin,
      payload: { reason: "Resolved" },
    });
    expect(reactivate.statusCode, reactivate.body).toBe(200);

    const entries = await t.inject({
      method: "GET",
      url: `/v1/audit/entries?tenantId=${tenantId}&order=oldest`,
      headers: admin,
    });
    expect(entries.statusCode, entries.body).toBe(200);
    const actions = (entries.json().data as Array<{ action: string; actor: { type: string; id: string } }>).filter(
      (e) => e.action.startsWith("tenant."),
    );
    expect(actions.map((e) => e.action)).toEqual(["tenant.created", "tenant.suspended", "tenant.reactivated"]);
    for (const e of actions) expect(e.actor).toMatchObject({ type: "operator", id: p.operatorId });
    // The key was made under the support access: the entry names the operator and the grant.
    const keyEntry = (
      entries.json().data as Array<{ action: string; actor: { type: string; id: string; onBehalfOf: unknown } }>
    ).find((e) => e.action === "tenant_key.created");
    expect(keyEntry?.actor).toMatchObject({
      type: "operator",
      id: p.operatorId,
      onBehalfOf: { type: "support_access", id: grantId, reason: "Set up the customer's integration (ticket 4711)" },
    });
  });

  it("a support operator reads in the environment and changes nothing", async () => {
    const support = as(p.supportToken, p.a.id);
    const list = await t.inject({ method: "GET", url: "/v1/tenants", headers: support });
    expect(list.statusCode, list.body).toBe(200);
    expect(list.json().data.length).toBeGreaterThan(0);
    const tenantId = list.json().data[0].id as string;
    for (const url of [`/v1/tenants/${tenantId}`, "/v1/audit/entries", "/v1/events", "/v1/webhooks/endpoints"]) {
      const read = await t.inject({ method: "GET", url, headers: support });
      expect(read.statusCode, `${url}: ${read.body}`).toBe(200);
    }
    const before = (await t.inject({ method: "GET", url: "/v1/tenants", headers: support })).json().data.length;
    const create = await t.inject({ method: "POST", url: "/v1/tenants", headers: support, payload: { name: "No" } });
    expect(create.statusCode, create.body).toBe(403);
    const suspend = await t.inject({
      method: "POST",
      url: `/v1/tenants/${tenantId}/suspend`,
      headers: support,
      payload: { reason: "no" },
    });
    expect(suspend.statusCode, suspend.body).toBe(403);
    const after = (await t.inject({ method: "GET", url: "/v1/tenants", headers: support })).json().data.length;
    expect(after).toBe(before);
  });

  it("an operator acts only in the environment it names: another's tenant answers 404", async () => {
    const created = await t.inject({
      method: "POST",
      url: "/v1/tenants",
      headers: as(p.a.secretKey),
      payload: { name: "Only in A" },
    });
    const tenantId = created.json().id as string;
    const inB = as(p.operatorToken, p.b.id);
    for (const [method, url, payload] of [
      ["GET", `/v1/tenants/${tenantId}`, undefined],
      ["POST", `/v1/tenants/${tenantId}/suspend`, { reason: "probe" }],
      ["GET", `/v1/tenants/${tenantId}/members`, undefined],
    ] as const) {
      const res = await t.inject({ method, url, headers: inB, ...(payload ? { payload } : {}) });
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(404);
    }
    const list = await t.inject({ method: "GET", url: "/v1/tenants?limit=100", headers: inB });
    expect(list.body).not.toContain(tenantId);
    const own = await t.inject({ method: "GET", url: `/v1/tenants/${tenantId}`, headers: as(p.operatorToken, p.a.id) });
    expect(own.statusCode).toBe(200);
    expect(own.json().state).toBe("active");
  });

  it("refuses a missing, malformed, unknown or archived environment, and another credential's", async () => {
    const noHeader = await t.inject({ method: "GET", url: "/v1/tenants", headers: as(p.operatorToken) });
    expect(noHeader.statusCode).toBe(403);
    expect(noHeader.json().detail).toContain("Baseplate-Environment");
    for (const value of ["prj_123", "env_", "env_../x", "env_abc,env_def"]) {
      const res = await t.inject({ method: "GET", url: "/v1/tenants", headers: as(p.operatorToken, value) });
      expect(res.statusCode, value).toBe(400);
      expect(res.json().errors[0].path).toBe("headers.baseplate-environment");
    }
    const unknown = await t.inject({
      method: "GET",
      url: "/v1/tenants",
      headers: as(p.operatorToken, "env_00000000000000000000000000"),
    });
    expect(unknown.statusCode).toBe(400);

    const env = await t.inject({
      method: "POST",
      url: `/v1/projects/${p.projectId}/environments`,
      headers: as(p.operatorToken),
      payload: { name: "Soon archived" },
    });
    expect(env.statusCode, env.body).toBe(201);
    const envId = env.json().id as string;
    expect(
      (await t.inject({ method: "GET", url: "/v1/tenants", headers: as(p.operatorToken, envId) })).statusCode,
    ).toBe(200);
    const archive = await t.inject({
      method: "POST",
      url: `/v1/environments/${envId}/archive`,
      headers: as(p.operatorToken),
    });
    expect(archive.statusCode, archive.body).toBe(200);
    const archived = await t.inject({ method: "GET", url: "/v1/tenants", headers: as(p.operatorToken, envId) });
    expect(archived.statusCode).toBe(400);

    // A secret key may repeat its own environment, never name another.
    expect((await t.inject({ method: "GET", url: "/v1/tenants", headers: as(p.a.secretKey, p.a.id) })).statusCode).toBe(
      200,
    );
    const other = await t.inject({ method: "GET", url: "/v1/tenants", headers: as(p.a.secretKey, p.b.id) });
    expect(other.statusCode).toBe(400);
  });

  it("reads, verifies and exports the plane's own audit chain", async () => {
    const admin = as(p.operatorToken);
    const entries = await t.inject({
      method: "GET",
      url: "/v1/operator/audit/entries?order=oldest&limit=100",
      headers: admin,
    });
    expect(entries.statusCode, entries.body).toBe(200);
    const page = entries.json() as { data: Array<{ action: string; chain: string }>; hasMore: boolean };
    const actions = page.data.map((e) => e.action);
    expect(actions).toContain("project.created");
    expect(actions).toContain("operator.created");
    expect(actions).not.toContain("tenant.created");
    const filtered = await t.inject({
      method: "GET",
      url: "/v1/operator/audit/entries?action=project.*",
      headers: admin,
    });
    expect(filtered.json().data.every((e: { action: string }) => e.action.startsWith("project."))).toBe(true);

    const verify = await t.inject({ method: "GET", url: "/v1/operator/audit/verify", headers: admin });
    expect(verify.statusCode, verify.body).toBe(200);
    expect(verify.json()).toMatchObject({ ok: true, environmentId: null, tenantId: null, errors: [] });
    expect(verify.json().entries).toBeGreaterThanOrEqual(page.data.length);

    const checkpoints = await t.inject({ method: "GET", url: "/v1/operator/audit/checkpoints", headers: admin });
    expect(checkpoints.statusCode, checkpoints.body).toBe(200);
    expect(checkpoints.json()).toMatchObject({ environmentId: null, tenantId: null, hasMore: false });

    const exported = await t.inject({ method: "GET", url: "/v1/operator/audit/export", headers: admin });
    expect(exported.statusCode).toBe(200);
    const lines = exported.body
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string });
    expect(lines[0]).toMatchObject({ type: "header", environmentId: null, tenantId: null });
    expect(lines.filter((l) => l.type === "entry").length).toBe(verify.json().entries);

    // Support reads and exports the chain; environment credentials may not read it.
    const support = as(p.supportToken);
    expect((await t.inject({ method: "GET", url: "/v1/operator/audit/entries", headers: support })).statusCode).toBe(
      200,
    );
    expect((await t.inject({ method: "GET", url: "/v1/operator/audit/export", headers: support })).statusCode).toBe(
      200,
    );
    expect(
      (await t.inject({ method: "GET", url: "/v1/operator/audit/entries", headers: as(p.a.secretKey) })).statusCode,
    ).toBe(403);
  });
});
