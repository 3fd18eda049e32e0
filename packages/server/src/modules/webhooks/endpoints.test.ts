import { afterAll, beforeAll, expect, it } from "vitest";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";

// A missing field is a 400 that names it (DESIGN.md §7): a user acts within a tenant, so a session
// that creates or lists endpoints without naming one is told to name `tenantId`, and nothing is
// created. (The input sweep checks the same on every route that lets sessions in.)

type Json = Record<string, unknown>;

describeEachEngine("webhook endpoints: a session names its tenant", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let session: string;
  let tenantId: string;

  async function call(token: string, method: string, url: string, body?: unknown) {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return { status: res.statusCode, type: String(res.headers["content-type"]), body: res.json() as Json };
  }

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
    tenantId = (await call(p.a.secretKey, "POST", "/v1/tenants", { name: "Acme" })).body.id as string;
    const user = await call(p.a.secretKey, "POST", "/v1/users", { email: "o@example.com", password: TEST_PASSWORD });
    await call(p.a.secretKey, "POST", `/v1/tenants/${tenantId}/members`, { userId: user.body.id, roles: ["owner"] });
    const login = await call("", "POST", "/v1/auth/login", {
      surfaceId: p.a.surfaceId,
      email: "o@example.com",
      password: TEST_PASSWORD,
    });
    session = login.body.token as string;
  });
  afterAll(async () => t?.close());

  it("creating an endpoint without tenantId answers 400 naming body.tenantId, and creates nothing", async () => {
    const res = await call(session, "POST", "/v1/webhooks/endpoints", { url: "https://hooks.example.com/in" });
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.type).toContain("application/problem+json");
    expect(res.body.code).toBe("validation_failed");
    expect(res.body.errors).toEqual([expect.objectContaining({ path: "body.tenantId" })]);
    const list = await call(p.a.secretKey, "GET", "/v1/webhooks/endpoints");
    expect(list.body.data).toEqual([]);

    const named = await call(session, "POST", "/v1/webhooks/endpoints", {
      url: "https://hooks.example.com/in",
      tenantId,
    });
    expect(named.status, JSON.stringify(named.body)).toBe(201);
  });

  it("listing endpoints without tenantId answers 400 naming query.tenantId", async () => {
    const res = await call(session, "GET", "/v1/webhooks/endpoints");
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([expect.objectContaining({ path: "query.tenantId" })]);
    expect((await call(session, "GET", `/v1/webhooks/endpoints?tenantId=${tenantId}`)).status).toBe(200);
  });
});
