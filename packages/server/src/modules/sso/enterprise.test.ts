import { createSocket, type Socket } from "node:dgram";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { TestIdp } from "../../testing/oidc-idp.js";
import { tenancyModule } from "../tenancy/index.js";

// Enterprise single sign-on: a tenant proves an email domain by a DNS TXT record (answered by a
// tiny DNS server on loopback), its IdP then signs in that domain's addresses, creating users and
// their memberships just in time. Unverified claims route nothing and reveal nothing.

const APP = "http://app.example.test";
const REDIRECT = `${APP}/auth/callback`;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/**
 * TxtServer answers DNS TXT queries over UDP from `records` (name → values); any other name is
 * NXDOMAIN. Just enough of RFC 1035 for a resolver's single question.
 */
class TxtServer {
  readonly records = new Map<string, string[]>();
  private constructor(private readonly socket: Socket) {}

  static async start(): Promise<TxtServer> {
    const socket = createSocket("udp4");
    const server = new TxtServer(socket);
    socket.on("message", (query, peer) => socket.send(server.answer(query), peer.port, peer.address));
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
    return server;
  }

  get address(): string {
    return `127.0.0.1:${(this.socket.address() as AddressInfo).port}`;
  }

  answer(query: Buffer): Buffer {
    let at = 12;
    const labels: string[] = [];
    while (query[at] !== 0 && at < query.length) {
      const len = query[at] as number;
      labels.push(query.subarray(at + 1, at + 1 + len).toString("ascii"));
      at += len + 1;
    }
    const questionEnd = at + 5;
    const values = query.readUInt16BE(at + 1) === 16 ? this.records.get(labels.join(".").toLowerCase()) : undefined;
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2);
    header.writeUInt16BE(values ? 0x8580 : 0x8583, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(values?.length ?? 0, 6);
    const answers = (values ?? []).map((value) => {
      const text = Buffer.from(value);
      const rr = Buffer.alloc(12);
      rr.writeUInt16BE(0xc00c, 0);
      rr.writeUInt16BE(16, 2);
      rr.writeUInt16BE(1, 4);
      rr.writeUInt32BE(60, 6);
      rr.writeUInt16BE(text.length + 1, 10);
      return Buffer.concat([rr, Buffer.from([text.length]), text]);
    });
    return Buffer.concat([header, query.subarray(12, questionEnd), ...answers]);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

let idp: TestIdp;
let dns: TxtServer;
beforeAll(async () => {
  idp = await TestIdp.start([{ clientId: "globex", clientSecret: "globex-secret-789", redirectUris: [REDIRECT] }]);
  dns = await TxtServer.start();
});
afterAll(async () => {
  await idp?.close();
  await dns?.close();
});

describeEachEngine("Enterprise SSO", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  beforeEach(async () => {
    t = await createTestApp(engine, {
      plane: true,
      env: { BASEPLATE_OIDC_ALLOW_INSECURE_ISSUERS: "true", BASEPLATE_DNS_SERVERS: dns.address },
    });
    p = await seedPlane(t);
    await t.app.service(tenancyModule).surfaces.updateSurface(p.operatorCtx, p.a.surfaceId, {
      allowedOrigins: [APP],
      selfSignup: false,
    });
  });
  afterEach(async () => {
    dns.records.clear();
    await t?.close();
  });

  async function call(method: "GET" | "POST" | "DELETE", url: string, body?: unknown, key?: string) {
    const res = await t.inject({
      method,
      url,
      headers: key ? bearer(key) : {},
      ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
    });
    return { status: res.statusCode, body: res.json() as Record<string, unknown> & { code?: string } };
  }

  async function tenant(name: string, key = p.a.secretKey): Promise<string> {
    const res = await call("POST", "/v1/tenants", { name }, key);
    expect(res.status).toBe(201);
    return res.body.id as string;
  }

  async function claim(tenantId: string, domain: string) {
    const res = await call("POST", `/v1/tenants/${tenantId}/domains`, { domain }, p.a.secretKey);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body as { id: string; dnsRecord: { name: string; value: string }; verified: boolean };
  }

  async function verifiedTenant(name: string, domain: string) {
    const tenantId = await tenant(name);
    const c = await claim(tenantId, domain);
    dns.records.set(c.dnsRecord.name, ["v=spf1 -all", c.dnsRecord.value]);
    const res = await call("POST", `/v1/tenants/${tenantId}/domains/${c.id}/verify`, undefined, p.a.secretKey);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const created = await call(
      "POST",
      "/v1/sso/providers",
      {
        kind: "enterprise",
        tenantId,
        name: `${name} SSO`,
        issuer: idp.issuer,
        clientId: "globex",
        clientSecret: "globex-secret-789",
      },
      p.a.secretKey,
    );
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return { tenantId, domainId: c.id, providerId: created.body.id as string };
  }

  async function signInByEmail(email: string, sub: string, claims: Record<string, unknown>) {
    idp.accounts.set(sub, claims);
    const started = await call("POST", "/v1/auth/oidc/start", {
      surfaceId: p.a.surfaceId,
      email,
      redirectUri: REDIRECT,
    });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const url = new URL(started.body.authorizationUrl as string);
    expect(url.searchParams.get("login_hint")).toBe(email);
    const back = await idp.signIn(url.href, sub);
    return call("POST", "/v1/auth/oidc/callback", {
      surfaceId: p.a.surfaceId,
      state: back.get("state"),
      code: back.get("code"),
      iss: back.get("iss"),
    });
  }

  describe("domain verification", () => {
    it("verifies a claim whose TXT record is published, and refuses one whose record is missing or wrong", async () => {
      const tenantId = await tenant("Globex");
      const c = await claim(tenantId, "Globex.COM");
      expect(c).toMatchObject({ domain: "globex.com", verified: false });
      expect(c.dnsRecord.name).toBe("_baseplate-challenge.globex.com");
      expect(c.dnsRecord.value).toMatch(/^baseplate-verification=[A-Za-z0-9_-]{32}$/);
      const verify = () => call("POST", `/v1/tenants/${tenantId}/domains/${c.id}/verify`, undefined, p.a.secretKey);
      const missing = await verify();
      expect(missing.status).toBe(422);
      expect(missing.body.code).toBe("domain_verification_failed");
      dns.records.set(c.dnsRecord.name, ["baseplate-verification=not-the-value"]);
      expect((await verify()).body.code).toBe("domain_verification_failed");
      dns.records.set(c.dnsRecord.name, [c.dnsRecord.value]);
      const ok = await verify();
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ verified: true });
      const verifiedFacts = await t.app.db.kysely
        .selectFrom("probe_fact")
        .select("type")
        .where("type", "like", "sso_domain.%")
        .execute();
      expect(verifiedFacts.map((f) => f.type)).toEqual(["sso_domain.created", "sso_domain.verified"]);
    });

    it("lets one tenant per environment verify a domain", async () => {
      await verifiedTenant("Globex", "globex.com");
      const rival = await tenant("Rival");
      const taken = await call("POST", `/v1/tenants/${rival}/domains`, { domain: "globex.com" }, p.a.secretKey);
      expect(taken.status).toBe(409);
      expect(taken.body.code).toBe("domain_taken");
    });

    it("answers 404 for another environment's tenants and domains", async () => {
      const { tenantId, domainId } = await verifiedTenant("Globex", "globex.com");
      for (const [method, url] of [
        ["GET", `/v1/tenants/${tenantId}/domains`],
        ["GET", `/v1/tenants/${tenantId}/domains/${domainId}`],
        ["POST", `/v1/tenants/${tenantId}/domains/${domainId}/verify`],
        ["DELETE", `/v1/tenants/${tenantId}/domains/${domainId}`],
      ] as const) {
        const res = await call(method, url, undefined, p.b.secretKey);
        expect(res.status, `${method} ${url}`).toBe(404);
      }
      const own = await tenant("Own", p.b.secretKey);
      const other = await call("GET", `/v1/tenants/${own}/domains/${domainId}`, undefined, p.b.secretKey);
      expect(other.status).toBe(404);
      expect(other.body.code).toBe("domain_not_found");
    });
  });

