import { afterAll, beforeAll, expect, it } from "vitest";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import type { AuditEntryRecord } from "./format.js";

// Tenant admins read their own tenant's chain only, through real tenant-bound credentials: tenant
// keys (bp_tk_), agent keys (bp_ak_, with the delegation chain) and member sessions. Another
// tenant's chain, or the environment's, answers 404 / stays out of sight (TEN-01/TEN-02).

// biome-ignore lint/suspicious/noExplicitAny: response bodies of many shapes, checked field by field.
type Json = any;

describeEachEngine("audit for tenants", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let acme: string;
  let globex: string;
  let tenantKey: string;
  let tenantKeyId: string;
  let agentKey: string;
  let agentKeyId: string;
  const users = {} as Record<"admin" | "member" | "stranger", { id: string; session: string }>;

  const call = async (token: string | null, method: string, url: string, body?: unknown) => {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return { status: res.statusCode, text: res.body, json: (): Json => JSON.parse(res.body) };
  };
  const key = (method: string, url: string, body?: unknown) => call(p.a.secretKey, method, url, body);
  const ok = async (res: Promise<{ status: number; text: string; json: () => Json }>, status = 200) => {
    const r = await res;
    expect(r.status, r.text).toBe(status);
    return r.json();
  };

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
    acme = (await ok(key("POST", "/v1/tenants", { name: "Acme" }), 201)).id;
    globex = (await ok(key("POST", "/v1/tenants", { name: "Globex" }), 201)).id;
    for (const name of ["admin", "member", "stranger"] as const) {
      const email = `${name}@example.com`;
      const user = await ok(key("POST", "/v1/users", { email, password: TEST_PASSWORD }), 201);
      const login = await ok(
        call(null, "POST", "/v1/auth/login", { surfaceId: p.a.surfaceId, email, password: TEST_PASSWORD }),
        201,
      );
      users[name] = { id: user.id, session: login.token };
    }
    await ok(key("POST", `/v1/tenants/${acme}/members`, { userId: users.admin.id, roles: ["admin"] }), 201);
    await ok(key("POST", `/v1/tenants/${acme}/members`, { userId: users.member.id, roles: ["member"] }), 201);
    await ok(key("POST", `/v1/tenants/${globex}/members`, { userId: users.stranger.id, roles: ["owner"] }), 201);
    const tk = await ok(
      key("POST", `/v1/tenants/${acme}/keys`, {
        name: "acme backend",
        permissions: ["audit:read", "audit:write", "audit:export"],
      }),
      201,
    );
    tenantKey = tk.token;
    tenantKeyId = tk.id;
    const ak = await ok(
      call(users.admin.session, "POST", `/v1/tenants/${acme}/agent-keys`, {
        name: "Audit bot",
        model: "model-x",
        scopes: ["audit:write", "audit:read"],
      }),
      201,
    );
    agentKey = ak.token;
    agentKeyId = ak.id;
    // Some of Globex's and the environment's own activity, which Acme must never see.
    await ok(key("PATCH", `/v1/tenants/${globex}`, { name: "Globex secret rename" }));
    await ok(key("POST", "/v1/audit/entries", { action: "environment_thing.happened" }), 201);
  });
  afterAll(async () => t?.close());

  it("a tenant key reads its own tenant's chain only, whatever tenant it names (404)", async () => {
    const page = await ok(call(tenantKey, "GET", "/v1/audit/entries?limit=100"));
    expect(page.data.length).toBeGreaterThan(0);
    expect(page.data.every((e: AuditEntryRecord) => e.chain === acme && e.tenantId === acme)).toBe(true);
    expect(JSON.stringify(page)).not.toContain(globex);
    expect((await call(tenantKey, "GET", `/v1/audit/entries?tenantId=${globex}`)).status).toBe(404);
    expect((await call(tenantKey, "GET", `/v1/tenants/${globex}/audit/entries`)).status).toBe(404);
    expect((await call(tenantKey, "GET", `/v1/audit/export?tenantId=${globex}`)).status).toBe(404);
    const exported = await call(tenantKey, "GET", "/v1/audit/export");
    expect(exported.status).toBe(200);
    expect(JSON.parse(exported.text.split("\n")[0] as string)).toMatchObject({ chain: acme, tenantId: acme });
    expect(exported.text).not.toContain("environment_thing.happened");
  });

  it("a tenant key's product entry lands in its tenant's chain with the key as actor; forged actors are refused", async () => {
    const entry = await ok(
      call(tenantKey, "POST", "/v1/audit/entries", {
        action: "report.downloaded",
        targets: [{ type: "report", id: "r1" }],
      }),
      201,
    );
    expect(entry).toMatchObject({ chain: acme, tenantId: acme, actor: { type: "tenant_key", id: tenantKeyId } });
    const forged = await call(tenantKey, "POST", "/v1/audit/entries", {
      action: "report.downloaded",
      actor: { type: "service", id: p.a.secretKeyId },
      actorId: "usr_someone",
    });
    expect(forged.status).toBe(400);
    // It cannot write into another tenant's chain.
    expect(
      (await call(tenantKey, "POST", "/v1/audit/entries", { action: "x.happened", tenantId: globex })).status,
    ).toBe(404);
  });

  it("an agent's entries record the delegation chain (agent → user) and its model", async () => {
    const entry = await ok(call(agentKey, "POST", "/v1/audit/entries", { action: "ticket.triaged" }), 201);
    expect(entry.actor).toMatchObject({
      type: "agent",
      id: agentKeyId,
      model: "model-x",
      onBehalfOf: { type: "user", id: users.admin.id },
    });
    expect(entry.chain).toBe(acme);
  });

  it("a member session reads through the tenant routes with audit:read; without it 403; strangers 404", async () => {
    const page = await ok(call(users.admin.session, "GET", `/v1/tenants/${acme}/audit/entries?action=report.*`));
    expect(page.data.map((e: AuditEntryRecord) => e.action)).toEqual(["report.downloaded"]);
    const exported = await call(users.admin.session, "GET", `/v1/tenants/${acme}/audit/export?format=csv`);
    expect(exported.status).toBe(200);
    expect((await call(users.member.session, "GET", `/v1/tenants/${acme}/audit/entries`)).status).toBe(403);
    expect((await call(users.stranger.session, "GET", `/v1/tenants/${acme}/audit/entries`)).status).toBe(404);
    expect((await call(users.stranger.session, "GET", `/v1/tenants/${acme}/audit/export`)).status).toBe(404);
    // Sessions use the tenant routes; the environment ones are not for them.
    expect((await call(users.admin.session, "GET", "/v1/audit/entries")).status).toBe(403);
  });

  it("tenant credentials cannot change the environment's audit settings", async () => {
    expect((await call(tenantKey, "PATCH", "/v1/audit/settings", { retentionDays: 30 })).status).toBe(403);
    expect((await call(tenantKey, "GET", "/v1/audit/settings")).status).toBe(403);
  });

  it("the tenant's chain verifies after all of it", async () => {
    await ok(key("POST", "/v1/audit/checkpoints", { tenantId: acme }), 201);
    const result = await ok(call(tenantKey, "GET", "/v1/audit/verify"));
    expect(result).toMatchObject({ ok: true, chain: acme, uncheckpointed: 0 });
  });
});
