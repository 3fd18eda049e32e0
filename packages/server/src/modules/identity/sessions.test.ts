import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { generateToken, sha256Hex } from "../../platform/crypto.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { identityModule } from "./index.js";
import type { Session, User } from "./schemas.js";

// End-user sessions: checklist A10 AUTH-06 (fixation), AUTH-08 (idle and absolute timeouts),
// AUTH-09 (server-side logout), AUTH-10 (disabling a user ends its sessions at once).

const MINUTE = 60_000;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

interface Issued {
  token: string;
  session: Session;
  user: User;
}

interface FactRow {
  type: string;
  environment_id: string | null;
  actor_id: string | null;
  targets: string;
}

describeEachEngine("Sessions", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let clock: TestClock;
  beforeEach(async () => {
    clock = new TestClock();
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
  });
  afterEach(async () => t?.close());

  async function createUser(email: string, key = p.a.secretKey): Promise<User> {
    const res = await t.inject({
      method: "POST",
      url: "/v1/users",
      headers: bearer(key),
      payload: { email, password: TEST_PASSWORD },
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json();
  }

  function login(
    email: string,
    options: { surfaceId?: string; ip?: string; userAgent?: string; password?: string } = {},
  ) {
    return t.inject({
      method: "POST",
      url: "/v1/auth/login",
      remoteAddress: options.ip ?? "127.0.0.1",
      headers: options.userAgent ? { "user-agent": options.userAgent } : {},
      payload: { surfaceId: options.surfaceId ?? p.a.surfaceId, email, password: options.password ?? TEST_PASSWORD },
    });
  }

  const me = (token: string) => t.inject({ method: "GET", url: "/v1/auth/me", headers: bearer(token) });

  /** open logs in and uses the session once, so revocation tests also cover cached sessions. */
  async function open(email: string, options: Parameters<typeof login>[1] = {}): Promise<Issued> {
    const res = await login(email, options);
    expect(res.statusCode, res.body).toBe(201);
    const issued: Issued = res.json();
    expect((await me(issued.token)).statusCode).toBe(200);
    return issued;
  }
  const call = (token: string, url: string) => t.inject({ method: "POST", url, headers: bearer(token) });

  async function expectDead(token: string, code = "invalid_credentials"): Promise<void> {
    const res = await me(token);
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ code });
  }

  async function facts(type: string): Promise<Array<{ env: string | null; actor: string | null; targets: string[] }>> {
    const rows = (await t.app.db.kysely
      .selectFrom("probe_fact")
      .selectAll()
      .where("type", "=", type)
      .orderBy("id")
      .execute()) as FactRow[];
    return rows.map((r) => ({
      env: r.environment_id,
      actor: r.actor_id,
      targets: (JSON.parse(r.targets) as Array<{ id: string }>).map((x) => x.id),
    }));
  }

  describe("login", () => {
    it("answers 201 with a fresh bp_st_ token on every login, and records user.logged_in by the user", async () => {
      const user = await createUser("alice@example.com");
      const issued = [
        await open("alice@example.com"),
        await open("ALICE@example.com"),
        await open("alice@example.com"),
      ];
      for (const s of issued) {
        expect(s.token).toMatch(/^bp_st_[0-9A-Za-z]{49}$/);
        expect(s.session).toMatchObject({ userId: user.id, surfaceId: p.a.surfaceId, current: true });
        expect(s.user.id).toBe(user.id);
        const res = await me(s.token);
        expect(res.statusCode).toBe(200);
        expect(res.json().id).toBe(user.id);
      }
      expect(new Set(issued.map((s) => s.token)).size).toBe(3);
      expect(new Set(issued.map((s) => s.session.id)).size).toBe(3);
      expect(await facts("user.logged_in")).toEqual(
        issued.map((s) => ({ env: p.a.id, actor: user.id, targets: [user.id, s.session.id] })),
      );
    });

    it("session fixation: a planted token is never promoted, and logging in again never returns an earlier token", async () => {
      await createUser("alice@example.com");
      const planted = generateToken("bp_st_");
      await expectDead(planted);

      // Logging in while presenting the planted token issues a new one; the planted one stays dead.
      const res = await t.inject({
        method: "POST",
        url: "/v1/auth/login",
        headers: bearer(planted),
        payload: { surfaceId: p.a.surfaceId, email: "alice@example.com", password: TEST_PASSWORD },
      });
      expect(res.statusCode).toBe(201);
      const first: Issued = res.json();
      expect(first.token).not.toBe(planted);
      await expectDead(planted);

      // A token obtained before a second login stays distinct from every later one.
      const tokens = new Set([first.token]);
      for (let i = 0; i < 4; i++) {
        const again = await open("alice@example.com");
        expect(tokens.has(again.token)).toBe(false);
        tokens.add(again.token);
      }
      expect(tokens.size).toBe(5);
      expect((await me(first.token)).json().email).toBe("alice@example.com");
    });

    it("a user of environment b cannot log in through environment a's surface; an unknown surface is 404", async () => {
      await createUser("bob@example.com", p.b.secretKey);
      const wrongEnv = await login("bob@example.com");
      expect(wrongEnv.statusCode).toBe(401);
      expect(wrongEnv.json().code).toBe("invalid_login");
      expect((await login("bob@example.com", { surfaceId: p.b.surfaceId })).statusCode).toBe(201);
      const unknown = await login("bob@example.com", { surfaceId: "srf_01JZZZZZZZZZZZZZZZZZZZZZZZ" });
      expect(unknown.statusCode).toBe(404);
      expect(unknown.json().code).toBe("surface_not_found");
    });
  });

  describe("timeouts (TestClock)", () => {
    it("idle timeout: use keeps a session alive; idleMs without use ends it (401 session_expired)", async () => {
      const { idleMs } = t.config.sessions;
      expect(idleMs).toBe(30 * MINUTE);
      await createUser("alice@example.com");
      const { token } = await open("alice@example.com");
      clock.advance(idleMs - MINUTE);
      expect((await me(token)).statusCode).toBe(200);
      clock.advance(idleMs - MINUTE); // 58 minutes after login, 29 after the last use
      expect((await me(token)).statusCode).toBe(200);
      clock.advance(idleMs + 1);
      await expectDead(token, "session_expired");
      // It stays dead even if used again right away.
      await expectDead(token, "session_expired");
    });

    it("absolute timeout: a session used every 20 minutes still ends absoluteMs after login", async () => {
      const { absoluteMs } = t.config.sessions;
      expect(absoluteMs).toBe(12 * 60 * MINUTE);
      await createUser("alice@example.com");
      const loginAt = clock.now();
      const { token, session } = await open("alice@example.com");
      expect(Date.parse(session.expiresAt)).toBe(loginAt + absoluteMs);
      let uses = 0;
      while (clock.now() + 20 * MINUTE < loginAt + absoluteMs) {
        clock.advance(20 * MINUTE);
        const res = await me(token);
        expect(res.statusCode, `after ${(clock.now() - loginAt) / MINUTE} min`).toBe(200);
        uses++;
      }
      expect(uses).toBe(35);
      clock.advance(20 * MINUTE);
      expect(clock.now()).toBeGreaterThanOrEqual(loginAt + absoluteMs);
      await expectDead(token, "session_expired");
    });
  });

  describe("logout", () => {
    it("revokes the session server-side: replaying the token answers 401; other sessions live on", async () => {
      const user = await createUser("alice@example.com");
      const a = await open("alice@example.com");
      const b = await open("alice@example.com");
      expect((await me(a.token)).statusCode).toBe(200); // cached now
      const res = await call(a.token, "/v1/auth/logout");
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ revoked: 1 });
      await expectDead(a.token);
      expect((await call(a.token, "/v1/auth/logout")).statusCode).toBe(401);
      expect((await me(b.token)).statusCode).toBe(200);
      expect(await facts("user.logged_out")).toEqual([
        { env: p.a.id, actor: user.id, targets: [user.id, a.session.id] },
      ]);
    });
  });

  describe("managing one's own sessions", () => {
    it("lists the live sessions with the current flag, IP and user agent (not other users', not revoked ones)", async () => {
      await createUser("alice@example.com");
      await createUser("bob@example.com");
      const laptop = await open("alice@example.com", { ip: "198.51.100.1", userAgent: "Laptop/1.0" });
      const phone = await open("alice@example.com", { ip: "198.51.100.2", userAgent: "Phone/2.0" });
      const gone = await open("alice@example.com");
      await open("bob@example.com");
      expect((await call(gone.token, "/v1/auth/logout")).statusCode).toBe(200);

      const res = await t.inject({ method: "GET", url: "/v1/auth/sessions", headers: bearer(laptop.token) });
      expect(res.statusCode).toBe(200);
      const { data } = res.json() as { data: Session[] };
      expect(data.map((s) => [s.id, s.current, s.ip, s.userAgent])).toEqual([
        [laptop.session.id, true, "198.51.100.1", "Laptop/1.0"],
        [phone.session.id, false, "198.51.100.2", "Phone/2.0"],
      ]);
    });

    it("revokes one of its sessions; another user's session id answers 404 session_not_found", async () => {
      const alice = await createUser("alice@example.com");
      await createUser("bob@example.com");
      const a1 = await open("alice@example.com");
      const a2 = await open("alice@example.com");
      const bob = await open("bob@example.com");
      expect((await me(a2.token)).statusCode).toBe(200);

      const res = await call(a1.token, `/v1/auth/sessions/${a2.session.id}/revoke`);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ revoked: 1 });
      await expectDead(a2.token);
      expect((await me(a1.token)).statusCode).toBe(200);
      expect(await facts("session.revoked")).toEqual([
        { env: p.a.id, actor: alice.id, targets: [alice.id, a2.session.id] },
      ]);

      for (const id of [bob.session.id, "ses_01JZZZZZZZZZZZZZZZZZZZZZZZ"]) {
        const other = await call(a1.token, `/v1/auth/sessions/${id}/revoke`);
        expect(other.statusCode).toBe(404);
        expect(other.json().code).toBe("session_not_found");
      }
      expect((await me(bob.token)).statusCode).toBe(200);
    });

    it("revoke-others ends every other session and keeps the current one", async () => {
      const alice = await createUser("alice@example.com");
      const [a1, a2, a3] = [
        await open("alice@example.com"),
        await open("alice@example.com"),
        await open("alice@example.com"),
      ];
      if (!a1 || !a2 || !a3) throw new Error("unreachable");
      const res = await call(a1.token, "/v1/auth/sessions/revoke-others");
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ revoked: 2 });
      expect((await me(a1.token)).statusCode).toBe(200);
      await expectDead(a2.token);
      await expectDead(a3.token);
      expect(await facts("session.revoked_others")).toEqual([
        { env: p.a.id, actor: alice.id, targets: [alice.id, a2.session.id, a3.session.id] },
      ]);
    });

    it("revoke-all ends every session, the current one included", async () => {
      const alice = await createUser("alice@example.com");
      const a1 = await open("alice@example.com");
      const a2 = await open("alice@example.com");
      const res = await call(a1.token, "/v1/auth/sessions/revoke-all");
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ revoked: 2 });
      await expectDead(a1.token);
      await expectDead(a2.token);
      expect(await facts("session.revoked_all")).toEqual([
        { env: p.a.id, actor: alice.id, targets: [alice.id, a1.session.id, a2.session.id] },
      ]);
    });

    it("session routes need a user session: a secret key is refused (403)", async () => {
      const res = await t.inject({ method: "GET", url: "/v1/auth/sessions", headers: bearer(p.a.secretKey) });
      expect(res.statusCode).toBe(403);
      expect(res.json().code).toBe("forbidden");
    });
  });

  describe("the product backend ends sessions", () => {
    it("disabling a user ends all its sessions at once, cached ones included; re-enabling does not revive them", async () => {
      const alice = await createUser("alice@example.com");
      const s1 = await open("alice@example.com");
      const s2 = await open("alice@example.com");
      expect((await me(s1.token)).statusCode).toBe(200);
      expect((await me(s1.token)).statusCode).toBe(200);
      const { cache } = t.app.service(identityModule).core;
      expect(cache.get(sha256Hex(s1.token), clock.now())).not.toBeNull(); // served from the cache now

      const patch = (disabled: boolean) =>
        t.inject({
          method: "PATCH",
          url: `/v1/users/${alice.id}`,
          headers: bearer(p.a.secretKey),
          payload: { disabled },
        });
      const disabled = await patch(true);
      expect(disabled.statusCode).toBe(200);
      expect(disabled.json().disabled).toBe(true);
      await expectDead(s1.token);
      await expectDead(s2.token);
      const refused = await login("alice@example.com");
      expect(refused.statusCode).toBe(401);
      expect(refused.json().code).toBe("invalid_login");

      expect((await patch(false)).json().disabled).toBe(false);
      await expectDead(s1.token);
      await expectDead(s2.token);
      const fresh = await open("alice@example.com");
      expect((await me(fresh.token)).statusCode).toBe(200);

      expect(await facts("user.disabled")).toEqual([{ env: p.a.id, actor: p.a.secretKeyId, targets: [alice.id] }]);
      expect(await facts("user.enabled")).toEqual([{ env: p.a.id, actor: p.a.secretKeyId, targets: [alice.id] }]);
      const live = await t.inject({
        method: "GET",
        url: `/v1/users/${alice.id}/sessions`,
        headers: bearer(p.a.secretKey),
      });
      expect(live.json().data.map((s: Session) => s.id)).toEqual([fresh.session.id]);
    });

    it("POST /v1/users/:id/sessions/revoke ends every session of the user", async () => {
      const alice = await createUser("alice@example.com");
      const s1 = await open("alice@example.com");
      const s2 = await open("alice@example.com");
      expect((await me(s1.token)).statusCode).toBe(200);
      const res = await call(p.a.secretKey, `/v1/users/${alice.id}/sessions/revoke`);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ revoked: 2 });
      await expectDead(s1.token);
      await expectDead(s2.token);
      expect(await facts("session.revoked_all")).toEqual([
        { env: p.a.id, actor: p.a.secretKeyId, targets: [alice.id, s1.session.id, s2.session.id] },
      ]);
    });

    it("archiving the session's surface ends it", async () => {
      await createUser("alice@example.com");
      const s = await open("alice@example.com");
      expect((await me(s.token)).statusCode).toBe(200);
      const archived = await call(p.operatorToken, `/v1/surfaces/${p.a.surfaceId}/archive`);
      expect(archived.statusCode).toBe(200);
      await expectDead(s.token);
    });
  });
});