  describe("sign-in routed by a verified domain", () => {
    it("signs a domain's address in through the tenant's IdP and adds the new user to the tenant", async () => {
      const { tenantId, providerId } = await verifiedTenant("Globex", "globex.com");
      const discovered = await call("POST", "/v1/auth/sso/discover", {
        surfaceId: p.a.surfaceId,
        email: "bob@GLOBEX.com",
      });
      expect(discovered.body).toEqual({ sso: true, providerId, providerName: "Globex SSO" });
      const res = await signInByEmail("bob@globex.com", "globex-bob", {
        email: "bob@globex.com",
        email_verified: true,
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.body).toMatchObject({ userCreated: true, linked: true, user: { emailVerified: true } });
      const userId = (res.body.user as { id: string }).id;
      const members = await call("GET", `/v1/tenants/${tenantId}/members`, undefined, p.a.secretKey);
      expect(members.body.data).toEqual([expect.objectContaining({ userId, roles: ["member"] })]);
      const types = (
        await t.app.db.kysely.selectFrom("probe_fact").select(["type", "actor_id"]).orderBy("id").execute()
      ).filter((f) =>
        ["user.signed_up", "user_identity.linked", "membership.created", "user.logged_in"].includes(f.type),
      );
      expect(types).toEqual([
        { type: "user.signed_up", actor_id: userId },
        { type: "user_identity.linked", actor_id: userId },
        { type: "membership.created", actor_id: userId },
        { type: "user.logged_in", actor_id: userId },
      ]);
      // The next sign-in finds the link; the membership is not made twice.
      const again = await signInByEmail("bob@globex.com", "globex-bob", {
        email: "bob@globex.com",
        email_verified: true,
      });
      expect(again.body).toMatchObject({ userCreated: false, linked: false, user: { id: userId } });
    });

    it("links an existing account of the domain and makes it a member", async () => {
      const { tenantId } = await verifiedTenant("Globex", "globex.com");
      const existing = await call(
        "POST",
        "/v1/users",
        { email: "ann@globex.com", password: TEST_PASSWORD },
        p.a.secretKey,
      );
      const res = await signInByEmail("ann@globex.com", "globex-ann", {
        email: "ann@globex.com",
        email_verified: true,
      });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ userCreated: false, linked: true, user: { id: existing.body.id } });
      const members = await call("GET", `/v1/tenants/${tenantId}/members`, undefined, p.a.secretKey);
      expect(members.body.data).toHaveLength(1);
    });

    it("neither links nor creates addresses outside the tenant's verified domains", async () => {
      await verifiedTenant("Globex", "globex.com");
      const victim = await call(
        "POST",
        "/v1/users",
        { email: "ceo@initech.com", password: TEST_PASSWORD },
        p.a.secretKey,
      );
      // The IdP asserts a verified address of a domain its tenant does not own.
      const takeover = await signInByEmail("eve@globex.com", "globex-eve", {
        email: "ceo@initech.com",
        email_verified: true,
      });
      expect(takeover.status).toBe(409);
      expect(takeover.body.code).toBe("account_link_not_trusted");
      const squat = await signInByEmail("mal@globex.com", "globex-mal", {
        email: "mal@initech.com",
        email_verified: true,
      });
      expect(squat.status).toBe(403);
      expect(squat.body.code).toBe("oidc_signup_disabled");
      const identities = await t.app.db.kysely.selectFrom("user_identity").selectAll().execute();
      expect(identities).toEqual([]);
      expect(victim.status).toBe(201);
    });

    it("routes nothing for an unverified claim, and reveals nothing about it", async () => {
      const tenantId = await tenant("Initech");
      await claim(tenantId, "initech.com");
      const discovered = await call("POST", "/v1/auth/sso/discover", {
        surfaceId: p.a.surfaceId,
        email: "x@initech.com",
      });
      const unknown = await call("POST", "/v1/auth/sso/discover", { surfaceId: p.a.surfaceId, email: "x@nowhere.com" });
      expect(discovered.body).toEqual({ sso: false, providerId: null, providerName: null });
      expect(unknown.body).toEqual(discovered.body);
      const start = await call("POST", "/v1/auth/oidc/start", {
        surfaceId: p.a.surfaceId,
        email: "x@initech.com",
        redirectUri: REDIRECT,
      });
      expect(start.status).toBe(422);
      expect(start.body.code).toBe("sso_not_configured");
      // Nor in another environment, where the same domain is verified in environment a.
      await verifiedTenant("Globex", "globex.com");
      const elsewhere = await call("POST", "/v1/auth/sso/discover", {
        surfaceId: p.b.surfaceId,
        email: "x@globex.com",
      });
      expect(elsewhere.body.sso).toBe(false);
    });
  });
});
