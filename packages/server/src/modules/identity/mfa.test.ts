import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { bearer, MfaClient } from "../../testing/mfa.js";

// Multi-factor authentication through HTTP: enrolment, the login challenge, aal-2 sessions,
// surface policies, removal and recovery codes, and the facts they record.

/** START: a step boundary (12:00:00 UTC), so tests can reason about TOTP steps. */
const START = Date.UTC(2026, 11, 7, 12, 0, 0);

describeEachEngine("MFA", (engine) => {
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

  describe("enrolment and sign-in", () => {
    it("enrols TOTP, then login answers a challenge that a code turns into an aal-2 session", async () => {
      const alice = await m.enrol("alice");
      expect(alice.recoveryCodes).toHaveLength(10);
      expect(new Set(alice.recoveryCodes).size).toBe(10);
      expect(alice.secret).toMatch(/^[A-Z2-7]{32}$/);

      const factors = await t.inject({ method: "GET", url: "/v1/auth/mfa/factors", headers: bearer(alice.token) });
      expect(factors.statusCode).toBe(200);
      expect(factors.json()).toMatchObject({ data: [{ id: alice.factorId, kind: "totp" }], recoveryCodesLeft: 10 });
      expect(factors.body).not.toContain(alice.secret);

      const challenge = await m.challenge(alice.email);
      expect(challenge).toMatchObject({ purpose: "sign_in", methods: ["totp", "recovery_code"] });
      expect(challenge.challengeToken).toMatch(/^bp_mc_/);
      expect(Date.parse(String(challenge.expiresAt))).toBe(clock.now() + 5 * 60_000);

      const wrong = await m.verify(challenge.challengeToken, { code: "000000" });
      expect(wrong.statusCode).toBe(401);
      expect(wrong.json()).toMatchObject({ code: "invalid_mfa_code" });

      m.nextStep();
      const ok = await m.verify(challenge.challengeToken, { code: await m.code(alice.secret) });
      expect(ok.statusCode, ok.body).toBe(201);
      const issued = ok.json();
      expect(issued.session).toMatchObject({
        aal: 2,
        authMethod: "password",
        secondFactorAt: new Date(clock.now()).toISOString(),
      });
      expect(issued.user.id).toBe(alice.userId);
      const me = await t.inject({ method: "GET", url: "/v1/auth/me", headers: bearer(issued.token) });
      expect(me.statusCode).toBe(200);

      // The challenge was used.
      const again = await m.verify(challenge.challengeToken, { code: await m.code(alice.secret, 1) });
      expect(again.statusCode).toBe(400);
      expect(again.json()).toMatchObject({ code: "invalid_mfa_challenge" });
    });

    it("leaves login unchanged for users without a second factor", async () => {
      const bob = await m.createUser("bob");
      const res = await m.login(bob.email);
      expect(res.statusCode).toBe(201);
      expect(res.json()).toMatchObject({ token: expect.stringMatching(/^bp_st_/), session: { aal: 1 } });
    });

    it("confirming needs a right code of the pending secret; a started enrolment is not a factor", async () => {
      const user = await m.createUser("carol");
      const { token } = await m.session(user.email);
      const noPending = await m.post(token, "/v1/auth/mfa/totp/confirm", { code: "123456" });
      expect(noPending.json()).toMatchObject({ code: "mfa_not_enrolled" });
      const first = (await m.post(token, "/v1/auth/mfa/totp")).json();
      const second = (await m.post(token, "/v1/auth/mfa/totp")).json();
      expect(second.secret).not.toBe(first.secret);
      // Pending only: login still opens a session at once.
      await m.session(user.email);
      // The replaced secret no longer confirms.
      const stale = await m.post(token, "/v1/auth/mfa/totp/confirm", { code: await m.code(first.secret) });
      expect(stale.statusCode).toBe(401);
      const bad = await m.post(token, "/v1/auth/mfa/totp/confirm", { code: "12345" });
      expect(bad.statusCode).toBe(401);
      const ok = await m.post(token, "/v1/auth/mfa/totp/confirm", { code: await m.code(second.secret) });
      expect(ok.statusCode, ok.body).toBe(200);
      // Confirming shows a second factor in this session.
      const sessions = await t.inject({ method: "GET", url: "/v1/auth/sessions", headers: bearer(token) });
      const current = sessions.json().data.find((s: { current: boolean }) => s.current);
      expect(current).toMatchObject({ aal: 2, secondFactorAt: new Date(clock.now()).toISOString() });
      const twice = await m.post(token, "/v1/auth/mfa/totp");
      expect(twice.statusCode).toBe(409);
      expect(twice.json()).toMatchObject({ code: "mfa_already_enrolled" });
    });

    it("stores the TOTP secret sealed, and recovery codes and challenge tokens as hashes", async () => {
      const alice = await m.enrol("sealed");
      const { challengeToken } = await m.challenge(alice.email);
      const db = t.app.db.kysely;
      const factor = await db
        .selectFrom("mfa_factor" as never)
        .selectAll()
        .executeTakeFirstOrThrow();
      expect(JSON.stringify(factor)).not.toContain(alice.secret);
      expect((factor as { secret: string }).secret).toMatch(/^bps1\./);
      const codes = JSON.stringify(
        await db
          .selectFrom("mfa_recovery_code" as never)
          .selectAll()
          .execute(),
      );
      for (const code of alice.recoveryCodes) expect(codes).not.toContain(code);
      const challenges = JSON.stringify(
        await db
          .selectFrom("mfa_challenge" as never)
          .selectAll()
          .execute(),
      );
      expect(challenges).not.toContain(challengeToken);
    });

    it("the otpauth URI names the product (the surface's product name, else its name)", async () => {
      const user = await m.createUser("uri");
      const { token } = await m.session(user.email);
      const plain = (await m.post(token, "/v1/auth/mfa/totp")).json();
      expect(decodeURIComponent(plain.otpauthUri)).toContain("issuer=");
      const res = await t.inject({
        method: "PATCH",
        url: `/v1/surfaces/${p.a.surfaceId}/auth-settings`,
        headers: bearer(p.a.secretKey),
        payload: { email: { productName: "Acme Portal" } },
      });
      expect(res.statusCode).toBe(200);
      const named = (await m.post(token, "/v1/auth/mfa/totp")).json();
      const uri = new URL(named.otpauthUri);
      expect(uri.searchParams.get("issuer")).toBe("Acme Portal");
      expect(uri.searchParams.get("secret")).toBe(named.secret);
      // Authenticator apps' defaults (SHA-1, 6 digits, 30 s) are the plane's, whether named or not.
      for (const [key, value] of [
        ["digits", "6"],
        ["period", "30"],
        ["algorithm", "SHA1"],
      ]) {
        expect([null, value]).toContain(uri.searchParams.get(key as string));
      }
      expect(decodeURIComponent(uri.pathname)).toContain(user.email);
    });
  });

  describe("recovery codes", () => {
    it("signs in with a recovery code once, and regenerating them needs a step-up", async () => {
      const alice = await m.enrol("recover");
      const [first, second] = alice.recoveryCodes as [string, string];
      const c1 = await m.challenge(alice.email);
      const used = await m.verify(c1.challengeToken, { recoveryCode: first.toUpperCase() });
      expect(used.statusCode, used.body).toBe(201);
      expect(used.json().session).toMatchObject({ aal: 2 });
      const c2 = await m.challenge(alice.email);
      const reuse = await m.verify(c2.challengeToken, { recoveryCode: first });
      expect(reuse.statusCode).toBe(401);

      // A fresh second factor is recent: regenerating works at once from the new session.
      const token = used.json().token as string;
      const regen = await m.post(token, "/v1/auth/mfa/recovery-codes");
      expect(regen.statusCode, regen.body).toBe(201);
      const fresh = regen.json().recoveryCodes as string[];
      expect(fresh).toHaveLength(10);
      // The old codes stopped working.
      const old = await m.verify(c2.challengeToken, { recoveryCode: second });
      expect(old.statusCode).toBe(401);
      const ok = await m.verify(c2.challengeToken, { recoveryCode: fresh[0] });
      expect(ok.statusCode).toBe(201);

      // Past the step-up age, regenerating is refused until the user steps up.
      clock.advance(16 * 60_000);
      const usedSession = ok.json().token as string;
      const stale = await m.post(usedSession, "/v1/auth/mfa/recovery-codes");
      expect(stale.statusCode).toBe(403);
      expect(stale.json()).toMatchObject({ code: "step_up_required" });
      const up = await m.stepUp(usedSession, { code: await m.code(alice.secret) });
      expect(up.statusCode, up.body).toBe(200);
      expect((await m.post(usedSession, "/v1/auth/mfa/recovery-codes")).statusCode).toBe(201);
    });
  });

  describe("removal", () => {
    it("removing a factor needs a recent step-up; then login opens a session again", async () => {
      const alice = await m.enrol("remove");
      const token = await m.signIn(alice);
      clock.advance(16 * 60_000);
      const del = () =>
        t.inject({ method: "DELETE", url: `/v1/auth/mfa/factors/${alice.factorId}`, headers: bearer(token) });
      const refused = await del();
      expect(refused.statusCode).toBe(403);
      expect(refused.json()).toMatchObject({ code: "step_up_required" });
      expect(refused.json().detail).toContain("/v1/auth/mfa/step-up");

      const wrong = await m.stepUp(token, { code: "000000" });
      expect(wrong.statusCode).toBe(401);
      expect((await del()).statusCode).toBe(403);
      const up = await m.stepUp(token, { code: await m.code(alice.secret) });
      expect(up.statusCode, up.body).toBe(200);
      expect(up.json().session).toMatchObject({ aal: 2, secondFactorAt: new Date(clock.now()).toISOString() });
      const removed = await del();
      expect(removed.statusCode, removed.body).toBe(200);
      expect(removed.json()).toMatchObject({ id: alice.factorId, kind: "totp" });
      expect((await del()).statusCode).toBe(404);

      const factors = await t.inject({ method: "GET", url: "/v1/auth/mfa/factors", headers: bearer(token) });
      expect(factors.json()).toMatchObject({ data: [], recoveryCodesLeft: 0 });
      await m.session(alice.email);
    });

    it("another user's factor answers 404", async () => {
      const alice = await m.enrol("owner");
      const bob = await m.createUser("other");
      const { token } = await m.session(bob.email);
      const res = await t.inject({
        method: "DELETE",
        url: `/v1/auth/mfa/factors/${alice.factorId}`,
        headers: bearer(token),
      });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toMatchObject({ code: "mfa_factor_not_found" });
    });
  });

  describe("surface policy", () => {
    it("required: a user without a factor enrols with the challenge, then gets an aal-2 session", async () => {
      await m.setPolicy({ policy: "required" });
      const bob = await m.createUser("bob");
      const challenge = await m.challenge(bob.email);
      expect(challenge).toMatchObject({ purpose: "enroll", methods: ["totp"] });

      // A TOTP code cannot be verified before an enrolment started.
      const early = await m.verify(challenge.challengeToken, { code: "123456" });
      expect(early.json()).toMatchObject({ code: "mfa_not_enrolled" });
      const recovery = await m.verify(challenge.challengeToken, { recoveryCode: "abcd-efgh-jkmn" });
      expect(recovery.json()).toMatchObject({ code: "mfa_method_unavailable" });

      const enrol = await t.inject({
        method: "POST",
        url: "/v1/auth/mfa/enroll/totp",
        payload: { surfaceId: p.a.surfaceId, challengeToken: challenge.challengeToken },
      });
      expect(enrol.statusCode, enrol.body).toBe(201);
      const { secret } = enrol.json();
      const done = await m.verify(challenge.challengeToken, { code: await m.code(secret) });
      expect(done.statusCode, done.body).toBe(201);
      expect(done.json().session).toMatchObject({ aal: 2 });
      expect(done.json().recoveryCodes).toHaveLength(10);

      // From now on the user is challenged to show the factor.
      const next = await m.challenge(bob.email);
      expect(next).toMatchObject({ purpose: "sign_in", methods: ["totp", "recovery_code"] });
      // A sign-in challenge cannot start an enrolment.
      const enrolAgain = await t.inject({
        method: "POST",
        url: "/v1/auth/mfa/enroll/totp",
        payload: { surfaceId: p.a.surfaceId, challengeToken: next.challengeToken },
      });
      expect(enrolAgain.statusCode).toBe(400);
    });

    it("required: sign-up answers an enrolment challenge instead of a session", async () => {
      const open = await t.inject({
        method: "PATCH",
        url: `/v1/surfaces/${p.a.surfaceId}`,
        headers: bearer(p.operatorToken),
        payload: { selfSignup: true },
      });
      expect(open.statusCode, open.body).toBe(200);
      await m.setPolicy({ policy: "required" });
      const res = await t.inject({
        method: "POST",
        url: "/v1/auth/signup",
        payload: { surfaceId: p.a.surfaceId, email: "new@example.com", password: "a long enough passphrase" },
      });
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json()).toMatchObject({ mfaRequired: true, purpose: "enroll" });
    });

    it("required_for_admins: only users holding an admin role in a tenant are challenged", async () => {
      await m.setPolicy({ policy: "required_for_admins" });
      const member = await m.createUser("member");
      const admin = await m.createUser("admin");
      await m.tenantOwnedBy(member.id, ["member"]);
      await m.session(member.email);
      await m.session(admin.email);
      await m.tenantOwnedBy(admin.id, ["admin"]);
      expect(await m.challenge(admin.email)).toMatchObject({ purpose: "enroll" });
      await m.session(member.email);
    });
  });

  describe("facts", () => {
    it("records enrolment, verification, step-up and removal, with no secret in them", async () => {
      const alice = await m.enrol("facts");
      const { challengeToken } = await m.challenge(alice.email);
      m.nextStep();
      const code = await m.code(alice.secret);
      const verified = await m.verify(challengeToken, { code });
      const token = verified.json().token as string;
      const { challengeToken: second } = await m.challenge(alice.email);
      await m.verify(second, { recoveryCode: alice.recoveryCodes[3] });
      m.nextStep();
      expect((await m.stepUp(token, { code: await m.code(alice.secret) })).statusCode).toBe(200);
      const del = await t.inject({
        method: "DELETE",
        url: `/v1/auth/mfa/factors/${alice.factorId}`,
        headers: bearer(token),
      });
      expect(del.statusCode).toBe(200);

      const entries = await m.audit(["user.mfa_enrolled", "user.mfa_verified", "user.mfa_removed"]);
      expect(entries.map((e) => e.action)).toEqual([
        "user.mfa_enrolled",
        "user.mfa_verified",
        "user.mfa_verified",
        "user.mfa_verified",
        "user.mfa_removed",
      ]);
      const text = JSON.stringify(entries);
      expect(text).toContain('"sign_in"');
      expect(text).toContain('"step_up"');
      expect(text).toContain('"recovery_code"');
      expect(text).toContain('"recoveryCodesLeft":9');
      for (const secret of [alice.secret, code, challengeToken, second, ...alice.recoveryCodes]) {
        expect(text).not.toContain(secret);
      }
      for (const e of entries) expect(e.environment_id).toBe(p.a.id);
      const logins = await m.audit(["user.logged_in"]);
      expect(JSON.stringify(logins.at(-1))).toContain('"aal":2');
    });
  });
});
