import fc from "fast-check";
import { afterAll, beforeAll, expect, it } from "vitest";
import { MODULES } from "../../app.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";

// DESIGN.md §7 for the access routes: whatever body, path id or credential a client sends — a
// secret key, a tenant owner's session, a tenant key, an agent key — no answer is a 5xx, and
// every refusal is a problem document with a code.

const RUNS = Number(process.env.BASEPLATE_FUZZ_RUNS) || 60;

describeEachEngine("access fuzz", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let tenantId: string;
  let membershipId: string;
  const tokens: string[] = [];

  beforeAll(async () => {
    t = await createTestApp(engine, { modules: [...MODULES] });
    p = await seedPlane(t);
    const call = async (token: string, method: string, url: string, body?: unknown) => {
      const res = await t.inject({
        method: method as "POST",
        url,
        headers: { authorization: `Bearer ${token}` },
        ...(body === undefined ? {} : { payload: body as object }),
      });
      expect(res.statusCode, res.body).toBeLessThan(300);
      return JSON.parse(res.body) as Record<string, unknown>;
    };
    tenantId = (await call(p.a.secretKey, "POST", "/v1/tenants", { name: "Fuzz" })).id as string;
    const user = await call(p.a.secretKey, "POST", "/v1/users", { email: "fuzz@example.com", password: TEST_PASSWORD });
    membershipId = (
      await call(p.a.secretKey, "POST", `/v1/tenants/${tenantId}/members`, { userId: user.id, roles: ["owner"] })
    ).id as string;
    const login = await t.inject({
      method: "POST",
      url: "/v1/auth/login",
      payload: { surfaceId: p.a.surfaceId, email: "fuzz@example.com", password: TEST_PASSWORD },
    });
    const session = (JSON.parse(login.body) as { token: string }).token;
    const tk = await call(session, "POST", `/v1/tenants/${tenantId}/keys`, { name: "k", permissions: ["*"] });
    const ak = await call(session, "POST", `/v1/tenants/${tenantId}/agent-keys`, { name: "a", scopes: ["*"] });
    tokens.push(p.a.secretKey, session, tk.token as string, ak.token as string);
  }, 60_000);
  afterAll(async () => t?.close());

  const ROUTES: Array<[method: string, url: () => string]> = [
    ["POST", () => "/v1/roles"],
    ["PATCH", () => "/v1/roles/custom-x"],
    ["POST", () => `/v1/tenants/${tenantId}/members`],
    ["PATCH", () => `/v1/tenants/${tenantId}/members/${membershipId}`],
    ["POST", () => `/v1/tenants/${tenantId}/invitations`],
    ["POST", () => "/v1/invitations/accept"],
    ["POST", () => `/v1/tenants/${tenantId}/keys`],
    ["POST", () => `/v1/tenants/${tenantId}/agent-keys`],
    ["POST", () => "/v1/access/check"],
    ["POST", () => "/v1/access/explain"],
    ["POST", () => "/v1/access/check-batch"],
    ["POST", () => `/v1/tenants/${tenantId}/suspend`],
  ];
  const text = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.string({ unit: "binary", maxLength: 40 }),
    fc.constantFrom("*", "owner", "a:b", "\u0000", ""),
  );
  const value: fc.Arbitrary<unknown> = fc.oneof(
    text,
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(text, { maxLength: 4 }),
    fc.dictionary(fc.constantFrom("type", "id", "x"), text, { maxKeys: 2 }),
  );
  const body = fc.dictionary(
    fc.constantFrom(
      "key",
      "name",
      "permissions",
      "roles",
      "userId",
      "email",
      "token",
      "scopes",
      "subject",
      "tenantId",
      "permission",
      "checks",
      "reason",
      "category",
      "expiresAt",
      "model",
      "password",
    ),
    value,
    { maxKeys: 6 },
  );

  it("never answers 5xx, and every refusal is a problem with a code", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: ROUTES.length - 1 }),
        fc.integer({ min: 0, max: 3 }),
        body,
        async (r, c, payload) => {
          const [method, url] = ROUTES[r] as [string, () => string];
          const res = await t.inject({
            method: method as "POST",
            url: url(),
            headers: { authorization: `Bearer ${tokens[c]}` },
            payload: payload as object,
          });
          expect(res.statusCode, `${method} ${url()} ${JSON.stringify(payload)}: ${res.body}`).toBeLessThan(500);
          if (res.statusCode >= 400) expect(JSON.parse(res.body).code).toBeTypeOf("string");
        },
      ),
      { numRuns: RUNS * ROUTES.length },
    );
  }, 120_000);
});
