import { afterEach, beforeEach, expect, it } from "vitest";
import { seedPlane, TEST_PASSWORD } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";

describeEachEngine("identity hardening", (engine) => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp(engine, { plane: true });
  });
  afterEach(async () => t.close());

  it("a reset token issued before a password change no longer works after it", async () => {
    const p = await seedPlane(t);
    const key = { authorization: `Bearer ${p.a.secretKey}` };
    const user = await t.inject({
      method: "POST",
      url: "/v1/users",
      headers: key,
      payload: { email: "ann@example.com", password: TEST_PASSWORD },
    });
    const reset = await t.inject({
      method: "POST",
      url: `/v1/users/${user.json().id}/password-reset-tokens`,
      headers: key,
    });
    expect(reset.statusCode).toBe(201);
    const login = await t.inject({
      method: "POST",
      url: "/v1/auth/login",
      payload: { surfaceId: p.a.surfaceId, email: "ann@example.com", password: TEST_PASSWORD },
    });
    const change = await t.inject({
      method: "POST",
      url: "/v1/auth/password",
      headers: { authorization: `Bearer ${login.json().token}` },
      payload: { currentPassword: TEST_PASSWORD, newPassword: "an entirely new passphrase" },
    });
    expect(change.statusCode).toBe(200);
    const redeem = await t.inject({
      method: "POST",
      url: "/v1/auth/password-reset",
      payload: { surfaceId: p.a.surfaceId, token: reset.json().token, newPassword: "the attacker's passphrase" },
    });
    expect(redeem.statusCode).toBe(400);
    expect(redeem.json().code).toBe("invalid_reset_token");
  });

  it("listing the secret keys of an unknown environment answers 404", async () => {
    const p = await seedPlane(t);
    const res = await t.inject({
      method: "GET",
      url: "/v1/environments/env_01ZZZZZZZZZZZZZZZZZZZZZZZZ/secret-keys",
      headers: { authorization: `Bearer ${p.operatorToken}` },
    });
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe("environment_not_found");
  });

  it("a missing required field answers 400 validation_failed naming it, on every identity route that takes a body", async () => {
    const p = await seedPlane(t);
    const operator = { authorization: `Bearer ${p.operatorToken}` };
    const key = { authorization: `Bearer ${p.a.secretKey}` };
    const cases: Array<[string, Record<string, string>, string[]]> = [
      ["/v1/auth/login", {}, ["surfaceId", "email", "password"]],
      ["/v1/auth/signup", {}, ["surfaceId", "email", "password"]],
      ["/v1/auth/password-reset", {}, ["surfaceId", "token", "newPassword"]],
      ["/v1/users", key, ["email"]],
      ["/v1/operator/login", {}, ["email", "password"]],
      ["/v1/operators", operator, ["email", "name", "role", "password"]],
      [`/v1/environments/${p.a.id}/secret-keys`, operator, ["surfaceId", "name"]],
      ["/v1/operator/tokens", operator, ["name"]],
    ];
    for (const [url, headers, fields] of cases) {
      const res = await t.inject({ method: "POST", url, headers, payload: {} });
      expect(res.statusCode, url).toBe(400);
      expect(res.json().code, url).toBe("validation_failed");
      const paths = (res.json().errors as Array<{ path: string }>).map((e) => e.path);
      expect(paths, url).toEqual(fields.map((f) => `body.${f}`));
    }
  });
});
