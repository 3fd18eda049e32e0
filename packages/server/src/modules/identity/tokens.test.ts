import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from "jose";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { identityModule } from "./index.js";
import { RETIRE_AFTER_MS } from "./service/signing-keys.js";

// Access tokens (JWT) a product verifies on its own, their signing keys, and rotating refresh
// tokens with reuse detection.

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

interface Issued {
  token: string;
  session: { id: string };
  user: { id: string };
  accessToken?: string;
  accessTokenExpiresAt?: number;
  refreshToken?: string;
}

describeEachEngine("Access tokens", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let clock: TestClock;
  beforeEach(async () => {
    clock = new TestClock();
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
  });
  afterEach(async () => t?.close());

  async function call(method: "GET" | "POST" | "PATCH", url: string, token?: string | null, payload?: unknown) {
    return t.inject({ method, url, headers: token ? bearer(token) : {}, ...(payload ? { payload } : {}) });
  }

  async function enableTokens(surfaceId = p.a.surfaceId, key = p.a.secretKey, ttl = 300) {
    const res = await call("PATCH", `/v1/surfaces/${surfaceId}/auth-settings`, key, {
      tokens: { accessTokens: true, accessTokenTtlSeconds: ttl },
    });
    expect(res.statusCode, res.body).toBe(200);
  }

  async function newUser(email: string, key = p.a.secretKey): Promise<string> {
    const res = await call("POST", "/v1/users", key, { email, password: TEST_PASSWORD });
    expect(res.statusCode, res.body).toBe(201);
    return res.json().id;
  }

  async function login(email: string, surfaceId = p.a.surfaceId): Promise<Issued> {
    const res = await call("POST", "/v1/auth/login", null, { surfaceId, email, password: TEST_PASSWORD });
    expect(res.statusCode, res.body).toBe(201);
    return res.json();
  }

  async function jwks(environmentId = p.a.id): Promise<JSONWebKeySet> {
    const res = await call("GET", `/v1/environments/${environmentId}/.well-known/jwks.json`);
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  }

  const refresh = (refreshToken: string) => call("POST", "/v1/auth/token/refresh", null, { refreshToken });
  const issuer = (environmentId: string) => `${t.config.publicUrl}/v1/environments/${environmentId}`;

  async function facts(type: string): Promise<Array<{ actor: string | null; targets: string[] }>> {
    const rows = (await t.app.db.kysely
      .selectFrom("probe_fact")
      .selectAll()
      .where("type", "=", type)
      .orderBy("id")
      .execute()) as Array<{ actor_id: string | null; targets: string }>;
    return rows.map((r) => ({
      actor: r.actor_id,
      targets: (JSON.parse(r.targets) as Array<{ id: string }>).map((x) => x.id),
    }));
  }

  describe("issuance", () => {
    it("issues no access token unless the surface turned them on", async () => {
      await newUser("plain@example.com");
      const issued = await login("plain@example.com");
      expect(issued.token).toMatch(/^bp_st_/);
      expect(issued.accessToken).toBeUndefined();
      expect(issued.refreshToken).toBeUndefined();
      expect((await jwks()).keys).toEqual([]);
    });

    it("issues a JWT with the session's claims, verifiable with the environment's JWKS", async () => {
      await enableTokens();
      const userId = await newUser("alice@example.com");
      const tenant = await call("POST", "/v1/tenants", p.a.secretKey, { name: "Acme" });
      expect(tenant.statusCode, tenant.body).toBe(201);
      const tenantId = tenant.json().id as string;
      const member = await call("POST", `/v1/tenants/${tenantId}/members`, p.a.secretKey, {
        userId,
        roles: ["admin"],
      });
      expect(member.statusCode, member.body).toBe(201);

      const issued = await login("alice@example.com");
      expect(issued.accessToken).toBeTypeOf("string");
      expect(issued.refreshToken).toMatch(/^bp_rt_/);
      const header = decodeProtectedHeader(issued.accessToken as string);
      expect(header).toMatchObject({ alg: "EdDSA", typ: "at+jwt" });
      expect(header.kid).toMatch(/^sgk_/);

      const set = await jwks();
      expect(set.keys).toHaveLength(1);
      expect(set.keys[0]).toMatchObject({ kty: "OKP", crv: "Ed25519", kid: header.kid, alg: "EdDSA", use: "sig" });
      expect(set.keys[0]).not.toHaveProperty("d");
      const { payload } = await jwtVerify(issued.accessToken as string, createLocalJWKSet(set), {
        issuer: issuer(p.a.id),
        audience: p.a.surfaceId,
        algorithms: ["EdDSA"],
        currentDate: new Date(clock.now()),
      });
      const now = Math.floor(clock.now() / 1000);
      expect(payload).toMatchObject({
        iss: issuer(p.a.id),
        sub: userId,
        aud: p.a.surfaceId,
        sid: issued.session.id,
        env: p.a.id,
        aal: 1,
        amr: ["password"],
        auth_time: now,
        iat: now,
        nbf: now,
        exp: now + 300,
        tenants: { [tenantId]: ["admin"] },
      });
      expect(payload.jti).toBeTypeOf("string");
      // A product pinning its own surface refuses a token issued to another one, and an expired one.
      await expect(
        jwtVerify(issued.accessToken as string, createLocalJWKSet(set), {
          issuer: issuer(p.a.id),
          audience: p.b.surfaceId,
          currentDate: new Date(clock.now()),
        }),
      ).rejects.toThrow(/aud/);
      await expect(
        jwtVerify(issued.accessToken as string, createLocalJWKSet(set), {
          issuer: issuer(p.a.id),
          audience: p.a.surfaceId,
          currentDate: new Date(clock.now() + 301_000),
        }),
      ).rejects.toThrow(/exp/);
      expect(payload).not.toHaveProperty("tenants_truncated");
      expect(Date.parse(String(issued.accessTokenExpiresAt))).toBe((now + 300) * 1000);

      const discovery = await call("GET", `/v1/environments/${p.a.id}/.well-known/openid-configuration`);
      expect(discovery.json()).toMatchObject({
        issuer: issuer(p.a.id),
        jwks_uri: `${issuer(p.a.id)}/.well-known/jwks.json`,
      });
    });

    it("serves the JWKS publicly with a cache lifetime, for a remote JWKS client", async () => {
      await enableTokens();
      await newUser("remote@example.com");
      const issued = await login("remote@example.com");
      const res = await call("GET", `/v1/environments/${p.a.id}/.well-known/jwks.json`);
      expect(res.headers["cache-control"]).toBe("public, max-age=300");
      expect(res.headers["content-type"]).toMatch(/^application\/json/);
      await t.app.http.fastify.listen({ host: "127.0.0.1", port: 0 });
      const address = t.app.http.fastify.server.address() as { port: number };
      const remote = createRemoteJWKSet(
        new URL(`http://127.0.0.1:${address.port}/v1/environments/${p.a.id}/.well-known/jwks.json`),
        { timeoutDuration: 5000 },
      );
      const { payload } = await jwtVerify(issued.accessToken as string, remote, {
        issuer: issuer(p.a.id),
        audience: p.a.surfaceId,
        currentDate: new Date(clock.now()),
      });
      expect(payload.sid).toBe(issued.session.id);
      // Another environment's JWKS does not hold this environment's key.
      const other = createLocalJWKSet(await jwks(p.b.id));
      await expect(jwtVerify(issued.accessToken as string, other)).rejects.toThrow();
      expect((await call("GET", "/v1/environments/env_nope/.well-known/jwks.json")).statusCode).toBe(404);
    });

    it("lists at most 50 tenants and says when it left some out", async () => {
      await enableTokens();
      const userId = await newUser("many@example.com");
      for (let i = 0; i < 51; i++) {
        const tenant = await call("POST", "/v1/tenants", p.a.secretKey, { name: `T${i}` });
        const member = await call("POST", `/v1/tenants/${tenant.json().id}/members`, p.a.secretKey, {
          userId,
          roles: ["member"],
        });
        expect(member.statusCode, member.body).toBe(201);
      }
      const issued = await login("many@example.com");
      const { payload } = await jwtVerify(issued.accessToken as string, createLocalJWKSet(await jwks()), {
        currentDate: new Date(clock.now()),
      });
      expect(Object.keys(payload.tenants as object)).toHaveLength(50);
      expect(payload.tenants_truncated).toBe(true);
    });
  });

  describe("signing key rotation", () => {
    it("keeps the old key published until its tokens expired, then drops it", async () => {
      await enableTokens();
      await newUser("rot@example.com");
      const before = await login("rot@example.com");
      const oldKid = decodeProtectedHeader(before.accessToken as string).kid;

      const rotated = await call("POST", `/v1/environments/${p.a.id}/signing-keys/rotate`, p.a.secretKey, {
        alg: "ES256",
      });
      expect(rotated.statusCode, rotated.body).toBe(200);
      const keys = rotated.json().data as Array<{ kid: string; status: string; alg: string }>;
      expect(keys.map((k) => [k.status, k.alg])).toEqual([
        ["active", "ES256"],
        ["retiring", "EdDSA"],
      ]);
      expect(keys[1]?.kid).toBe(oldKid);
      expect(await facts("signing_key.rotated")).toEqual([{ actor: p.a.secretKeyId, targets: [keys[0]?.kid, oldKid] }]);

      const after = await login("rot@example.com");
      const header = decodeProtectedHeader(after.accessToken as string);
      expect(header).toMatchObject({ alg: "ES256", kid: keys[0]?.kid });
      const set = await jwks();
      expect(set.keys.map((k) => k.kid)).toEqual([keys[0]?.kid, oldKid]);
      const local = createLocalJWKSet(set);
      const opts = { issuer: issuer(p.a.id), currentDate: new Date(clock.now()) };
      await expect(jwtVerify(before.accessToken as string, local, opts)).resolves.toBeTruthy();
      await expect(jwtVerify(after.accessToken as string, local, opts)).resolves.toBeTruthy();

      // Once every token the old key signed has expired, it leaves the JWKS (and is marked retired).
      clock.advance(RETIRE_AFTER_MS + 1000);
      expect((await jwks()).keys.map((k) => k.kid)).toEqual([keys[0]?.kid]);
      expect(await t.app.service(identityModule).signingKeys.retireSigningKeys()).toBe(1);
    });

    it("answers 404 for another environment's secret key, and lets operators rotate", async () => {
      const other = await call("POST", `/v1/environments/${p.a.id}/signing-keys/rotate`, p.b.secretKey, {});
      expect(other.statusCode).toBe(404);
      const op = await call("POST", `/v1/environments/${p.a.id}/signing-keys/rotate`, p.operatorToken, {});
      expect(op.statusCode, op.body).toBe(200);
      expect(op.json().data).toHaveLength(1);
      const support = await call("POST", `/v1/environments/${p.a.id}/signing-keys/rotate`, p.supportToken, {});
      expect(support.statusCode).toBe(403);
    });
  });

  describe("refresh", () => {
    it("rotates the refresh token and issues a new access token", async () => {
      await enableTokens();
      await newUser("r@example.com");
      const issued = await login("r@example.com");
      clock.advance(60_000);
      const res = await refresh(issued.refreshToken as string);
      expect(res.statusCode, res.body).toBe(200);
      const next = res.json();
      expect(next.refreshToken).toMatch(/^bp_rt_/);
      expect(next.refreshToken).not.toBe(issued.refreshToken);
      const { payload } = await jwtVerify(next.accessToken, createLocalJWKSet(await jwks()), {
        currentDate: new Date(clock.now()),
      });
      expect(payload.sid).toBe(issued.session.id);
      expect(payload.iat).toBe(Math.floor(clock.now() / 1000));
      // The new one works once more; the session lives on.
      const again = await refresh(next.refreshToken);
      expect(again.statusCode, again.body).toBe(200);
      expect((await call("GET", "/v1/auth/me", issued.token)).statusCode).toBe(200);
      expect(await facts("session.refresh_reused")).toEqual([]);
    });

    it("revokes the family and the session when a spent refresh token comes back", async () => {
      await enableTokens();
      const userId = await newUser("reuse@example.com");
      const issued = await login("reuse@example.com");
      const first = await refresh(issued.refreshToken as string);
      expect(first.statusCode).toBe(200);
      const child = first.json().refreshToken as string;

      const replay = await refresh(issued.refreshToken as string);
      expect(replay.statusCode).toBe(401);
      expect(replay.json()).toMatchObject({ code: "invalid_refresh_token" });
      // The legitimate holder's newer token dies with the family, and so does the session.
      expect((await refresh(child)).statusCode).toBe(401);
      expect((await call("GET", "/v1/auth/me", issued.token)).statusCode).toBe(401);
      expect(await facts("session.refresh_reused")).toEqual([{ actor: userId, targets: [userId, issued.session.id] }]);
      // An access token of the session is refused by the plane's verification too.
      const verdict = await call("POST", "/v1/credentials/verify", p.a.secretKey, { token: first.json().accessToken });
      expect(verdict.json()).toEqual({ valid: false, reason: "revoked" });
    });

    it("lets exactly one of two concurrent refreshes win, and takes the other for reuse", async () => {
      await enableTokens();
      await newUser("race@example.com");
      const issued = await login("race@example.com");
      const results = await Promise.all([
        refresh(issued.refreshToken as string),
        refresh(issued.refreshToken as string),
      ]);
      expect(results.map((r) => r.statusCode).sort()).toEqual([200, 401]);
      const winner = results.find((r) => r.statusCode === 200)?.json().refreshToken as string;
      expect((await refresh(winner)).statusCode).toBe(401);
      expect((await call("GET", "/v1/auth/me", issued.token)).statusCode).toBe(401);
      expect(await facts("session.refresh_reused")).toHaveLength(1);
    });

    it("refuses a refresh once the session ended, the user is disabled or the session idled out", async () => {
      await enableTokens();
      const userId = await newUser("end@example.com");
      const loggedOut = await login("end@example.com");
      expect((await call("POST", "/v1/auth/logout", loggedOut.token)).statusCode).toBe(200);
      expect((await refresh(loggedOut.refreshToken as string)).statusCode).toBe(401);

      const disabled = await login("end@example.com");
      expect((await call("PATCH", `/v1/users/${userId}`, p.a.secretKey, { disabled: true })).statusCode).toBe(200);
      expect((await refresh(disabled.refreshToken as string)).statusCode).toBe(401);
      expect((await call("PATCH", `/v1/users/${userId}`, p.a.secretKey, { disabled: false })).statusCode).toBe(200);

      const idle = await login("end@example.com");
      clock.advance(t.config.sessions.idleMs + 1000);
      expect((await refresh(idle.refreshToken as string)).statusCode).toBe(401);

      // Turning access tokens off stops refreshes of live sessions.
      const live = await login("end@example.com");
      await call("PATCH", `/v1/surfaces/${p.a.surfaceId}/auth-settings`, p.a.secretKey, {
        tokens: { accessTokens: false },
      });
      expect((await refresh(live.refreshToken as string)).statusCode).toBe(401);
      // A made-up or mistyped token is refused the same way.
      expect((await refresh("bp_rt_nope")).statusCode).toBe(401);
      expect((await refresh(`${live.refreshToken?.slice(0, -1)}x`)).statusCode).toBe(401);
    });

    it("never renews an access token beyond its session's absolute expiry", async () => {
      await enableTokens(p.a.surfaceId, p.a.secretKey, 3600);
      await newUser("abs@example.com");
      const issued = await login("abs@example.com");
      const session = await t.app.db.kysely
        .selectFrom("session" as never)
        .select(["expires_at" as never])
        .where("id" as never, "=", issued.session.id as never)
        .executeTakeFirstOrThrow();
      const expiresAt = Number((session as { expires_at: number }).expires_at);
      // Half an hour before the absolute end, a one-hour access token is cut to the session's end.
      clock.set(expiresAt - 30 * 60_000);
      await t.app.db.kysely
        .updateTable("session" as never)
        .set({ last_used_at: clock.now() } as never)
        .where("id" as never, "=", issued.session.id as never)
        .execute();
      const res = await refresh(issued.refreshToken as string);
      expect(res.statusCode, res.body).toBe(200);
      expect(Date.parse(res.json().accessTokenExpiresAt)).toBe(Math.floor(expiresAt / 1000) * 1000);
    });
  });
});
