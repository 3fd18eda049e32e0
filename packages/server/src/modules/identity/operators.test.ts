import { afterEach, beforeEach, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { sha256Hex } from "../../platform/crypto.js";
import { newId } from "../../platform/ids.js";
import { systemContext } from "../../platform/principal.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { identityModule } from "./index.js";

const MINUTE = 60_000;
const IDLE = 30 * MINUTE; // BASEPLATE_SESSION_IDLE_MINUTES default
const OPERATOR_TOKEN = /^bp_ot_[0-9A-Za-z]{49}$/;

type Method = "GET" | "POST" | "PATCH";

describeEachEngine("operators", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let clock: TestClock;

  beforeEach(async () => {
    clock = new TestClock(Date.UTC(2026, 0, 1));
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
  });
  afterEach(async () => t.close());

  const call = (token: string | null, method: Method, url: string, payload?: unknown) =>
    t.inject({
      method,
      url,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });
  const admin = (method: Method, url: string, payload?: unknown) => call(p.operatorToken, method, url, payload);
  const login = (email: string, password: string) => call(null, "POST", "/v1/operator/login", { email, password });
  const me = (token: string) => call(token, "GET", "/v1/operator/me");
  const factTypes = async () =>
    (
      await t.app.db.kysely.selectFrom("probe_fact").select(["type", "actor_id", "targets"]).orderBy("id").execute()
    ).map((f) => ({ type: f.type as string, actorId: f.actor_id as string | null, targets: f.targets as string }));
  const createOperator = async (role: "admin" | "support", email: string) => {
    const res = await admin("POST", "/v1/operators", { email, name: email, role, password: TEST_PASSWORD });
    expect(res.statusCode, res.body).toBe(201);
    return res.json() as { id: string; email: string; role: string; disabled: boolean };
  };

  it("logs in with email and password: a bp_ot_ session token, stored only as its hash", async () => {
    const res = await login("Admin@Example.com ", TEST_PASSWORD);
    expect(res.statusCode, res.body).toBe(201);
    const body = res.json();
    expect(body.token).toMatch(OPERATOR_TOKEN);
    expect(body.operator).toMatchObject({
      id: p.operatorId,
      email: "admin@example.com",
      role: "admin",
      disabled: false,
    });
    expect(body).toMatchObject({ operatorId: p.operatorId, kind: "session", revokedAt: null });
    expect(Date.parse(body.expiresAt)).toBe(clock.now() + 12 * 3_600_000);
    expect(body).not.toHaveProperty("operator.passwordHash");

    const row = await t.app.db.kysely
      .selectFrom("operator_token")
      .selectAll()
      .where("id", "=", body.id)
      .executeTakeFirstOrThrow();
    expect(row.token_hash).toBe(sha256Hex(body.token));
    expect(JSON.stringify(row)).not.toContain(body.token.slice(6));

    const who = await me(body.token);
    expect(who.statusCode).toBe(200);
    expect(who.json()).toEqual({
      id: p.operatorId,
      email: "admin@example.com",
      name: "Admin",
      role: "admin",
      disabled: false,
      mfa: false,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect(JSON.stringify(who.json())).not.toMatch(/argon2|password/i);
    expect((await factTypes()).filter((f) => f.type === "operator.logged_in").map((f) => f.actorId)).toContain(
      p.operatorId,
    );
  });

  it("a wrong password and an unknown email get the same 401 invalid_login", async () => {
    const wrong = await login("admin@example.com", "not the password at all");
    const unknown = await login("nobody@example.com", TEST_PASSWORD);
    for (const res of [wrong, unknown]) {
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ code: "invalid_login", detail: "The email or password is wrong." });
    }
    const strip = (b: Record<string, unknown>) => ({ ...b, requestId: undefined });
    expect(strip(wrong.json())).toEqual(strip(unknown.json()));
    expect((await factTypes()).filter((f) => f.type === "operator.logged_in")).toHaveLength(1); // the seeded support login
  });

  it("/v1/operator/me needs an operator credential", async () => {
    expect((await call(null, "GET", "/v1/operator/me")).statusCode).toBe(401);
    const withKey = await me(p.a.secretKey);
    expect(withKey.statusCode).toBe(403);
    expect(withKey.json()).toMatchObject({ code: "forbidden" });
  });

  it("operator API tokens: create (shown once), list (redacted), revoke (401 at once, even cached)", async () => {
    const created = await admin("POST", "/v1/operator/tokens", { name: "ci" });
    expect(created.statusCode, created.body).toBe(201);
    const { token, ...operatorToken } = created.json();
    expect(token).toMatch(OPERATOR_TOKEN);
    expect(operatorToken).toMatchObject({ operatorId: p.operatorId, kind: "api", name: "ci", expiresAt: null });
    expect((await me(token)).statusCode).toBe(200);

    const list = await call(token, "GET", "/v1/operator/tokens");
    expect(list.statusCode).toBe(200);
    const ids = list.json().data.map((x: { id: string }) => x.id);
    expect(ids).toContain(operatorToken.id);
    expect(list.body).not.toContain(token.slice(6));
    // Only the caller's own tokens are listed.
    const supportList = await call(p.supportToken, "GET", "/v1/operator/tokens");
    expect(supportList.json().data.map((x: { id: string }) => x.id)).not.toContain(operatorToken.id);
    // Nobody revokes another operator's token.
    const foreign = await call(p.supportToken, "POST", `/v1/operator/tokens/${operatorToken.id}/revoke`);
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json()).toMatchObject({ code: "operator_token_not_found" });
    expect((await me(token)).statusCode).toBe(200);

    const revoked = await admin("POST", `/v1/operator/tokens/${operatorToken.id}/revoke`);
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json()).toMatchObject({ id: operatorToken.id, revokedAt: new Date(clock.now()).toISOString() });
    expect((await me(token)).statusCode).toBe(401);
    const after = await admin("GET", "/v1/operator/tokens");
    expect(after.json().data.map((x: { id: string }) => x.id)).not.toContain(operatorToken.id);
    const types = (await factTypes()).map((f) => f.type);
    expect(types).toContain("operator_token.created");
    expect(types).toContain("operator_token.revoked");
  });

  it("an API token with an expiry stops working when it passes; an expiry in the past is refused (400)", async () => {
    const past = await admin("POST", "/v1/operator/tokens", { name: "dead on arrival", expiresAt: clock.now() });
    expect(past.statusCode).toBe(400);
    expect(past.json()).toMatchObject({ code: "validation_failed" });
    const created = await admin("POST", "/v1/operator/tokens", { name: "short", expiresAt: clock.now() + 10 * MINUTE });
    expect(created.statusCode).toBe(201);
    const { token } = created.json();
    expect((await me(token)).statusCode).toBe(200);
    clock.advance(10 * MINUTE);
    expect((await me(token)).statusCode).toBe(401);
  });

  it("revoking `current` logs out: the session answers 401 at once, even right after a cached request", async () => {
    const { token } = (await login("admin@example.com", TEST_PASSWORD)).json();
    expect((await me(token)).statusCode).toBe(200);
    expect((await me(token)).statusCode).toBe(200);
    const out = await call(token, "POST", "/v1/operator/tokens/current/revoke");
    expect(out.statusCode).toBe(200);
    expect(out.json()).toMatchObject({ kind: "session", revokedAt: new Date(clock.now()).toISOString() });
    const after = await me(token);
    expect(after.statusCode).toBe(401);
    expect(after.json()).toMatchObject({ code: "invalid_credentials" });
    // Other credentials of the operator are untouched.
    expect((await me(p.operatorToken)).statusCode).toBe(200);
    expect((await factTypes()).map((f) => f.type)).toContain("operator.logged_out");
    // Support operators may log out too.
    expect((await call(p.supportToken, "POST", "/v1/operator/tokens/current/revoke")).statusCode).toBe(200);
    expect((await me(p.supportToken)).statusCode).toBe(401);
  });

  it("support operators read everything but cannot change configuration or credentials (403)", async () => {
    const reads = [
      "/v1/operator/me",
      "/v1/projects",
      `/v1/projects/${p.projectId}/environments`,
      `/v1/environments/${p.a.id}/surfaces`,
      `/v1/environments/${p.a.id}/secret-keys`,
      `/v1/secret-keys/${p.a.secretKeyId}`,
      "/v1/operators",
      `/v1/operators/${p.operatorId}`,
    ];
    for (const url of reads) {
      const res = await call(p.supportToken, "GET", url);
      expect(res.statusCode, `GET ${url}: ${res.body}`).toBe(200);
    }

    const writes: Array<[Method, string, unknown]> = [
      ["POST", "/v1/projects", { name: "Sneaky" }],
      ["PATCH", `/v1/projects/${p.projectId}`, { name: "Renamed" }],
      ["POST", `/v1/projects/${p.projectId}/environments`, { name: "Staging" }],
      ["POST", `/v1/environments/${p.a.id}/surfaces`, { name: "Side door", kind: "api" }],
      ["PATCH", `/v1/surfaces/${p.a.surfaceId}`, { scopeCeiling: ["tenants:read"] }],
      ["POST", `/v1/environments/${p.a.id}/secret-keys`, { surfaceId: p.a.surfaceId, name: "mine" }],
      ["POST", `/v1/secret-keys/${p.a.secretKeyId}/rotate`, { gracePeriodSeconds: 0 }],
      ["POST", `/v1/secret-keys/${p.a.secretKeyId}/revoke`, undefined],
      ["POST", "/v1/operators", { email: "evil@example.com", name: "Evil", role: "admin", password: TEST_PASSWORD }],
      ["PATCH", `/v1/operators/${p.operatorId}`, { disabled: true }],
    ];
    const before = (await factTypes()).length;
    for (const [method, url, payload] of writes) {
      const res = await call(p.supportToken, method, url, payload);
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(403);
      expect(res.json()).toMatchObject({ code: "forbidden" });
    }
    // Nothing changed: no fact recorded, the key still works, the admin is still active.
    expect((await factTypes()).length).toBe(before);
    expect((await call(p.a.secretKey, "GET", "/v1/tenants")).statusCode).toBe(200);
    expect((await me(p.operatorToken)).statusCode).toBe(200);
    const supportMe = await me(p.supportToken);
    expect(supportMe.json()).toMatchObject({ role: "support" });
  });

  it("admins create operators; weak passwords (422) and duplicate emails (409) are refused", async () => {
    const created = await createOperator("support", "New.Person@Example.com");
    expect(created).toMatchObject({ email: "new.person@example.com", role: "support", disabled: false });
    expect(JSON.stringify(created)).not.toMatch(/password|argon2/i);
    const facts = await factTypes();
    const fact = facts.find((f) => f.type === "operator.created" && f.targets.includes(created.id));
    expect(fact?.actorId).toBe(p.operatorId);
    expect(JSON.stringify(facts)).not.toContain(TEST_PASSWORD);
    expect((await login("new.person@example.com", TEST_PASSWORD)).statusCode).toBe(201);

    for (const password of ["short", "password123", "Password1", "new.person@example.com"]) {
      const weak = await admin("POST", "/v1/operators", {
        email: "new.person@example.com",
        name: "Weak",
        role: "support",
        password,
      });
      expect(weak.statusCode, password).toBe(422);
      expect(weak.json()).toMatchObject({ code: "weak_password" });
    }
    for (const email of ["new.person@example.com", "ADMIN@example.com"]) {
      const dup = await admin("POST", "/v1/operators", {
        email,
        name: "Dup",
        role: "support",
        password: TEST_PASSWORD,
      });
      expect(dup.statusCode, email).toBe(409);
      expect(dup.json()).toMatchObject({ code: "email_taken" });
    }
    const list = await admin("GET", "/v1/operators");
    expect(
      list
        .json()
        .data.map((o: { email: string }) => o.email)
        .sort(),
    ).toEqual(["admin@example.com", "new.person@example.com", "support@example.com"]);
  });

  it("the last active admin cannot be demoted or disabled (409 last_admin); with a second admin it can", async () => {
    for (const change of [{ role: "support" }, { disabled: true }, { role: "support", disabled: true }]) {
      const res = await admin("PATCH", `/v1/operators/${p.operatorId}`, change);
      expect(res.statusCode, JSON.stringify(change)).toBe(409);
      expect(res.json()).toMatchObject({ code: "last_admin" });
    }
    expect((await me(p.operatorToken)).json()).toMatchObject({ role: "admin", disabled: false });
    // Renaming the last admin is fine.
    expect((await admin("PATCH", `/v1/operators/${p.operatorId}`, { name: "Boss" })).json()).toMatchObject({
      name: "Boss",
    });

    const second = await createOperator("admin", "second@example.com");
    const demoted = await admin("PATCH", `/v1/operators/${second.id}`, { role: "support" });
    expect(demoted.statusCode).toBe(200);
    expect(demoted.json()).toMatchObject({ role: "support" });
    // A disabled admin does not count as an active one.
    await admin("PATCH", `/v1/operators/${second.id}`, { role: "admin" });
    expect((await admin("PATCH", `/v1/operators/${second.id}`, { disabled: true })).statusCode).toBe(200);
    expect((await admin("PATCH", `/v1/operators/${p.operatorId}`, { role: "support" })).statusCode).toBe(409);
    await admin("PATCH", `/v1/operators/${second.id}`, { disabled: false });
    const self = await admin("PATCH", `/v1/operators/${p.operatorId}`, { role: "support" });
    expect(self.statusCode).toBe(200);
    // The demotion applies at once to the demoted admin's own (cached) token.
    const denied = await admin("POST", "/v1/projects", { name: "Too late" });
    expect(denied.statusCode).toBe(403);
    expect((await me(p.operatorToken)).json()).toMatchObject({ role: "support" });
  });

  it("disabling an operator kills its sessions and API tokens at once, and re-enabling does not revive them", async () => {
    const other = await createOperator("admin", "other@example.com");
    const session = (await login("other@example.com", TEST_PASSWORD)).json().token as string;
    const api = (await call(session, "POST", "/v1/operator/tokens", { name: "script" })).json().token as string;
    expect((await me(session)).statusCode).toBe(200);
    expect((await me(api)).statusCode).toBe(200);

    const disabled = await admin("PATCH", `/v1/operators/${other.id}`, { disabled: true });
    expect(disabled.statusCode).toBe(200);
    expect(disabled.json()).toMatchObject({ disabled: true });
    expect((await me(session)).statusCode).toBe(401);
    expect((await me(api)).statusCode).toBe(401);
    const relogin = await login("other@example.com", TEST_PASSWORD);
    expect(relogin.statusCode).toBe(401);
    expect(relogin.json()).toMatchObject({ code: "invalid_login" });
    expect((await factTypes()).find((f) => f.type === "operator.disabled")?.actorId).toBe(p.operatorId);

    const enabled = await admin("PATCH", `/v1/operators/${other.id}`, { disabled: false });
    expect(enabled.json()).toMatchObject({ disabled: false });
    expect((await me(session)).statusCode).toBe(401);
    expect((await me(api)).statusCode).toBe(401);
    expect((await login("other@example.com", TEST_PASSWORD)).statusCode).toBe(201);
  });

  it("an operator session ends after the idle timeout, counted from its last use; API tokens do not idle out", async () => {
    const { token } = (await login("admin@example.com", TEST_PASSWORD)).json();
    const api = (await admin("POST", "/v1/operator/tokens", { name: "long-lived" })).json().token as string;
    expect((await me(token)).statusCode).toBe(200);
    clock.advance(IDLE - MINUTE);
    expect((await me(token)).statusCode).toBe(200); // used again: the idle clock restarts
    await p.identity.resolution.flushLastUsed();
    clock.advance(IDLE - MINUTE);
    expect((await me(token)).statusCode).toBe(200);
    clock.advance(IDLE);
    const idle = await me(token);
    expect(idle.statusCode).toBe(401);
    expect(idle.json()).toMatchObject({ code: "invalid_credentials" });
    expect((await me(api)).statusCode).toBe(200);
    expect((await me(p.operatorToken)).statusCode).toBe(200);
  });

  it("an active operator session still ends at its absolute expiry", async () => {
    const { token } = (await login("admin@example.com", TEST_PASSWORD)).json();
    for (let elapsed = 0; elapsed < 12 * 60; elapsed += 20) {
      expect((await me(token)).statusCode, `after ${elapsed} min`).toBe(200);
      clock.advance(20 * MINUTE);
    }
    expect((await me(token)).statusCode).toBe(401);
  });
});

