import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { newId } from "../../platform/ids.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { type CreationOptions, type RequestOptions, SoftAuthenticator } from "../../testing/webauthn.js";
import { identityModule } from "./index.js";

// Passkeys: per-surface relying party, registration, passwordless sign-in, the second-factor seam,
// and what an attacker would try (other origins and rpIds, replays, clones, other users and surfaces).

const ORIGIN = "http://localhost:3000";
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

interface FactRow {
  type: string;
  environment_id: string | null;
  actor_id: string | null;
  targets: string;
}

describeEachEngine("Passkeys", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let clock: TestClock;
  beforeEach(async () => {
    clock = new TestClock();
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
    await enable(p.a.surfaceId, p.a.secretKey);
  });
  afterEach(async () => t?.close());

  async function enable(surfaceId: string, key: string, passkeys: Record<string, unknown> = {}) {
    const res = await t.inject({
      method: "PATCH",
      url: `/v1/surfaces/${surfaceId}/auth-settings`,
      headers: bearer(key),
      payload: { passkeys: { enabled: true, rpId: "localhost", origins: [ORIGIN], ...passkeys } },
    });
    expect(res.statusCode, res.body).toBe(200);
  }

  /** signIn creates a user (password) and logs it in on `surfaceId`; returns its token and id. */
  async function signIn(email: string, surfaceId = p.a.surfaceId, key = p.a.secretKey) {
    const created = await t.inject({
      method: "POST",
      url: "/v1/users",
      headers: bearer(key),
      payload: { email, password: TEST_PASSWORD },
    });
    expect(created.statusCode, created.body).toBe(201);
    return { ...(await login(email, surfaceId)), id: created.json().id as string };
  }

  async function login(email: string, surfaceId = p.a.surfaceId) {
    const res = await t.inject({
      method: "POST",
      url: "/v1/auth/login",
      payload: { surfaceId, email, password: TEST_PASSWORD },
    });
    expect(res.statusCode, res.body).toBe(201);
    return { token: res.json().token as string };
  }

  const post = (url: string, payload: unknown, token?: string) =>
    t.inject({ method: "POST", url, payload: payload as object, headers: token ? bearer(token) : {} });

  async function registrationOptions(token: string): Promise<CreationOptions & Record<string, unknown>> {
    const res = await post("/v1/auth/passkeys/registration/options", undefined, token);
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  }

  /** register makes a passkey on `auth` for the session's user and returns its id. */
  async function register(token: string, auth: SoftAuthenticator, name?: string): Promise<string> {
    const options = await registrationOptions(token);
    const res = await post("/v1/auth/passkeys/registration/verify", { response: auth.register(options), name }, token);
    expect(res.statusCode, res.body).toBe(201);
    return res.json().id;
  }

  async function loginOptions(surfaceId = p.a.surfaceId, email?: string) {
    const res = await post("/v1/auth/passkeys/login/options", { surfaceId, ...(email ? { email } : {}) });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { challengeId: string; options: RequestOptions & Record<string, unknown> };
  }

  const verifyLogin = (challengeId: string, response: unknown, surfaceId = p.a.surfaceId) =>
    post("/v1/auth/passkeys/login/verify", { surfaceId, challengeId, response });

  async function facts(type: string) {
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

  describe("registration and sign-in", () => {
    it("registers a passkey, lists it, and signs in with it without a password (aal 2)", async () => {
      const alice = await signIn("alice@example.com");
      const auth = new SoftAuthenticator(ORIGIN);
      const options = await registrationOptions(alice.token);
      expect(options).toMatchObject({
        rp: { id: "localhost", name: "Portal" },
        user: { name: "alice@example.com" },
        timeout: 300_000,
        attestation: "none",
        authenticatorSelection: { residentKey: "preferred", userVerification: "preferred" },
        excludeCredentials: [],
      });
      const res = await post(
        "/v1/auth/passkeys/registration/verify",
        { response: auth.register(options), name: "Laptop" },
        alice.token,
      );
      expect(res.statusCode, res.body).toBe(201);
      const passkey = res.json();
      expect(passkey).toMatchObject({ userId: alice.id, rpId: "localhost", name: "Laptop", transports: ["internal"] });
      expect(passkey.credentialId).toBe(auth.credentials[0]?.id.toString("base64url"));
      expect(await facts("passkey.created")).toEqual([
        { env: p.a.id, actor: alice.id, targets: [alice.id, passkey.id] },
      ]);

      // A second registration excludes the first passkey.
      const again = await registrationOptions(alice.token);
      expect(again.excludeCredentials).toEqual([
        { id: passkey.credentialId, type: "public-key", transports: ["internal"] },
      ]);

      const list = await t.inject({ method: "GET", url: "/v1/auth/passkeys", headers: bearer(alice.token) });
      expect(list.json().data.map((k: { id: string }) => k.id)).toEqual([passkey.id]);

      const { challengeId, options: request } = await loginOptions();
      expect(request.allowCredentials ?? []).toEqual([]);
      const signedIn = await verifyLogin(challengeId, auth.assert(request));
      expect(signedIn.statusCode, signedIn.body).toBe(201);
      const session = signedIn.json();
      expect(session.user.id).toBe(alice.id);
      expect(session.session).toMatchObject({ authMethod: "passkey", aal: 2, surfaceId: p.a.surfaceId });
      expect(Date.parse(session.session.secondFactorAt)).toBe(clock.now());
      const me = await t.inject({ method: "GET", url: "/v1/auth/me", headers: bearer(session.token) });
      expect(me.json().id).toBe(alice.id);
      const after = await t.inject({ method: "GET", url: "/v1/auth/passkeys", headers: bearer(alice.token) });
      expect(Date.parse(after.json().data[0].lastUsedAt)).toBe(clock.now());
    });

    it("opens an aal 1 session when the authenticator did not verify the user", async () => {
      const bob = await signIn("bob@example.com");
      const auth = new SoftAuthenticator(ORIGIN, { userVerified: false });
      await register(bob.token, auth);
      const { challengeId, options } = await loginOptions();
      const res = await verifyLogin(challengeId, auth.assert(options));
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json().session).toMatchObject({ authMethod: "passkey", aal: 1, secondFactorAt: null });
    });

    it("lists the passkeys of an address, and answers an unknown address with the same shape", async () => {
      const carol = await signIn("carol@example.com");
      const auth = new SoftAuthenticator(ORIGIN);
      await register(carol.token, auth);
      const known = await loginOptions(p.a.surfaceId, "carol@example.com");
      const unknown = await loginOptions(p.a.surfaceId, "nobody@example.com");
      const unknownAgain = await loginOptions(p.a.surfaceId, "NOBODY@example.com");
      expect(known.options.allowCredentials).toEqual([
        {
          id: auth.credentials.map((c) => c.id.toString("base64url"))[0],
          type: "public-key",
          transports: ["internal"],
        },
      ]);
      expect(Object.keys(unknown)).toEqual(Object.keys(known));
      expect(Object.keys(unknown.options).sort()).toEqual(Object.keys(known.options).sort());
      expect(unknown.options.allowCredentials).toHaveLength(1);
      expect(unknown.options.allowCredentials).toEqual(unknownAgain.options.allowCredentials);
      const res = await verifyLogin(known.challengeId, auth.assert(known.options));
      expect(res.statusCode, res.body).toBe(201);
    });

    it("refuses every passkey route on a surface where passkeys are off", async () => {
      const dave = await signIn("dave@example.com", p.b.surfaceId, p.b.secretKey);
      for (const res of [
        await post("/v1/auth/passkeys/registration/options", undefined, dave.token),
        await post("/v1/auth/passkeys/login/options", { surfaceId: p.b.surfaceId }),
        await verifyLogin(newId("request"), { id: "x", rawId: "x", type: "public-key", response: {} }, p.b.surfaceId),
      ]) {
        expect(res.statusCode, res.body).toBeGreaterThanOrEqual(400);
        expect(res.statusCode, res.body).toBeLessThan(500);
      }
      const options = await post("/v1/auth/passkeys/registration/options", undefined, dave.token);
      expect(options.json()).toMatchObject({ status: 403, code: "passkeys_disabled" });
      const login = await post("/v1/auth/passkeys/login/options", { surfaceId: p.b.surfaceId });
      expect(login.json()).toMatchObject({ status: 403, code: "passkeys_disabled" });
    });

    it("takes the surface's allowed origins when the passkey settings list none", async () => {
      const res = await t.inject({
        method: "PATCH",
        url: `/v1/surfaces/${p.a.surfaceId}`,
        headers: bearer(p.operatorToken),
        payload: { allowedOrigins: ["http://localhost:4000"] },
      });
      expect(res.statusCode, res.body).toBe(200);
      await enable(p.a.surfaceId, p.a.secretKey, { origins: [], rpId: null });
      const erin = await signIn("erin@example.com");
      const options = await registrationOptions(erin.token);
      expect(options.rp).toMatchObject({ id: "localhost" });
      const wrong = new SoftAuthenticator(ORIGIN);
      const refused = await post(
        "/v1/auth/passkeys/registration/verify",
        { response: wrong.register(options) },
        erin.token,
      );
      expect(refused.json()).toMatchObject({ status: 400, code: "passkey_registration_failed" });
      await register(erin.token, new SoftAuthenticator("http://localhost:4000"));
    });
  });

  describe("attacks on registration", () => {
    it("refuses another origin, another rpId, a reused and an expired challenge", async () => {
      const frank = await signIn("frank@example.com");
      const auth = new SoftAuthenticator(ORIGIN);
      const verify = (response: unknown) => post("/v1/auth/passkeys/registration/verify", { response }, frank.token);

      const wrongOrigin = await verify(
        auth.register(await registrationOptions(frank.token), { origin: "https://evil.example" }),
      );
      expect(wrongOrigin.json()).toMatchObject({ status: 400, code: "passkey_registration_failed" });
      const wrongRp = await verify(auth.register(await registrationOptions(frank.token), { rpId: "evil.example" }));
      expect(wrongRp.json()).toMatchObject({ status: 400, code: "passkey_registration_failed" });
      const unknown = await verify(auth.register(await registrationOptions(frank.token), { challenge: "AAAA" }));
      expect(unknown.json()).toMatchObject({ status: 400, code: "passkey_challenge_invalid" });

      const options = await registrationOptions(frank.token);
      const response = auth.register(options);
      expect((await verify(response)).statusCode).toBe(201);
      const replay = await verify(response);
      expect(replay.json()).toMatchObject({ status: 400, code: "passkey_challenge_invalid" });

      const late = await registrationOptions(frank.token);
      clock.advance(5 * 60_000 + 1);
      const expired = await verify(auth.register(late));
      expect(expired.json()).toMatchObject({ status: 400, code: "passkey_challenge_invalid" });
      expect(await facts("passkey.created")).toHaveLength(1);
    });

    it("binds the challenge to its user: another user cannot finish it", async () => {
      const gina = await signIn("gina@example.com");
      const hank = await signIn("hank@example.com");
      const options = await registrationOptions(gina.token);
      const res = await post(
        "/v1/auth/passkeys/registration/verify",
        { response: new SoftAuthenticator(ORIGIN).register(options) },
        hank.token,
      );
      expect(res.json()).toMatchObject({ status: 400, code: "passkey_challenge_invalid" });
    });

    it("needs a recent sign-in to register", async () => {
      const ivan = await signIn("ivan@example.com");
      clock.advance(16 * 60_000);
      const res = await post("/v1/auth/passkeys/registration/options", undefined, ivan.token);
      expect(res.json()).toMatchObject({ status: 403, code: "recent_sign_in_required" });
    });
  });

  describe("attacks on sign-in", () => {
    let owner: { token: string; id: string };
    let auth: SoftAuthenticator;
    beforeEach(async () => {
      owner = await signIn("owner@example.com");
      auth = new SoftAuthenticator(ORIGIN);
      await register(owner.token, auth);
    });

    it("refuses another origin and another rpId", async () => {
      const a = await loginOptions();
      expect(
        (await verifyLogin(a.challengeId, auth.assert(a.options, { origin: "http://localhost:3001" }))).json(),
      ).toMatchObject({
        status: 401,
        code: "passkey_invalid",
      });
      const b = await loginOptions();
      expect((await verifyLogin(b.challengeId, auth.assert(b.options, { rpId: "127.0.0.1" }))).json()).toMatchObject({
        status: 401,
        code: "passkey_invalid",
      });
      const c = await loginOptions();
      const other = await loginOptions();
      // Signed over another challenge than the one named.
      expect((await verifyLogin(c.challengeId, auth.assert(other.options))).json()).toMatchObject({
        status: 401,
        code: "passkey_invalid",
      });
      expect(await facts("user.logged_in")).toHaveLength(1);
    });

    it("uses a challenge once, even when two answers race", async () => {
      const { challengeId, options } = await loginOptions();
      const response = auth.assert(options);
      const results = await Promise.all([verifyLogin(challengeId, response), verifyLogin(challengeId, response)]);
      expect(results.map((r) => r.statusCode).sort()).toEqual([201, 400]);
      const replay = await verifyLogin(challengeId, response);
      expect(replay.json()).toMatchObject({ status: 400, code: "passkey_challenge_invalid" });
    });

    it("refuses an expired challenge", async () => {
      const { challengeId, options } = await loginOptions();
      clock.advance(5 * 60_000 + 1);
      expect((await verifyLogin(challengeId, auth.assert(options))).json()).toMatchObject({
        status: 400,
        code: "passkey_challenge_invalid",
      });
    });

    it("refuses a counter that did not increase and records a suspected clone", async () => {
      const first = await loginOptions();
      expect((await verifyLogin(first.challengeId, auth.assert(first.options, { counter: 7 }))).statusCode).toBe(201);
      const second = await loginOptions();
      const res = await verifyLogin(second.challengeId, auth.assert(second.options, { counter: 7 }));
      expect(res.json()).toMatchObject({ status: 401, code: "passkey_invalid" });
      const third = await loginOptions();
      expect((await verifyLogin(third.challengeId, auth.assert(third.options, { counter: 3 }))).statusCode).toBe(401);
      const passkeyId = (
        await t.inject({ method: "GET", url: "/v1/auth/passkeys", headers: bearer(owner.token) })
      ).json().data[0].id;
      expect(await facts("passkey.clone_suspected")).toEqual([
        { env: p.a.id, actor: null, targets: [owner.id, passkeyId] },
        { env: p.a.id, actor: null, targets: [owner.id, passkeyId] },
      ]);
      // The challenge of a refused clone is spent, and the genuine authenticator still signs in.
      expect((await verifyLogin(second.challengeId, auth.assert(second.options, { counter: 9 }))).statusCode).toBe(400);
      const fourth = await loginOptions();
      expect((await verifyLogin(fourth.challengeId, auth.assert(fourth.options, { counter: 8 }))).statusCode).toBe(201);
    });

    it("refuses another user's passkey for an address's challenge, and a disabled user", async () => {
      const mallory = await signIn("mallory@example.com");
      const theirs = new SoftAuthenticator(ORIGIN);
      await register(mallory.token, theirs);
      const forOwner = await loginOptions(p.a.surfaceId, "owner@example.com");
      const res = await verifyLogin(forOwner.challengeId, theirs.assert({ ...forOwner.options, allowCredentials: [] }));
      expect(res.json()).toMatchObject({ status: 401, code: "passkey_invalid" });

      // Another user's passkey cannot be renamed or deleted by mallory.
      const ownerKey = (
        await t.inject({ method: "GET", url: "/v1/auth/passkeys", headers: bearer(owner.token) })
      ).json().data[0].id;
      for (const method of ["PATCH", "DELETE"] as const) {
        const r = await t.inject({
          method,
          url: `/v1/auth/passkeys/${ownerKey}`,
          headers: bearer(mallory.token),
          ...(method === "PATCH" ? { payload: { name: "mine" } } : {}),
        });
        expect(r.json()).toMatchObject({ status: 404, code: "passkey_not_found" });
      }

      const disabled = await t.inject({
        method: "PATCH",
        url: `/v1/users/${owner.id}`,
        headers: bearer(p.a.secretKey),
        payload: { disabled: true },
      });
      expect(disabled.statusCode, disabled.body).toBe(200);
      const again = await loginOptions();
      expect((await verifyLogin(again.challengeId, auth.assert(again.options))).json()).toMatchObject({
        status: 401,
        code: "passkey_invalid",
      });
    });

    it("does not verify a challenge of one surface on another, nor a passkey of another environment", async () => {
      const second = await p.tenancy.surfaces.createSurface(p.operatorCtx, p.a.id, {
        name: "Second",
        kind: "web",
        allowedOrigins: [],
        scopeCeiling: ["*"],
        selfSignup: false,
      });
      await enable(second.id, p.a.secretKey);
      const onA = await loginOptions(p.a.surfaceId);
      const res = await verifyLogin(onA.challengeId, auth.assert(onA.options), second.id);
      expect(res.json()).toMatchObject({ status: 400, code: "passkey_challenge_invalid" });
      // The same rpId on the second surface: the passkey signs in there with a challenge of its own.
      const onSecond = await loginOptions(second.id);
      const there = await verifyLogin(onSecond.challengeId, auth.assert(onSecond.options), second.id);
      expect(there.statusCode, there.body).toBe(201);
      expect(there.json().session.surfaceId).toBe(second.id);

      await enable(p.b.surfaceId, p.b.secretKey);
      const onB = await loginOptions(p.b.surfaceId);
      expect((await verifyLogin(onB.challengeId, auth.assert(onB.options), p.b.surfaceId)).json()).toMatchObject({
        status: 401,
        code: "passkey_invalid",
      });
    });

    it("renames, and deletes with a recent sign-in; a deleted passkey signs in no more", async () => {
      const id = (await t.inject({ method: "GET", url: "/v1/auth/passkeys", headers: bearer(owner.token) })).json()
        .data[0].id;
      const renamed = await t.inject({
        method: "PATCH",
        url: `/v1/auth/passkeys/${id}`,
        headers: bearer(owner.token),
        payload: { name: "Phone" },
      });
      expect(renamed.json()).toMatchObject({ id, name: "Phone" });
      expect(await facts("passkey.updated")).toHaveLength(1);

      clock.advance(16 * 60_000);
      const stale = await t.inject({ method: "DELETE", url: `/v1/auth/passkeys/${id}`, headers: bearer(owner.token) });
      expect(stale.json()).toMatchObject({ status: 403, code: "recent_sign_in_required" });
      const fresh = await login("owner@example.com");
      const deleted = await t.inject({
        method: "DELETE",
        url: `/v1/auth/passkeys/${id}`,
        headers: bearer(fresh.token),
      });
      expect(deleted.statusCode, deleted.body).toBe(200);
      expect(await facts("passkey.deleted")).toEqual([{ env: p.a.id, actor: owner.id, targets: [owner.id, id] }]);
      const list = await t.inject({ method: "GET", url: "/v1/auth/passkeys", headers: bearer(fresh.token) });
      expect(list.json().data).toEqual([]);
      const { challengeId, options } = await loginOptions();
      expect((await verifyLogin(challengeId, auth.assert(options))).json()).toMatchObject({
        status: 401,
        code: "passkey_invalid",
      });
    });
  });

  describe("as a second factor", () => {
    it("verifies an assertion of the user's own passkey and advances its counter", async () => {
      const judy = await signIn("judy@example.com");
      const kim = await signIn("kim@example.com");
      const auth = new SoftAuthenticator(ORIGIN);
      const kimAuth = new SoftAuthenticator(ORIGIN);
      await register(judy.token, auth);
      await register(kim.token, kimAuth);
      const identity = t.app.service(identityModule);
      const ctx = { principal: null, request: { requestId: newId("request") } };

      const { challengeId, options } = await identity.passkeys.optionsFor(judy.id, p.a.surfaceId);
      expect(options.allowCredentials?.map((c) => c.id)).toEqual([auth.credentials[0]?.id.toString("base64url")]);
      // Kim's passkey answering Judy's challenge.
      const wrong = await identity.passkeys.verifyAssertionFor(ctx, {
        userId: judy.id,
        surfaceId: p.a.surfaceId,
        challengeId,
        response: kimAuth.assert({ ...options, allowCredentials: [] }),
      });
      expect(wrong).toEqual({ verified: false, reason: "passkey_invalid" });
      // Judy's challenge claimed for Kim.
      const otherUser = await identity.passkeys.verifyAssertionFor(ctx, {
        userId: kim.id,
        surfaceId: p.a.surfaceId,
        challengeId,
        response: kimAuth.assert({ ...options, allowCredentials: [] }),
      });
      expect(otherUser).toEqual({ verified: false, reason: "challenge_invalid" });
      // A login challenge is not a second-factor challenge.
      const login = await loginOptions();
      const crossPurpose = await identity.passkeys.verifyAssertionFor(ctx, {
        userId: judy.id,
        surfaceId: p.a.surfaceId,
        challengeId: login.challengeId,
        response: auth.assert(login.options),
      });
      expect(crossPurpose).toEqual({ verified: false, reason: "challenge_invalid" });

      const response = auth.assert(options, { counter: 20 });
      const input = { userId: judy.id, surfaceId: p.a.surfaceId, challengeId, response };
      const ok = await identity.passkeys.verifyAssertionFor(ctx, input);
      expect(ok).toMatchObject({ verified: true, userVerified: true });
      const stored = await t.app.db.kysely
        .selectFrom("passkey")
        .select("counter")
        .where("id", "=", ok.verified ? ok.passkeyId : "")
        .executeTakeFirst();
      expect(Number(stored?.counter)).toBe(20);
      expect(await identity.passkeys.verifyAssertionFor(ctx, input)).toEqual({
        verified: false,
        reason: "challenge_invalid",
      });

      // Inside the caller's transaction: a clone is reported, and its fact commits with the caller.
      const next = await identity.passkeys.optionsFor(judy.id, p.a.surfaceId);
      const check = await identity.passkeys.checkAssertionFor({
        ...input,
        challengeId: next.challengeId,
        response: auth.assert(next.options, { counter: 20 }),
      });
      expect(check.ok).toBe(true);
      const clone = await t.app.db.write({}, (tx) => identity.passkeys.useAssertion(tx, ctx, check));
      expect(clone).toEqual({ verified: false, reason: "clone_suspected" });
      expect(await facts("passkey.clone_suspected")).toHaveLength(1);
    });
  });
});
