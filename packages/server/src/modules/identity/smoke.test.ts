import { afterEach, beforeEach, expect, it } from "vitest";
import { seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";

describeEachEngine("plane fixture", (engine) => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp(engine, { plane: true });
  });
  afterEach(async () => t.close());

  it("seeds a plane whose credentials work", async () => {
    const p = await seedPlane(t);
    const tenant = await t.inject({
      method: "POST",
      url: "/v1/tenants",
      headers: { authorization: `Bearer ${p.a.secretKey}` },
      payload: { name: "Acme" },
    });
    expect(tenant.statusCode).toBe(201);
    const other = await t.inject({
      method: "GET",
      url: `/v1/tenants/${tenant.json().id}`,
      headers: { authorization: `Bearer ${p.b.secretKey}` },
    });
    expect(other.statusCode).toBe(404);
    const projects = await t.inject({
      method: "GET",
      url: "/v1/projects",
      headers: { authorization: `Bearer ${p.supportToken}` },
    });
    expect(projects.statusCode).toBe(200);
    const denied = await t.inject({
      method: "POST",
      url: "/v1/projects",
      headers: { authorization: `Bearer ${p.supportToken}` },
      payload: { name: "x" },
    });
    expect(denied.statusCode).toBe(403);
  });
});
