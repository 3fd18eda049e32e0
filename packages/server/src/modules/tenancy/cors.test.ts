import { afterEach, beforeEach, expect, it } from "vitest";
import { seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";

describeEachEngine("CORS from surfaces' allowed origins", (engine) => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp(engine, { plane: true, env: { BASEPLATE_CORS_ORIGINS: "https://ops.example.com" } });
  });
  afterEach(async () => t.close());

  const preflight = (origin: string) =>
    t.inject({
      method: "OPTIONS",
      url: "/v1/auth/me",
      headers: { origin, "access-control-request-method": "GET", "access-control-request-headers": "authorization" },
    });

  it("allows configured origins and the allowed origins of active surfaces, and nothing else", async () => {
    const p = await seedPlane(t);
    expect((await preflight("https://ops.example.com")).headers["access-control-allow-origin"]).toBe(
      "https://ops.example.com",
    );
    expect((await preflight("https://app.example.com")).headers["access-control-allow-origin"]).toBeUndefined();

    const patch = await t.inject({
      method: "PATCH",
      url: `/v1/surfaces/${p.a.surfaceId}`,
      headers: { authorization: `Bearer ${p.operatorToken}` },
      payload: { allowedOrigins: ["https://app.example.com"] },
    });
    expect(patch.statusCode).toBe(200);
    const allowed = await preflight("https://app.example.com");
    expect(allowed.statusCode).toBe(204);
    expect(allowed.headers["access-control-allow-origin"]).toBe("https://app.example.com");
    expect(allowed.headers["access-control-allow-headers"]).toContain("authorization");
    expect((await preflight("https://evil.example.com")).headers["access-control-allow-origin"]).toBeUndefined();

    await t.inject({
      method: "POST",
      url: `/v1/surfaces/${p.a.surfaceId}/archive`,
      headers: { authorization: `Bearer ${p.operatorToken}` },
    });
    expect((await preflight("https://app.example.com")).headers["access-control-allow-origin"]).toBeUndefined();
  });
});
