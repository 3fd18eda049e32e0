import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { TestIdp } from "../../testing/oidc-idp.js";
import { tenancyModule } from "../tenancy/index.js";

// Sign-in with OpenID Connect against a real provider (oidc-provider on loopback): the code flow
// with PKCE, state and nonce, single use, and the linking rules an attacker would try to bend.

const APP = "http://app.example.test";
const REDIRECT = `${APP}/auth/callback`;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

let idp: TestIdp;
let n = 0;
beforeAll(async () => {
  idp = await TestIdp.start([
    { clientId: "portal", clientSecret: "portal-secret-123", redirectUris: [REDIRECT] },
    { clientId: "other", clientSecret: "other-secret-456", redirectUris: [REDIRECT] },
  ]);
});
afterAll(async () => idp?.close());

describeEachEngine("OIDC sign-in", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  beforeEach(async () => {
    t = await createTestApp(engine, { plane: true, env: { BASEPLATE_OIDC_ALLOW_INSECURE_ISSUERS: "true" } });
    p = await seedPlane(t);
    for (const env of [p.a, p.b]) {
      await t.app
        .service(tenancyModule)
        .surfaces.updateSurface(p.operatorCtx, env.surfaceId, { allowedOrigins: [APP] });
    }
  });
  afterEach(async () => t?.close());

  async function call(method: "GET" | "POST" | "PATCH" | "DELETE", url: string, body?: unknown, key?: string) {
    const res = await t.inject({
      method,
      url,
      headers: key ? bearer(key) : {},
      ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
    });
    return { status: res.statusCode, body: res.json() as Record<string, unknown> & { code?: string } };
  }

  async function provider(overrides: Record<string, unknown> = {}, env = p.a): Promise<string> {
    const res = await call(
      "POST",
      "/v1/sso/providers",
      {
        kind: "social",
        surfaceId: env.surfaceId,
        name: "Test IdP",
        issuer: idp.issuer,
        clientId: "portal",
        clientSecret: "portal-secret-123",
        ...overrides,
      },
      env.secretKey,
    );
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.id as string;
  }

  function account(claims: { email?: string; email_verified?: boolean | string; name?: string }): string {
    const sub = `sub-${++n}-${Math.random().toString(36).slice(2)}`;
    idp.accounts.set(sub, claims);
    return sub;
  }

  async function start(providerId: string, surfaceId = p.a.surfaceId) {
    const res = await call("POST", "/v1/auth/oidc/start", { surfaceId, providerId, redirectUri: REDIRECT });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body as { authorizationUrl: string; state: string };
  }

  async function signIn(providerId: string, sub: string) {
    const started = await start(providerId);
    const back = await idp.signIn(started.authorizationUrl, sub);
    expect(back.get("state")).toBe(started.state);
    return call("POST", "/v1/auth/oidc/callback", {
      surfaceId: p.a.surfaceId,
      state: back.get("state"),
      code: back.get("code"),
      ...(back.get("iss") ? { iss: back.get("iss") } : {}),
    });
  }

  async function createUser(email: string): Promise<string> {
    const res = await call("POST", "/v1/users", { email, password: TEST_PASSWORD }, p.a.secretKey);
    expect(res.status).toBe(201);
    return res.body.id as string;
  }

  const count = async (table: "user_identity" | "session", userId: string) =>
    Number(
      (
        await t.app.db.kysely
          .selectFrom(table)
          .select((eb) => eb.fn.countAll().as("n"))
          .where("user_id", "=", userId)
          .executeTakeFirstOrThrow()
      ).n,
    );

  const facts = async (type: string) =>
    (await t.app.db.kysely
      .selectFrom("probe_fact")
      .select(["type", "actor_id"])
      .where("type", "=", type)
      .execute()) as Array<{
      type: string;
      actor_id: string | null;
    }>;

  describe("the happy path", () => {
    it("creates the user on first sign-in, opens an `oidc` session, and finds the same user next time", async () => {
      const id = await provider({ trustEmailVerified: true });
      const sub = account({ email: "Carol@Example.com", email_verified: true, name: "Carol" });
      const first = await signIn(id, sub);
      expect(first.status, JSON.stringify(first.body)).toBe(201);
      const user = first.body.user as { id: string; email: string; emailVerified: boolean; name: string };
      expect(first.body).toMatchObject({ userCreated: true, linked: true, session: { authMethod: "oidc", aal: 1 } });
      expect(user).toMatchObject({ email: "Carol@Example.com", emailVerified: true, name: "Carol" });
      const me = await call("GET", "/v1/auth/me", undefined, first.body.token as string);
      expect(me.status).toBe(200);
      expect(me.body.id).toBe(user.id);
      expect((await facts("user.signed_up")).map((f) => f.actor_id)).toEqual([user.id]);
      expect((await facts("user_identity.linked")).map((f) => f.actor_id)).toEqual([user.id]);

      const again = await signIn(id, sub);
      expect(again.status).toBe(201);
      expect(again.body).toMatchObject({ userCreated: false, linked: false, user: { id: user.id } });
      expect(await facts("user.logged_in")).toHaveLength(2);
      expect(await count("user_identity", user.id)).toBe(1);
    });

    it("keeps the client secret and the PKCE verifier sealed at rest, and never shows the secret", async () => {
      const id = await provider();
      const shown = await call("GET", `/v1/sso/providers/${id}`, undefined, p.a.secretKey);
      expect(JSON.stringify(shown.body)).not.toContain("portal-secret-123");
      const row = await t.app.db.kysely
        .selectFrom("oidc_provider")
        .select("client_secret")
        .where("id", "=", id)
        .executeTakeFirstOrThrow();
      expect(String(row.client_secret)).not.toContain("portal-secret-123");
      const started = await start(id);
      const login = await t.app.db.kysely.selectFrom("oidc_login").selectAll().executeTakeFirstOrThrow();
      const challenge = new URL(started.authorizationUrl).searchParams;
      expect(challenge.get("code_challenge_method")).toBe("S256");
      expect(login.state_hash).not.toBe(started.state);
      expect(String(login.code_verifier)).not.toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(login.nonce).toBe(challenge.get("nonce"));
    });

    it("refuses a surface that allows no sign-up to create an account", async () => {
      await t.app.service(tenancyModule).surfaces.updateSurface(p.operatorCtx, p.a.surfaceId, { selfSignup: false });
      const id = await provider({ trustEmailVerified: true });
      const res = await signIn(id, account({ email: "dora@example.com", email_verified: true }));
      expect(res.status).toBe(403);
      expect(res.body.code).toBe("oidc_signup_disabled");
    });
  });

  describe("the flow refuses", () => {
    it("a redirect URI outside the surface's allowed origins, and an unknown or foreign provider", async () => {
      const id = await provider();
      const evil = await call("POST", "/v1/auth/oidc/start", {
        surfaceId: p.a.surfaceId,
        providerId: id,
        redirectUri: "https://evil.example.com/auth/callback",
      });
      expect(evil.status).toBe(422);
      expect(evil.body.code).toBe("redirect_uri_not_allowed");
      const unknown = await call("POST", "/v1/auth/oidc/start", {
        surfaceId: p.a.surfaceId,
        providerId: "idp_01JUNKNOWN",
        redirectUri: REDIRECT,
      });
      expect(unknown.status).toBe(404);
      const foreign = await call("POST", "/v1/auth/oidc/start", {
        surfaceId: p.b.surfaceId,
        providerId: id,
        redirectUri: REDIRECT,
      });
      expect(foreign.status).toBe(404);
      expect(foreign.body.code).toBe("provider_not_found");
    });

    it("a replayed callback (the state is single use) and an unknown state", async () => {
      const id = await provider({ trustEmailVerified: true });
      const started = await start(id);
      const back = await idp.signIn(
        started.authorizationUrl,
        account({ email: "erin@example.com", email_verified: true }),
      );
      const body = { surfaceId: p.a.surfaceId, state: back.get("state"), code: back.get("code"), iss: back.get("iss") };
      expect((await call("POST", "/v1/auth/oidc/callback", body)).status).toBe(201);
      const replay = await call("POST", "/v1/auth/oidc/callback", body);
      expect(replay.status).toBe(400);
      expect(replay.body.code).toBe("oidc_state_invalid");
      const forged = await call("POST", "/v1/auth/oidc/callback", { ...body, state: "forged-state" });
      expect(forged.body.code).toBe("oidc_state_invalid");
      // Another surface cannot redeem the state either.
      const other = await call("POST", "/v1/auth/oidc/callback", { ...body, surfaceId: p.b.surfaceId });
      expect(other.body.code).toBe("oidc_state_invalid");
    });

    it("a code obtained under another state (PKCE and nonce bind the code to its own sign-in)", async () => {
      const id = await provider({ trustEmailVerified: true });
      const sub = account({ email: "frank@example.com", email_verified: true });
      const mine = await start(id);
      const theirs = await start(id);
      const back = await idp.signIn(theirs.authorizationUrl, sub);
      const res = await call("POST", "/v1/auth/oidc/callback", {
        surfaceId: p.a.surfaceId,
        state: mine.state,
        code: back.get("code"),
        iss: back.get("iss"),
      });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("oidc_callback_invalid");
      expect(await t.app.db.kysely.selectFrom("user_identity").selectAll().execute()).toEqual([]);
    });

    it("an ID token whose nonce is not the one the sign-in stored", async () => {
      const id = await provider({ trustEmailVerified: true });
      const started = await start(id);
      const back = await idp.signIn(
        started.authorizationUrl,
        account({ email: "gina@example.com", email_verified: true }),
      );
      await t.app.db.kysely.updateTable("oidc_login").set({ nonce: "another-nonce" }).execute();
      const res = await call("POST", "/v1/auth/oidc/callback", {
        surfaceId: p.a.surfaceId,
        state: back.get("state"),
        code: back.get("code"),
        iss: back.get("iss"),
      });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("oidc_callback_invalid");
      expect(String(res.body.detail)).toMatch(/nonce/);
    });

    it("a code issued to another client of the same IdP", async () => {
      const mine = await provider({ trustEmailVerified: true });
      const theirs = await provider({ clientId: "other", clientSecret: "other-secret-456" });
      const sub = account({ email: "hank@example.com", email_verified: true });
      const stolen = await idp.signIn((await start(theirs)).authorizationUrl, sub);
      const started = await start(mine);
      const res = await call("POST", "/v1/auth/oidc/callback", {
        surfaceId: p.a.surfaceId,
        state: started.state,
        code: stolen.get("code"),
        iss: stolen.get("iss"),
      });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("oidc_callback_invalid");
    });

    it("an expired sign-in", async () => {
      const id = await provider();
      const started = await start(id);
      await t.app.db.kysely
        .updateTable("oidc_login")
        .set({ expires_at: Date.now() - 1 })
        .execute();
      const res = await call("POST", "/v1/auth/oidc/callback", {
        surfaceId: p.a.surfaceId,
        state: started.state,
        code: "x",
      });
      expect(res.body.code).toBe("oidc_state_invalid");
    });
  });

  describe("account linking", () => {
    it("never links an address the IdP did not prove to an existing account (no takeover)", async () => {
      const victim = await createUser("victim@example.com");
      const id = await provider({ trustEmailVerified: true });
      for (const claims of [
        { email: "victim@example.com", email_verified: false },
        { email: "VICTIM@example.com", email_verified: "true" },
        { email: "victim@example.com" },
      ]) {
        const res = await signIn(id, account(claims));
        expect(res.status, JSON.stringify(claims)).toBe(409);
        expect(res.body.code).toBe("account_exists_unverified");
        expect(res.body).not.toHaveProperty("token");
      }
      expect(await count("user_identity", victim)).toBe(0);
      expect(await count("session", victim)).toBe(0);
    });

    it("links a proven address only through a provider trusted for it", async () => {
      const userId = await createUser("ivy@example.com");
      const untrusted = await provider({ trustEmailVerified: false });
      const refused = await signIn(untrusted, account({ email: "ivy@example.com", email_verified: true }));
      expect(refused.status).toBe(409);
      expect(refused.body.code).toBe("account_link_not_trusted");
      expect(await count("user_identity", userId)).toBe(0);

      const trusted = await provider({ trustEmailVerified: true });
      const linked = await signIn(trusted, account({ email: "ivy@example.com", email_verified: true }));
      expect(linked.status).toBe(201);
      expect(linked.body).toMatchObject({ userCreated: false, linked: true, user: { id: userId } });
      expect(await count("user_identity", userId)).toBe(1);
    });

    it("creates an unproven address's account without marking it verified", async () => {
      const id = await provider({ trustEmailVerified: true });
      const res = await signIn(id, account({ email: "jack@example.com", email_verified: false }));
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ userCreated: true, user: { emailVerified: false } });
    });

    it("does not let a disabled user sign in through its link", async () => {
      const id = await provider({ trustEmailVerified: true });
      const sub = account({ email: "kim@example.com", email_verified: true });
      const first = await signIn(id, sub);
      const userId = (first.body.user as { id: string }).id;
      expect((await call("PATCH", `/v1/users/${userId}`, { disabled: true }, p.a.secretKey)).status).toBe(200);
      const res = await signIn(id, sub);
      expect(res.status).toBe(403);
      expect(res.body.code).toBe("user_disabled");
    });
  });

  describe("providers", () => {
    it("refuse unsafe issuers, owner as a default role, and another environment's ids", async () => {
      for (const issuer of ["ftp://idp.example.com", "http://169.254.169.254/", "https://idp.example.com/?x=1"]) {
        const res = await call(
          "POST",
          "/v1/sso/providers",
          { kind: "social", surfaceId: p.a.surfaceId, name: "x", issuer, clientId: "c", clientSecret: "s" },
          p.a.secretKey,
        );
        expect(res.status, issuer).toBe(422);
        expect(res.body.code).toBe("insecure_issuer");
      }
      const owner = await call(
        "POST",
        "/v1/sso/providers",
        {
          kind: "social",
          surfaceId: p.a.surfaceId,
          name: "x",
          issuer: idp.issuer,
          clientId: "c",
          clientSecret: "s",
          defaultRole: "owner",
        },
        p.a.secretKey,
      );
      expect(owner.body.code).toBe("invalid_default_role");
      const foreignSurface = await call(
        "POST",
        "/v1/sso/providers",
        { kind: "social", surfaceId: p.b.surfaceId, name: "x", issuer: idp.issuer, clientId: "c", clientSecret: "s" },
        p.a.secretKey,
      );
      expect(foreignSurface.status).toBe(404);
      const id = await provider();
      for (const [method, body] of [["GET"], ["PATCH", { name: "y" }], ["DELETE"]] as const) {
        const res = await call(method, `/v1/sso/providers/${id}`, body, p.b.secretKey);
        expect(res.status, method).toBe(404);
        expect(res.body.code).toBe("provider_not_found");
      }
      expect((await call("GET", "/v1/sso/providers", undefined, p.b.secretKey)).body.data).toEqual([]);
    });

    it("end their links when the issuer changes, and everything when deleted", async () => {
      const id = await provider({ trustEmailVerified: true });
      const res = await signIn(id, account({ email: "lee@example.com", email_verified: true }));
      const userId = (res.body.user as { id: string }).id;
      const moved = await call("PATCH", `/v1/sso/providers/${id}`, { issuer: `${idp.issuer}/` }, p.a.secretKey);
      expect(moved.status).toBe(200);
      expect(await count("user_identity", userId)).toBe(0);
      expect((await call("DELETE", `/v1/sso/providers/${id}`, undefined, p.a.secretKey)).status).toBe(200);
      expect((await call("GET", `/v1/sso/providers/${id}`, undefined, p.a.secretKey)).status).toBe(404);
    });
  });
});