describeEachEngine("operators under concurrency", (engine) => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp(engine, { plane: true });
  });
  afterEach(async () => t.close());

  const activeAdmins = async () =>
    (
      await t.app.db.kysely
        .selectFrom("operator")
        .select("id")
        .where("role", "=", "admin")
        .where("disabled_at", "is", null)
        .execute()
    ).length;

  it("concurrent bootstraps of an empty plane: exactly one wins", async () => {
    const identity = t.app.service(identityModule);
    const results = await Promise.allSettled(
      [1, 2, 3, 4].map((i) =>
        identity.operators.bootstrapOperator(systemContext(newId("request")), {
          email: `first${i}@example.com`,
          name: `First ${i}`,
          role: "admin",
          password: TEST_PASSWORD,
        }),
      ),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const r of results) {
      if (r.status === "rejected") expect(r.reason).toMatchObject({ code: "email_taken" });
    }
    expect(await identity.operators.countOperators()).toBe(1);
  });

  it("concurrent demotions and disablings never leave the plane without an active admin", async () => {
    const p = await seedPlane(t);
    for (let round = 0; round < 3; round++) {
      const ids = [p.operatorId];
      for (let i = 0; i < 3; i++) {
        const o = await p.identity.operators.createOperator(p.operatorCtx, {
          email: `admin${round}-${i}@example.com`,
          name: "Admin",
          role: "admin",
          password: TEST_PASSWORD,
        });
        ids.push(o.id);
      }
      const results = await Promise.allSettled(
        ids.map((id, i) =>
          p.identity.operators.updateOperator(
            p.operatorCtx,
            id,
            i % 2 === 0 ? { role: "support" } : { disabled: true },
          ),
        ),
      );
      expect(results.filter((r) => r.status === "rejected").map((r) => (r as PromiseRejectedResult).reason)).toEqual([
        expect.objectContaining({ code: "last_admin" }),
      ]);
      expect(await activeAdmins()).toBe(1);
      // Next round starts from the seeded admin again.
      await t.app.db.kysely
        .updateTable("operator")
        .set({ role: "admin", disabled_at: null })
        .where("id", "=", p.operatorId)
        .execute();
      await t.app.db.kysely.updateTable("operator").set({ role: "support" }).where("id", "in", ids.slice(1)).execute();
    }
  });
});
