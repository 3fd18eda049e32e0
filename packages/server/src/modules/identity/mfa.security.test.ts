import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { bearer, MfaClient } from "../../testing/mfa.js";

// MFA as an attacker meets it: replayed and raced codes, reused and stolen challenges, guessing,
// and sensitive actions without a recent second factor.

const START = Date.UTC(2026, 11, 7, 12, 0, 0);

describeEachEngine("MFA security", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let clock: TestClock;
  let m: MfaClient;
  beforeEach(async () => {
    clock = new TestClock(START);
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
    m = new MfaClient(t, p, clock);
  });
  afterEach(async () => t?.close());

  describe("TOTP codes", () => {
    it("a code is accepted once: replay within its step and an older step are refused", async () => {
      const alice = await m.enrol("replay");
      m.nextStep();
      const code = await m.code(alice.secret);
      const c1 = await m.challenge(alice.email);
      expect((await m.verify(c1.challengeToken, { code })).statusCode).toBe(201);
      // The same code in the same step, on a new challenge: refused.
      const c2 = await m.challenge(alice.email);
      const replay = await m.verify(c2.challengeToken, { code });
      expect(replay.statusCode).toBe(401);
      expect(replay.json()).toMatchObject({ code: "invalid_mfa_code" });
      // The previous step's code is within the window, but older than the one accepted.
      expect((await m.verify(c2.challengeToken, { code: await m.code(alice.secret, -1) })).statusCode).toBe(401);
      // The next step's code (clock drift of one step) is accepted, once.
      const ahead = await m.code(alice.secret, 1);
      expect((await m.verify(c2.challengeToken, { code: ahead })).statusCode).toBe(201);
      // Then even the current step's fresh code is older than the last accepted step.
      const c3 = await m.challenge(alice.email);
      expect((await m.verify(c3.challengeToken, { code: ahead })).statusCode).toBe(401);
      m.nextStep();
      m.nextStep();
      expect((await m.verify(c3.challengeToken, { code: await m.code(alice.secret) })).statusCode).toBe(201);
    });

    it("accepts one step either side of the clock, not two", async () => {
      const alice = await m.enrol("window");
      m.nextStep();
      m.nextStep();
      m.nextStep();
      const c = await m.challenge(alice.email);
      expect((await m.verify(c.challengeToken, { code: await m.code(alice.secret, 2) })).statusCode).toBe(401);
      expect((await m.verify(c.challengeToken, { code: await m.code(alice.secret, -2) })).statusCode).toBe(401);
      expect((await m.verify(c.challengeToken, { code: await m.code(alice.secret, -1) })).statusCode).toBe(201);
    });

    it("two sign-ins racing with one code: exactly one wins", async () => {
      const alice = await m.enrol("race");
      m.nextStep();
      const code = await m.code(alice.secret);
      const [a, b] = [await m.challenge(alice.email), await m.challenge(alice.email)];
      const results = await Promise.all([m.verify(a.challengeToken, { code }), m.verify(b.challengeToken, { code })]);
      expect(results.map((r) => r.statusCode).sort()).toEqual([201, 401]);
    });

    it("a step-up and a sign-in racing with one code: exactly one wins", async () => {
      const alice = await m.enrol("race-step-up");
      m.nextStep();
      const code = await m.code(alice.secret);
      const c = await m.challenge(alice.email);
      const results = await Promise.all([m.stepUp(alice.token, { code }), m.verify(c.challengeToken, { code })]);
      expect(results.map((r) => r.statusCode).sort()).toEqual([200, 401]);
    });
  });

  describe("recovery codes", () => {
    it("two sign-ins racing with one recovery code: exactly one wins", async () => {
      const alice = await m.enrol("recovery-race");
      const [a, b] = [await m.challenge(alice.email), await m.challenge(alice.email)];
      const recoveryCode = alice.recoveryCodes[0];
      const results = await Promise.all([
        m.verify(a.challengeToken, { recoveryCode }),
        m.verify(b.challengeToken, { recoveryCode }),
      ]);
      expect(results.map((r) => r.statusCode).sort()).toEqual([201, 401]);
      const factors = await t.inject({ method: "GET", url: "/v1/auth/mfa/factors", headers: bearer(alice.token) });
      expect(factors.json().recoveryCodesLeft).toBe(9);
    });

    it("another user's recovery code does not work", async () => {
      const alice = await m.enrol("alice");
      const bob = await m.enrol("bob");
      const c = await m.challenge(alice.email);
      expect((await m.verify(c.challengeToken, { recoveryCode: bob.recoveryCodes[0] })).statusCode).toBe(401);
      const cb = await m.challenge(bob.email);
      expect((await m.verify(cb.challengeToken, { recoveryCode: bob.recoveryCodes[0] })).statusCode).toBe(201);
    });
  });

  describe("challenges", () => {
    it("expire after 5 minutes", async () => {
      const alice = await m.enrol("expiry");
      const c = await m.challenge(alice.email);
      clock.advance(5 * 60_000);
      const res = await m.verify(c.challengeToken, { code: await m.code(alice.secret, 1) });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: "invalid_mfa_challenge" });
    });

    it("are bound to their surface: another surface of the environment or another environment refuses them", async () => {
      const alice = await m.enrol("surface");
      const other = await t.inject({
        method: "POST",
        url: `/v1/environments/${p.a.id}/surfaces`,
        headers: bearer(p.operatorToken),
        payload: { name: "Other", kind: "web" },
      });
      expect(other.statusCode, other.body).toBe(201);
      const c = await m.challenge(alice.email);
      m.nextStep();
      const code = await m.code(alice.secret);
      for (const surfaceId of [other.json().id, p.b.surfaceId]) {
        const res = await m.verify(c.challengeToken, { code }, surfaceId);
        expect(res.statusCode).toBe(400);
        expect(res.json()).toMatchObject({ code: "invalid_mfa_challenge" });
      }
      // Neither spent the code nor the challenge.
      const ok = await m.verify(c.challengeToken, { code });
      expect(ok.statusCode).toBe(201);
      expect(ok.json().session.surfaceId).toBe(p.a.surfaceId);
    });

    it("a made-up or session token is no challenge", async () => {
      const alice = await m.enrol("forged");
      for (const challengeToken of ["bp_mc_nope", alice.token, ""]) {
        const res = await m.verify(challengeToken, { code: "123456" });
        expect(res.statusCode).toBe(400);
      }
    });

    it("guessing is throttled per challenge, and a new login does not reset the user's budget", async () => {
      const alice = await m.enrol("guess");
      const c = await m.challenge(alice.email);
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await m.verify(c.challengeToken, { code: "000000" })).statusCode);
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
      // Even the right code is refused once the challenge's attempts are spent.
      m.nextStep();
      expect((await m.verify(c.challengeToken, { code: await m.code(alice.secret) })).statusCode).toBe(429);
      const c2 = await m.challenge(alice.email);
      const more: number[] = [];
      for (let i = 0; i < 4; i++) more.push((await m.verify(c2.challengeToken, { code: "000000" })).statusCode);
      // 10 attempts per user in 15 minutes: the enrolment's confirmation, 6 guesses and the right
      // code refused above leave two.
      expect(more).toEqual([401, 401, 429, 429]);
      clock.advance(15 * 60_000);
      const c3 = await m.challenge(alice.email);
      expect((await m.verify(c3.challengeToken, { code: await m.code(alice.secret) })).statusCode).toBe(201);
    });

    it("a user disabled after the password step cannot complete the challenge", async () => {
      const alice = await m.enrol("disabled");
      const c = await m.challenge(alice.email);
      const off = await t.inject({
        method: "PATCH",
        url: `/v1/users/${alice.userId}`,
        headers: bearer(p.a.secretKey),
        payload: { disabled: true },
      });
      expect(off.statusCode, off.body).toBe(200);
      m.nextStep();
      const res = await m.verify(c.challengeToken, { code: await m.code(alice.secret) });
      expect(res.statusCode).toBe(400);
    });
  });

  describe("step-up on sensitive routes", () => {
    it("key creation and role changes need a recent second factor from an enrolled user", async () => {
      const alice = await m.enrol("admin");
      const bob = await m.createUser("bob");
      const { tenantId } = await m.tenantOwnedBy(alice.userId);
      const member = await m.post(p.a.secretKey, `/v1/tenants/${tenantId}/members`, {
        userId: bob.id,
        roles: ["member"],
      });
      const token = await m.signIn(alice);
      const createKey = () =>
        m.post(token, `/v1/tenants/${tenantId}/keys`, { name: "ci", permissions: ["members:read"] });
      const createAgent = () =>
        m.post(token, `/v1/tenants/${tenantId}/agent-keys`, { name: "bot", scopes: ["members:read"] });
      const changeRoles = (roles: string[]) =>
        t.inject({
          method: "PATCH",
          url: `/v1/tenants/${tenantId}/members/${member.json().id}`,
          headers: bearer(token),
          payload: { roles },
        });

      // Fresh from the sign-in's second factor.
      expect((await createKey()).statusCode).toBe(201);
      clock.advance(15 * 60_000 + 1);
      for (const res of [await createKey(), await createAgent(), await changeRoles(["admin"])]) {
        expect(res.statusCode, res.body).toBe(403);
        expect(res.json()).toMatchObject({ code: "step_up_required" });
      }
      const up = await m.stepUp(token, { code: await m.code(alice.secret) });
      expect(up.statusCode, up.body).toBe(200);
      // Visible at once, although the session is cached.
      expect((await createKey()).statusCode).toBe(201);
      expect((await createAgent()).statusCode).toBe(201);
      expect((await changeRoles(["admin"])).statusCode).toBe(200);
    });

    it("follows the surface's stepUpMaxAgeSeconds", async () => {
      const alice = await m.enrol("age");
      const { tenantId } = await m.tenantOwnedBy(alice.userId);
      await m.setPolicy({ stepUpMaxAgeSeconds: 60 });
      const token = await m.signIn(alice);
      const createKey = () =>
        m.post(token, `/v1/tenants/${tenantId}/keys`, { name: "ci", permissions: ["members:read"] });
      clock.advance(60_000);
      expect((await createKey()).statusCode).toBe(201);
      clock.advance(1);
      expect((await createKey()).statusCode).toBe(403);
    });

    it("an aal-1 session of an enrolled user (e.g. opened before enrolling) must step up", async () => {
      const alice = await m.enrol("aal1");
      const { tenantId } = await m.tenantOwnedBy(alice.userId);
      // Enrolling counted as a second factor in that session; past the age it no longer does.
      clock.advance(16 * 60_000);
      const res = await m.post(alice.token, `/v1/tenants/${tenantId}/keys`, {
        name: "ci",
        permissions: ["members:read"],
      });
      expect(res.statusCode).toBe(403);
    });

    it("no step-up for users without MFA under the optional policy, nor for secret keys", async () => {
      const carol = await m.createUser("carol");
      const { tenantId } = await m.tenantOwnedBy(carol.id);
      const { token } = await m.session(carol.email);
      expect(
        (await m.post(token, `/v1/tenants/${tenantId}/keys`, { name: "ci", permissions: ["members:read"] })).statusCode,
      ).toBe(201);
      await m.setPolicy({ policy: "required" });
      const byKey = await m.post(p.a.secretKey, `/v1/tenants/${tenantId}/keys`, {
        name: "backend",
        permissions: ["members:read"],
      });
      expect(byKey.statusCode).toBe(201);
      // Under `required`, the same user session must now enrol and step up.
      const res = await m.post(token, `/v1/tenants/${tenantId}/keys`, { name: "ci2", permissions: ["members:read"] });
      expect(res.statusCode).toBe(403);
      expect(res.json().detail).toContain("enrol");
    });

    it("stepping up needs an enrolled factor and a right code", async () => {
      const carol = await m.createUser("carol");
      const { token } = await m.session(carol.email);
      const none = await m.stepUp(token, { code: "123456" });
      expect(none.statusCode).toBe(409);
      expect(none.json()).toMatchObject({ code: "mfa_not_enrolled" });
      const alice = await m.enrol("steps");
      m.nextStep();
      expect((await m.stepUp(alice.token, { code: "000000" })).statusCode).toBe(401);
      expect((await m.stepUp(alice.token, { recoveryCode: alice.recoveryCodes[0] })).statusCode).toBe(200);
      expect((await m.stepUp(alice.token, { recoveryCode: alice.recoveryCodes[0] })).statusCode).toBe(401);
      const both = await m.stepUp(alice.token, { code: "123456", recoveryCode: alice.recoveryCodes[1] });
      expect(both.statusCode).toBe(400);
    });
  });
});
