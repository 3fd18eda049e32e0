import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../config.js";
import { TestClock } from "../../platform/clock.js";
import type { Fact } from "../../platform/facts/index.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { PASSWORD_PROFILES, PasswordHasher } from "./internal/passwords.js";

// Passwords: checklist A10 AUTH-01 (argon2id, per-user salt, production parameters), AUTH-02 (long
// and Unicode passwords, no truncation), AUTH-03 (common passwords refused), AUTH-11 (change needs
// the current password and can end other sessions), and single-use, expiring reset tokens.

const MINUTE = 60_000;
const LONG = "Tr0ub4dor&3-horse-".repeat(6).slice(0, 100);
const UNICODE = "ünïcødé-パスワード-🔑-long";
const NEW_PASSWORD = "Brand-New-Kestrel-51";
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

interface FactRow {
  type: string;
  environment_id: string | null;
  actor_id: string | null;
}

describe("password hashing profile in production", () => {
  it("loadConfig defaults to the owasp profile", () => {
    expect(loadConfig({}).passwords.profile).toBe("owasp");
    expect(loadConfig({ NODE_ENV: "production" }).passwords.profile).toBe("owasp");
  });

  it("the fast test profile is refused (ConfigError) unless NODE_ENV=test", () => {
    for (const env of [{}, { NODE_ENV: "production" }, { NODE_ENV: "development" }]) {
      expect(() => loadConfig({ ...env, BASEPLATE_PASSWORD_PROFILE: "test" })).toThrow(ConfigError);
    }
    expect(loadConfig({ NODE_ENV: "test", BASEPLATE_PASSWORD_PROFILE: "test" }).passwords.profile).toBe("test");
  });

  it("owasp is argon2id with m=19456 KiB, t=2, p=1, and its hashes say so", async () => {
    expect(PASSWORD_PROFILES.owasp).toEqual({ memoryCost: 19_456, timeCost: 2, parallelism: 1 });
    const hasher = new PasswordHasher("owasp", 1);
    const hash = await hasher.hash(TEST_PASSWORD);
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(await hasher.verify(hash, TEST_PASSWORD)).toBe(true);
    expect(await hasher.verify(hash, `${TEST_PASSWORD}!`)).toBe(false);
    expect(hasher.needsRehash(hash)).toBe(false);
  });
});

