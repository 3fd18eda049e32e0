import { createPublicKey, generateKeyPairSync } from "node:crypto";
import { base64url, decodeProtectedHeader, exportJWK, SignJWT } from "jose";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type App, createApp, MODULES } from "../../app.js";
import { loadConfig } from "../../config.js";
import { TestClock } from "../../platform/clock.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { probeModule } from "../../testing/probe-module.js";
import { CACHE_BOUND_SECONDS } from "./service/verify.js";

// POST /v1/credentials/verify: a product's backend asks about a credential it was handed. Every
// kind, every refusal, attacks on JWTs, another environment's credentials, and how fast a
// revocation reaches the answer (this process, and another process on the same database).

type Json = Record<string, unknown>;

describeEachEngine("Credential verification", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let clock: TestClock;
  let tenantId: string;

  async function call(token: string | null, method: string, url: string, body?: unknown, app = t.app) {
    const res = await app.http.fastify.inject({
      method: method as "GET",
      url,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return { status: res.statusCode, body: (res.body ? JSON.parse(res.body) : {}) as Json };
  }
  async function ok(res: Promise<{ status: number; body: Json }>, status = 200): Promise<Json> {
    const r = await res;
    expect(r.status, JSON.stringify(r.body)).toBe(status);
    return r.body;
  }
  const verify = (token: string, extra: Json = {}, key = p.a.secretKey, app = t.app) =>
    ok(call(key, "POST", "/v1/credentials/verify", { token, ...extra }, app));

  async function user(email: string, env = p.a): Promise<{ id: string; issued: Json }> {
    const created = await ok(call(env.secretKey, "POST", "/v1/users", { email, password: TEST_PASSWORD }), 201);
    const issued = await ok(
      call(null, "POST", "/v1/auth/login", { surfaceId: env.surfaceId, email, password: TEST_PASSWORD }),
      201,
    );
    return { id: created.id as string, issued };
  }

  beforeEach(async () => {
    clock = new TestClock();
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
    for (const env of [p.a, p.b]) {
      await ok(
        call(env.secretKey, "PATCH", `/v1/surfaces/${env.surfaceId}/auth-settings`, {
          tokens: { accessTokens: true },
        }),
      );
    }
    tenantId = (await ok(call(p.a.secretKey, "POST", "/v1/tenants", { name: "Acme" }), 201)).id as string;
  });
  afterEach(async () => t?.close());

  describe("each kind of credential", () => {
    it("answers who a session token and an access token are, and the user's permissions in a tenant", async () => {
      const alice = await user("alice@example.com");
      await ok(
        call(p.a.secretKey, "POST", `/v1/tenants/${tenantId}/members`, { userId: alice.id, roles: ["member"] }),
        201,
      );
      const session = alice.issued.session as Json;
      const expected = {
        valid: true,
        actor: { type: "user", id: alice.id, displayName: "alice@example.com" },
        environmentId: p.a.id,
        surfaceId: p.a.surfaceId,
        sessionId: session.id,
        authLevel: 1,
        authMethod: "password",
        onBehalfOf: null,
        cachedFor: CACHE_BOUND_SECONDS,
      };
      expect(await verify(alice.issued.token as string)).toEqual({
        ...expected,
        kind: "session",
        tenantId: null,
        permissions: [],
        expiresAt: session.expiresAt,
      });
      const inTenant = await verify(alice.issued.accessToken as string, { tenantId });
      expect(inTenant).toMatchObject({
        ...expected,
        kind: "access_token",
        tenantId,
        expiresAt: alice.issued.accessTokenExpiresAt,
      });
      expect(inTenant.permissions).toContain("members:read");
      expect(inTenant.permissions).not.toContain("members:invite");
      // Not a member of the tenant named: valid, with no permissions there.
      const other = (await ok(call(p.a.secretKey, "POST", "/v1/tenants", { name: "Other" }), 201)).id as string;
      expect(await verify(alice.issued.token as string, { tenantId: other })).toMatchObject({
        valid: true,
        tenantId: other,
        permissions: [],
      });
    });

    it("answers a tenant key's and an agent key's effective permissions (within the surface's ceiling)", async () => {
      const bob = await user("bob@example.com");
      await ok(
        call(p.a.secretKey, "POST", `/v1/tenants/${tenantId}/members`, { userId: bob.id, roles: ["admin"] }),
        201,
      );
      const tk = await ok(
        call(p.a.secretKey, "POST", `/v1/tenants/${tenantId}/keys`, {
          name: "partner",
          permissions: ["members:read", "keys:read"],
        }),
        201,
      );
      const ak = await ok(
        call(bob.issued.token as string, "POST", `/v1/tenants/${tenantId}/agent-keys`, {
          name: "bot",
          scopes: ["members:read", "billing:manage"],
        }),
        201,
      );
      expect(await verify(tk.token as string)).toEqual({
        valid: true,
        kind: "tenant_key",
        actor: { type: "tenant_key", id: (tk as Json).id, displayName: "partner" },
        environmentId: p.a.id,
        surfaceId: p.a.surfaceId,
        tenantId,
        permissions: ["keys:read", "members:read"],
        expiresAt: null,
        sessionId: null,
        authLevel: null,
        authMethod: null,
        onBehalfOf: null,
        cachedFor: CACHE_BOUND_SECONDS,
      });
      // The agent's scope ∩ its user's permissions: an admin holds no billing:manage.
      expect(await verify(ak.token as string)).toMatchObject({
        valid: true,
        kind: "agent_key",
        actor: { type: "agent", id: (ak as Json).id },
        tenantId,
        permissions: ["members:read"],
        onBehalfOf: { type: "user", id: bob.id },
      });
      // A narrower ceiling on the surface narrows both.
      await ok(
        call(p.operatorToken, "PATCH", `/v1/surfaces/${p.a.surfaceId}`, { scopeCeiling: ["keys:read", "access:*"] }),
      );
      expect((await verify(tk.token as string)).permissions).toEqual(["keys:read"]);
      expect((await verify(ak.token as string)).permissions).toEqual([]);
    });

    it("lets a session, a tenant key and an agent key describe themselves (GET /v1/credentials/self)", async () => {
      const carol = await user("carol@example.com");
      await ok(
        call(p.a.secretKey, "POST", `/v1/tenants/${tenantId}/members`, { userId: carol.id, roles: ["admin"] }),
        201,
      );
      const tk = await ok(
        call(p.a.secretKey, "POST", `/v1/tenants/${tenantId}/keys`, { name: "partner", permissions: ["members:read"] }),
        201,
      );
      const ak = await ok(
        call(carol.issued.token as string, "POST", `/v1/tenants/${tenantId}/agent-keys`, {
          name: "bot",
          scopes: ["members:read", "billing:manage"],
        }),
        201,
      );
      const self = (token: string, query = "") => ok(call(token, "GET", `/v1/credentials/self${query}`));
      // Each answer equals what the product's backend learns from POST /v1/credentials/verify.
      expect(await self(tk.token as string)).toEqual(await verify(tk.token as string));
      expect(await self(ak.token as string)).toEqual(await verify(ak.token as string));
      expect(await self(ak.token as string)).toMatchObject({
        kind: "agent_key",
        tenantId,
        permissions: ["members:read"],
        onBehalfOf: { type: "user", id: carol.id },
      });
      const session = carol.issued.token as string;
      expect(await self(session, `?tenantId=${tenantId}`)).toEqual(await verify(session, { tenantId }));
      // A user acts within a tenant: a session names it.
      const unnamed = await call(session, "GET", "/v1/credentials/self");
      expect(unnamed.status).toBe(400);
      expect(unnamed.body.errors).toEqual([expect.objectContaining({ path: "query.tenantId" })]);
      // Another environment's tenant named by a user: no permissions there, nothing else told.
      const elsewhere = (await ok(call(p.b.secretKey, "POST", "/v1/tenants", { name: "Elsewhere" }), 201)).id;
      expect(await self(session, `?tenantId=${elsewhere}`)).toMatchObject({ valid: true, permissions: [] });
      // Secret keys and operators have other ways to know themselves; no credential is a 401.
      expect((await call(p.a.secretKey, "GET", "/v1/credentials/self")).status).toBe(403);
      expect((await call(null, "GET", "/v1/credentials/self")).status).toBe(401);
      // A revoked key cannot ask.
      const tkId = tk.id as string;
      await ok(call(p.a.secretKey, "POST", `/v1/tenants/${tenantId}/keys/${tkId}/revoke`));
      expect((await call(tk.token as string, "GET", "/v1/credentials/self")).status).toBe(401);
    });

    it("refuses malformed tokens and the plane's own credentials, and admits only secret keys as callers", async () => {
      expect(await verify("hello")).toEqual({ valid: false, reason: "malformed" });
      expect(await verify("bp_tk_000000000000000000000000000000000000000000")).toEqual({
        valid: false,
        reason: "malformed",
      });
      expect(await verify(p.a.secretKey)).toEqual({ valid: false, reason: "unsupported_kind" });
      expect(await verify(p.operatorToken)).toEqual({ valid: false, reason: "unsupported_kind" });
      const alice = await user("caller@example.com");
      const asUser = await call(alice.issued.token as string, "POST", "/v1/credentials/verify", { token: "x" });
      expect(asUser.status).toBe(403);
      expect((await call(null, "POST", "/v1/credentials/verify", { token: "x" })).status).toBe(401);
    });
  });

  describe("another environment", () => {
    it("answers invalid for every credential of another environment, and tells nothing more", async () => {
      const carol = await user("carol@example.com", p.b);
      const otherTenant = (await ok(call(p.b.secretKey, "POST", "/v1/tenants", { name: "B" }), 201)).id as string;
      const tk = await ok(
        call(p.b.secretKey, "POST", `/v1/tenants/${otherTenant}/keys`, { name: "b", permissions: ["members:read"] }),
        201,
      );
      const invalid = { valid: false, reason: "invalid" };
      expect(await verify(carol.issued.token as string)).toEqual(invalid);
      expect(await verify(carol.issued.accessToken as string)).toEqual(invalid);
      expect(await verify(tk.token as string)).toEqual(invalid);
      // Even once expired: another environment's credential stays as unknown as a made-up one.
      clock.advance(t.config.sessions.absoluteMs + 1000);
      expect(await verify(carol.issued.token as string)).toEqual(invalid);
      expect(await verify(carol.issued.accessToken as string)).toEqual(invalid);
      // …while this environment's says it expired.
      expect(await verify(carol.issued.token as string, {}, p.b.secretKey)).toEqual({
        valid: false,
        reason: "expired",
      });
    });
  });

  describe("attacks on access tokens", () => {
    let genuine: string;
    let kid: string;
    let claims: Json;
    beforeEach(async () => {
      const dave = await user("dave@example.com");
      genuine = dave.issued.accessToken as string;
      kid = decodeProtectedHeader(genuine).kid as string;
      claims = JSON.parse(new TextDecoder().decode(base64url.decode(genuine.split(".")[1] as string)));
      expect(await verify(genuine)).toMatchObject({ valid: true, kind: "access_token" });
    });
    const invalid = { valid: false, reason: "invalid" };
    const forge = (header: Json, payload: Json = claims, signature = "") =>
      [base64url.encode(JSON.stringify(header)), base64url.encode(JSON.stringify(payload)), signature].join(".");

    it("refuses alg none, and a genuine token re-labelled none", async () => {
      expect(await verify(forge({ alg: "none", kid, typ: "at+jwt" }))).toEqual(invalid);
      expect(await verify(forge({ alg: "none", typ: "at+jwt" }))).toEqual(invalid);
      const [, payload] = genuine.split(".");
      expect(await verify(`${base64url.encode(JSON.stringify({ alg: "none", kid }))}.${payload}.`)).toEqual(invalid);
    });

    it("refuses HS256 keyed with the environment's public key (algorithm confusion)", async () => {
      const jwks = await ok(call(null, "GET", `/v1/environments/${p.a.id}/.well-known/jwks.json`));
      const jwk = (jwks.keys as Json[])[0] as Json;
      const pem = createPublicKey({ key: jwk as never, format: "jwk" }).export({ format: "pem", type: "spki" });
      for (const secret of [Buffer.from(pem), Buffer.from(JSON.stringify(jwk)), base64url.decode(jwk.x as string)]) {
        const token = await new SignJWT(claims)
          .setProtectedHeader({ alg: "HS256", kid, typ: "at+jwt" })
          .sign(new Uint8Array(secret));
        expect(await verify(token)).toEqual(invalid);
      }
    });

    it("refuses unknown, path-like and foreign kids, and keys the token brings along", async () => {
      const attacker = generateKeyPairSync("ed25519");
      const sign = (header: Json) =>
        new SignJWT(claims).setProtectedHeader({ alg: "EdDSA", typ: "at+jwt", ...header }).sign(attacker.privateKey);
      const attackerJwk = await exportJWK(attacker.publicKey);
      for (const header of [
        { kid: "sgk_01JZZZZZZZZZZZZZZZZZZZZZZZ" },
        { kid: "../../../../dev/null" },
        { kid: `${kid}' or '1'='1` },
        { kid },
        { kid, jwk: attackerJwk },
        { kid, jku: "http://127.0.0.1:1/jwks.json" },
        { kid, x5u: "http://127.0.0.1:1/cert.pem" },
        { jwk: attackerJwk },
      ]) {
        expect(await verify(await sign(header)), JSON.stringify(header)).toEqual(invalid);
      }
      // Environment B's genuine key, kid and signature: not a key of environment A.
      const erin = await user("erin@example.com", p.b);
      const foreign = erin.issued.accessToken as string;
      expect(await verify(foreign)).toEqual(invalid);
      // A's kid on B's token (and claims rewritten to A) does not verify either.
      const [, body, sig] = foreign.split(".");
      const relabelled = `${base64url.encode(JSON.stringify({ ...decodeProtectedHeader(foreign), kid }))}.${body}.${sig}`;
      expect(await verify(relabelled)).toEqual(invalid);
    });

    it("refuses tampered claims, expired tokens and tokens whose session ended", async () => {
      const [header, , sig] = genuine.split(".");
      const tampered = `${header}.${base64url.encode(JSON.stringify({ ...claims, sub: "usr_someone_else" }))}.${sig}`;
      expect(await verify(tampered)).toEqual(invalid);
      clock.advance(301_000);
      expect(await verify(genuine)).toEqual({ valid: false, reason: "expired" });
    });
  });

  describe("revocation", () => {
    it("refuses a revoked key at once in the same process, although its answer was cached", async () => {
      const tk = await ok(
        call(p.a.secretKey, "POST", `/v1/tenants/${tenantId}/keys`, { name: "k", permissions: ["members:read"] }),
        201,
      );
      expect((await verify(tk.token as string)).valid).toBe(true);
      await ok(call(p.a.secretKey, "POST", `/v1/tenants/${tenantId}/keys/${(tk as Json).id}/revoke`));
      expect(await verify(tk.token as string)).toEqual({ valid: false, reason: "invalid" });

      const frank = await user("frank@example.com");
      expect((await verify(frank.issued.accessToken as string)).valid).toBe(true);
      await ok(call(p.a.secretKey, "POST", `/v1/users/${frank.id}/sessions/revoke`));
      expect(await verify(frank.issued.token as string)).toEqual({ valid: false, reason: "invalid" });
      expect(await verify(frank.issued.accessToken as string)).toEqual({ valid: false, reason: "revoked" });
    });

    it(`reaches another process on the same database through the change bus, well within ${CACHE_BOUND_SECONDS} s`, async () => {
      // A second plane process on the same database and master key, with its own caches.
      const config = loadConfig({
        BASEPLATE_LOG_LEVEL: "silent",
        BASEPLATE_WORKERS: "false",
        BASEPLATE_PASSWORD_PROFILE: "test",
        BASEPLATE_RATE_LIMITS: "false",
        NODE_ENV: "test",
        ...t.database.env,
      });
      const other: App = await createApp({ config, modules: [...MODULES, probeModule], clock });
      try {
        await other.start({ listen: false, workers: false });
        const tk = await ok(
          call(p.a.secretKey, "POST", `/v1/tenants/${tenantId}/keys`, { name: "x", permissions: ["members:read"] }),
          201,
        );
        // Cached in the other process.
        expect((await verify(tk.token as string, {}, p.a.secretKey, other)).valid).toBe(true);
        expect((await verify(tk.token as string, {}, p.a.secretKey, other)).valid).toBe(true);
        await ok(call(p.a.secretKey, "POST", `/v1/tenants/${tenantId}/keys/${(tk as Json).id}/revoke`));
        const started = Date.now();
        let answer = await verify(tk.token as string, {}, p.a.secretKey, other);
        while (answer.valid && Date.now() - started < 10_000) {
          await new Promise((r) => setTimeout(r, 25));
          answer = await verify(tk.token as string, {}, p.a.secretKey, other);
        }
        expect(answer).toEqual({ valid: false, reason: "invalid" });
        // NOTIFY at commit on PostgreSQL; SQLite's data_version watch every 250 ms. Not the TTL.
        expect(Date.now() - started).toBeLessThan(3000);
      } finally {
        await other.stop();
      }
    });
  });
});
