import { afterAll, beforeAll, expect, it } from "vitest";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";

// Plan versions are kept by the process once read (they never change): a version kept for one
// environment is still another environment's 404, and a new version is read, not an old one served.

describeEachEngine("billing plan versions read once", (engine) => {
  let t: TestApp;
  let p: SeededPlane;

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  async function call(key: string, method: string, url: string, body?: unknown) {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: { authorization: `Bearer ${key}` },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return { status: res.statusCode, body: res.json() as Record<string, unknown> };
  }
  const plan = (key: string, name: string, fixedFee: string) =>
    call(key, "POST", "/v1/billing/plans", { key: name, name, interval: "month", currency: "USD", fixedFee });

  it("a version kept for one environment answers 404 in another", async () => {
    const a = p.a.secretKey;
    const b = p.b.secretKey;
    const pro = await plan(a, "pro", "20.00");
    expect(pro.status).toBe(201);
    const versionA = (pro.body.currentVersion as Record<string, unknown>).id as string;
    // Environment A reads its version (now kept by the process).
    expect((await call(a, "GET", "/v1/billing/plans/pro")).status).toBe(200);
    const tenantA = (await call(a, "POST", "/v1/tenants", { name: "A" })).body.id as string;
    expect((await call(a, "POST", "/v1/billing/subscriptions", { tenantId: tenantA, plan: "pro" })).status).toBe(201);

    expect((await plan(b, "pro", "30.00")).status).toBe(201);
    const tenantB = (await call(b, "POST", "/v1/tenants", { name: "B" })).body.id as string;
    const subB = await call(b, "POST", "/v1/billing/subscriptions", { tenantId: tenantB, plan: "pro" });
    expect(subB.status).toBe(201);
    const change = await call(b, "POST", `/v1/billing/subscriptions/${subB.body.id}/change`, {
      plan: "pro",
      planVersionId: versionA,
    });
    expect(change.status).toBe(404);
    expect(change.body.code).toBe("plan_version_not_found");
    // B's preview is priced on B's own version, not on the one kept for A.
    const preview = await call(b, "GET", `/v1/billing/subscriptions/${subB.body.id}/preview`);
    expect(preview.status).toBe(200);
    expect(preview.body.planVersionId).not.toBe(versionA);
  });

  it("a new version of a plan is served once created", async () => {
    const a = p.a.secretKey;
    expect((await plan(a, "team", "10.00")).status).toBe(201);
    const tenant = (await call(a, "POST", "/v1/tenants", { name: "T" })).body.id as string;
    const sub = await call(a, "POST", "/v1/billing/subscriptions", { tenantId: tenant, plan: "team" });
    expect(sub.status).toBe(201);
    const v2 = await call(a, "POST", "/v1/billing/plans/team/versions", {
      interval: "month",
      currency: "USD",
      fixedFee: "15.00",
    });
    expect(v2.status).toBe(201);
    const changed = await call(a, "POST", `/v1/billing/subscriptions/${sub.body.id}/change`, { plan: "team" });
    expect(changed.status).toBe(200);
    const preview = await call(a, "GET", `/v1/billing/subscriptions/${sub.body.id}/preview`);
    expect(preview.status).toBe(200);
    expect(preview.body.planVersionId).toBe(v2.body.id);
  });
});