describeEachEngine("Passwords", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let clock: TestClock;
  let facts: Fact[];
  beforeEach(async () => {
    clock = new TestClock();
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
    facts = [];
    t.app.facts.registerSink("spec.capture", async (_tx, fact) => void facts.push(fact));
  });
  afterEach(async () => t?.close());

  const createUser = (email: string, password: string) =>
    t.inject({ method: "POST", url: "/v1/users", headers: bearer(p.a.secretKey), payload: { email, password } });
  const login = (email: string, password: string, surfaceId = p.a.surfaceId) =>
    t.inject({ method: "POST", url: "/v1/auth/login", payload: { surfaceId, email, password } });
  const me = (token: string) => t.inject({ method: "GET", url: "/v1/auth/me", headers: bearer(token) });

  async function userWithSessions(email: string, sessions: number): Promise<{ id: string; tokens: string[] }> {
    const created = await createUser(email, TEST_PASSWORD);
    expect(created.statusCode, created.body).toBe(201);
    const tokens: string[] = [];
    for (let i = 0; i < sessions; i++) tokens.push((await login(email, TEST_PASSWORD)).json().token);
    for (const token of tokens) expect((await me(token)).statusCode).toBe(200); // in use (and cached)
    return { id: created.json().id, tokens };
  }

  async function factRows(type: string): Promise<FactRow[]> {
    return (await t.app.db.kysely.selectFrom("probe_fact").selectAll().where("type", "=", type).execute()) as FactRow[];
  }

  function expectNoPasswordInFacts(...passwords: string[]): void {
    const text = JSON.stringify(facts);
    for (const password of passwords) expect(text).not.toContain(password);
  }

  describe("rules", () => {
    it.each([
      ["too short", "short1"],
      ["a top common password", "password123"],
      ["another top common password", "qwerty123"],
      ["a common password in other letter case", "PassWord123"],
      ["the email itself", "alice@example.com"],
      ["more than 1024 bytes (refused, never truncated)", "🔑".repeat(300)],
    ])("%s → 422 weak_password, no user created", async (_label, password) => {
      const res = await createUser("alice@example.com", password);
      expect(res.statusCode).toBe(422);
      expect(res.json()).toMatchObject({ code: "weak_password", status: 422 });
      expect(await t.app.db.kysely.selectFrom("user").selectAll().execute()).toEqual([]);
      expect(await factRows("user.created")).toEqual([]);
    });

    it("a 100-character password and a Unicode password work, and only exactly", async () => {
      for (const [email, password] of [
        ["long@example.com", LONG],
        ["unicode@example.com", UNICODE],
      ] as const) {
        expect((await createUser(email, password)).statusCode).toBe(201);
        expect((await login(email, password)).statusCode, email).toBe(201);
        expect((await login(email, password.slice(0, -1))).statusCode).toBe(401);
      }
      expect(LONG).toHaveLength(100);
      // The same characters in another Unicode normalisation form are another password.
      expect((await login("unicode@example.com", UNICODE.normalize("NFD"))).statusCode).toBe(401);
      expectNoPasswordInFacts(LONG, UNICODE);
    });

    it("no truncation: a character appended after position 72 makes a different password", async () => {
      const base = "correct-horse-battery-staple-".repeat(3).slice(0, 72);
      expect(Buffer.byteLength(base)).toBe(72);
      expect((await createUser("at72@example.com", base)).statusCode).toBe(201);
      expect((await createUser("at73@example.com", `${base}!`)).statusCode).toBe(201);
      expect((await login("at72@example.com", base)).statusCode).toBe(201);
      expect((await login("at72@example.com", `${base}!`)).statusCode).toBe(401);
      expect((await login("at73@example.com", `${base}!`)).statusCode).toBe(201);
      expect((await login("at73@example.com", base)).statusCode).toBe(401);
      expect((await login("at73@example.com", `${base}?`)).statusCode).toBe(401);
    });

    it("stores argon2id PHC strings with a per-user salt", async () => {
      expect((await createUser("alice@example.com", TEST_PASSWORD)).statusCode).toBe(201);
      expect((await createUser("bob@example.com", TEST_PASSWORD)).statusCode).toBe(201);
      const rows = (await t.app.db.kysely.selectFrom("user").select("password_hash").execute()) as Array<{
        password_hash: string;
      }>;
      const { memoryCost, timeCost, parallelism } = PASSWORD_PROFILES[t.config.passwords.profile];
      const phc = new RegExp(
        `^\\$argon2id\\$v=19\\$m=${memoryCost},t=${timeCost},p=${parallelism}\\$[A-Za-z0-9+/]{22}\\$[A-Za-z0-9+/]{43}$`,
      );
      for (const { password_hash } of rows) expect(password_hash).toMatch(phc);
      const [a, b] = rows.map((r) => r.password_hash);
      expect(a).not.toBe(b);
      expect(a?.split("$")[4]).not.toBe(b?.split("$")[4]); // the salts differ
      const operators = (await t.app.db.kysely.selectFrom("operator").select("password_hash").execute()) as Array<{
        password_hash: string;
      }>;
      for (const { password_hash } of operators) expect(password_hash).toMatch(phc);
    });
  });

  describe("changing the password", () => {
    const change = (token: string, payload: Record<string, unknown>) =>
      t.inject({ method: "POST", url: "/v1/auth/password", headers: bearer(token), payload });

    it("needs the current password (403 current_password_wrong) and a strong new one (422)", async () => {
      const { tokens } = await userWithSessions("alice@example.com", 1);
      const [token] = tokens as [string];
      const wrong = await change(token, { currentPassword: "not my password", newPassword: NEW_PASSWORD });
      expect(wrong.statusCode).toBe(403);
      expect(wrong.json().code).toBe("current_password_wrong");
      const weak = await change(token, { currentPassword: TEST_PASSWORD, newPassword: "qwerty123" });
      expect(weak.statusCode).toBe(422);
      expect(weak.json().code).toBe("weak_password");
      expect((await login("alice@example.com", TEST_PASSWORD)).statusCode).toBe(201);
      expect(await factRows("user.password_changed")).toEqual([]);
    });

    it("by default ends the other sessions and keeps the current one; old password out, new one in", async () => {
      const { id, tokens } = await userWithSessions("alice@example.com", 3);
      const [current, other1, other2] = tokens as [string, string, string];
      const res = await change(current, { currentPassword: TEST_PASSWORD, newPassword: NEW_PASSWORD });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ revoked: 2 });
      expect((await me(current)).statusCode).toBe(200);
      expect((await me(other1)).statusCode).toBe(401);
      expect((await me(other2)).statusCode).toBe(401);
      expect((await login("alice@example.com", TEST_PASSWORD)).statusCode).toBe(401);
      expect((await login("alice@example.com", NEW_PASSWORD)).statusCode).toBe(201);
      expect(await factRows("user.password_changed")).toMatchObject([{ environment_id: p.a.id, actor_id: id }]);
      expect(await factRows("session.revoked_others")).toMatchObject([{ environment_id: p.a.id, actor_id: id }]);
      expectNoPasswordInFacts(TEST_PASSWORD, NEW_PASSWORD);
    });

    it("revokeOtherSessions: false keeps the other sessions", async () => {
      const { tokens } = await userWithSessions("alice@example.com", 2);
      const [current, other] = tokens as [string, string];
      const res = await change(current, {
        currentPassword: TEST_PASSWORD,
        newPassword: NEW_PASSWORD,
        revokeOtherSessions: false,
      });
      expect(res.json()).toEqual({ revoked: 0 });
      expect((await me(other)).statusCode).toBe(200);
    });
  });

  describe("reset tokens", () => {
    const issue = (userId: string, key = p.a.secretKey) =>
      t.inject({ method: "POST", url: `/v1/users/${userId}/password-reset-tokens`, headers: bearer(key) });
    const redeem = (token: string, newPassword = NEW_PASSWORD, surfaceId = p.a.surfaceId) =>
      t.inject({ method: "POST", url: "/v1/auth/password-reset", payload: { surfaceId, token, newPassword } });

    async function tokenFor(userId: string): Promise<string> {
      const res = await issue(userId);
      expect(res.statusCode, res.body).toBe(201);
      return res.json().token;
    }

    function expectInvalid(res: Awaited<ReturnType<typeof redeem>>): void {
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: "invalid_reset_token", status: 400 });
    }

    it("a reset sets the new password and ends every session; the token works once", async () => {
      const { id, tokens } = await userWithSessions("alice@example.com", 2);
      const issued = await issue(id);
      expect(issued.statusCode).toBe(201);
      const { token, expiresAt } = issued.json();
      expect(token).toMatch(/^bp_pr_[0-9A-Za-z]{49}$/);
      expect(expiresAt).toBe(new Date(clock.now() + 60 * MINUTE).toISOString());
      expect(await factRows("user.password_reset_requested")).toMatchObject([
        { environment_id: p.a.id, actor_id: p.a.secretKeyId },
      ]);

      // A weak new password is refused without using the token up.
      const weak = await redeem(token, "password123");
      expect(weak.statusCode).toBe(422);
      expect(weak.json().code).toBe("weak_password");

      const res = await redeem(token);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ revoked: 2 });
      for (const session of tokens) expect((await me(session)).statusCode).toBe(401);
      expect((await login("alice@example.com", TEST_PASSWORD)).statusCode).toBe(401);
      expect((await login("alice@example.com", NEW_PASSWORD)).statusCode).toBe(201);
      expectInvalid(await redeem(token, "Another-Fresh-Plover-27"));
      expect((await login("alice@example.com", NEW_PASSWORD)).statusCode).toBe(201);

      expect(await factRows("user.password_reset")).toMatchObject([{ environment_id: p.a.id, actor_id: id }]);
      expect(await factRows("session.revoked_all")).toMatchObject([{ environment_id: p.a.id, actor_id: id }]);
      expectNoPasswordInFacts(TEST_PASSWORD, NEW_PASSWORD, token);
    });

    it("a token expires after one hour (TestClock)", async () => {
      const { id } = await userWithSessions("alice@example.com", 0);
      const stale = await tokenFor(id);
      clock.advance(60 * MINUTE);
      expectInvalid(await redeem(stale));
      const fresh = await tokenFor(id);
      clock.advance(59 * MINUTE);
      expect((await redeem(fresh)).statusCode).toBe(200);
    });

    it("a token of environment a is refused through environment b's surface (400), and stays usable in a", async () => {
      const { id } = await userWithSessions("alice@example.com", 0);
      const token = await tokenFor(id);
      expectInvalid(await redeem(token, NEW_PASSWORD, p.b.surfaceId));
      expect((await redeem(token)).statusCode).toBe(200);
    });

    it("a newer token replaces an unused earlier one; made-up tokens are refused", async () => {
      const { id } = await userWithSessions("alice@example.com", 0);
      const first = await tokenFor(id);
      const second = await tokenFor(id);
      expectInvalid(await redeem(first));
      expectInvalid(await redeem("bp_pr_made-up"));
      expect((await redeem(second)).statusCode).toBe(200);
    });

    it("a disabled user gets no token (403 user_disabled); one issued before disabling is dead for good", async () => {
      const { id } = await userWithSessions("alice@example.com", 0);
      const token = await tokenFor(id);
      const patch = (disabled: boolean) =>
        t.inject({ method: "PATCH", url: `/v1/users/${id}`, headers: bearer(p.a.secretKey), payload: { disabled } });
      expect((await patch(true)).statusCode).toBe(200);
      const refused = await issue(id);
      expect(refused.statusCode).toBe(403);
      expect(refused.json().code).toBe("user_disabled");
      expectInvalid(await redeem(token));
      // Like its sessions, re-enabling the user does not revive the token.
      expect((await patch(false)).statusCode).toBe(200);
      expectInvalid(await redeem(token));
      expect((await redeem(await tokenFor(id))).statusCode).toBe(200);
    });
  });
});
