import { afterAll, beforeAll, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { captureLogs, createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { portalModule } from "./index.js";

// The tenant portal (docs/portal.md): a product's backend mints a one-time link for a tenant's
// admin; the portal page exchanges it, once, for a short-lived session bound to that tenant. The
// session sees and changes its own tenant's data only (another tenant's objects answer 404), acts
// read-only while the tenant is suspended, and everything it does is audited as the portal session
// on behalf of the credential that vouched for the admin.

type Json = Record<string, unknown>;
interface Res {
  status: number;
  body: Json;
}

describeEachEngine("tenant portal", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  const clock = new TestClock(1_800_000_000_000);
  const DEBUG = captureLogs("error");

  async function call(token: string | null, method: string, url: string, body?: unknown): Promise<Res> {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      ...(body === undefined ? {} : { payload: body as object }),
    });
    return { status: res.statusCode, body: res.body ? (JSON.parse(res.body) as Json) : {} };
  }
  async function tenant(name: string): Promise<string> {
    const res = await call(p.a.secretKey, "POST", "/v1/tenants", { name });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.id as string;
  }
  async function mint(tenantId: string, body: Json = {}): Promise<Json> {
    const res = await call(p.a.secretKey, "POST", `/v1/tenants/${tenantId}/portal-links`, body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  }
  async function exchange(token: string): Promise<Res> {
    return call(null, "POST", "/v1/portal/sessions", { token });
  }
  async function session(tenantId: string, body: Json = {}): Promise<string> {
    const link = await mint(tenantId, body);
    const res = await exchange(link.token as string);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.token as string;
  }

  let acme: string;
  let globex: string;
  let globexEndpoint: string;
  let globexKey: string;

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true, clock, logger: DEBUG.logger });
    p = await seedPlane(t);
    acme = await tenant("Acme");
    globex = await tenant("Globex");
    const endpoint = await call(p.a.secretKey, "POST", "/v1/webhooks/endpoints", {
      url: "https://hooks.example.com/globex",
      tenantId: globex,
    });
    expect(endpoint.status, JSON.stringify(endpoint.body)).toBe(201);
    globexEndpoint = endpoint.body.id as string;
    const key = await call(p.a.secretKey, "POST", `/v1/tenants/${globex}/keys`, {
      name: "globex backend",
      permissions: ["webhooks:read"],
    });
    expect(key.status, JSON.stringify(key.body)).toBe(201);
    globexKey = key.body.id as string;
  });
  afterAll(async () => {
    await t?.close();
    // No input above answered 5xx: nothing was logged as an error.
    expect(DEBUG.lines.map((l) => l.err ?? l.msg)).toEqual([]);
  });

  it("mints a link whose URL carries the token in its fragment; the exchange opens a session confined to the tenant", async () => {
    const link = await mint(acme, {
      actor: { email: "jane@acme.example", name: "Jane Admin" },
      returnUrl: "https://app.example.com/settings",
    });
    expect(link.url).toMatch(/\/portal#token=bp_pl_/);
    expect(String(link.url).endsWith(link.token as string)).toBe(true);
    expect(link.features).toEqual(["webhooks", "audit", "keys", "members", "usage", "billing", "support", "review"]);
    const started = await exchange(link.token as string);
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    expect(started.body.tenantId).toBe(acme);
    const token = started.body.token as string;
    expect(token).toMatch(/^bp_ps_/);

    const context = await call(token, "GET", "/v1/portal/context");
    expect(context.status, JSON.stringify(context.body)).toBe(200);
    expect(context.body).toMatchObject({
      tenant: { id: acme, name: "Acme" },
      returnUrl: "https://app.example.com/settings",
      actor: { email: "jane@acme.example", name: "Jane Admin" },
    });

    // Its own tenant's webhook endpoints: list, create (shown once), and the endpoint is the tenant's.
    const created = await call(token, "POST", "/v1/webhooks/endpoints", { url: "https://hooks.example.com/acme" });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.tenantId).toBe(acme);
    expect(created.body.secret).toMatch(/^whsec_/);
    const list = await call(token, "GET", "/v1/webhooks/endpoints");
    expect(list.status).toBe(200);
    const ids = (list.body.data as Json[]).map((e) => e.id);
    expect(ids).toContain(created.body.id);
    expect(ids).not.toContain(globexEndpoint);

    // Another tenant's objects answer 404 (existence never leaks); naming another tenant too.
    expect((await call(token, "GET", `/v1/webhooks/endpoints/${globexEndpoint}`)).status).toBe(404);
    expect((await call(token, "DELETE", `/v1/webhooks/endpoints/${globexEndpoint}`)).status).toBe(404);
    expect((await call(token, "GET", `/v1/tenants/${globex}/audit/entries`)).status).toBe(404);
    expect((await call(token, "GET", `/v1/tenants/${globex}/keys`)).status).toBe(404);
    expect((await call(token, "GET", `/v1/tenants/${globex}/keys/${globexKey}`)).status).toBe(404);
    expect((await call(token, "POST", `/v1/tenants/${globex}/keys/${globexKey}/revoke`, {})).status).toBe(404);
    expect((await call(token, "GET", `/v1/tenants/${globex}/members`)).status).toBe(404);
    expect(
      (await call(token, "POST", "/v1/webhooks/endpoints", { url: "https://hooks.example.com/x", tenantId: globex }))
        .status,
    ).toBe(404);
    // Environment routes stay closed to it.
    expect((await call(token, "GET", "/v1/tenants")).status).toBe(403);
    expect((await call(token, "POST", `/v1/tenants/${acme}/portal-links`, {})).status).toBe(403);

    // Its own audit log, keys and members are open; the audit entry names the session and the admin.
    const audit = await call(token, "GET", `/v1/tenants/${acme}/audit/entries?limit=100`);
    expect(audit.status, JSON.stringify(audit.body)).toBe(200);
    const entry = (audit.body.data as Json[]).find((e) => e.action === "webhook_endpoint.created");
    expect(entry?.actor).toMatchObject({
      type: "portal",
      id: started.body.id,
      displayName: "Portal: Jane Admin <jane@acme.example>",
      onBehalfOf: { type: "service", id: p.a.secretKeyId },
    });
    expect((await call(token, "GET", `/v1/tenants/${acme}/keys`)).status).toBe(200);
    expect((await call(token, "GET", `/v1/tenants/${acme}/members`)).status).toBe(200);
    const key = await call(token, "POST", `/v1/tenants/${acme}/keys`, { name: "ci", permissions: ["webhooks:read"] });
    expect(key.status, JSON.stringify(key.body)).toBe(201);
  });

  it("every section the portal page draws answers the session, for its own tenant", async () => {
    const token = await session(acme, { actor: { email: "ops@acme.example" } });
    for (const url of [
      "/v1/webhooks/endpoints",
      `/v1/tenants/${acme}/audit/entries?action=webhook_endpoint.created`,
      `/v1/tenants/${acme}/audit/export?format=csv`,
      `/v1/tenants/${acme}/keys`,
      `/v1/tenants/${acme}/members`,
      `/v1/tenants/${acme}/invitations`,
      `/v1/tenants/${acme}/entitlements`,
      `/v1/tenants/${acme}/billing/usage`,
      `/v1/tenants/${acme}/billing/invoices`,
      `/v1/tenants/${acme}`,
    ]) {
      const res = await t.inject({ method: "GET", url, headers: { authorization: `Bearer ${token}` } });
      expect(res.statusCode, `${url}: ${res.body.slice(0, 300)}`).toBe(200);
    }
    // Invitations give roles within the session's own permissions (a custom role of the product's).
    const role = await call(p.a.secretKey, "POST", "/v1/roles", {
      key: "webhook_viewer",
      name: "Webhook viewer",
      permissions: ["webhooks:read"],
    });
    expect(role.status, JSON.stringify(role.body)).toBe(201);
    const admin = await call(token, "POST", `/v1/tenants/${acme}/invitations`, {
      email: "new.admin@acme.example",
      roles: ["admin"],
    });
    expect(admin.status).toBe(403);
    expect(admin.body.code).toBe("grant_exceeds_own");
    const invited = await call(token, "POST", `/v1/tenants/${acme}/invitations`, {
      email: "viewer@acme.example",
      roles: ["webhook_viewer"],
    });
    expect(invited.status, JSON.stringify(invited.body)).toBe(201);
    const revoked = await call(token, "POST", `/v1/tenants/${acme}/invitations/${invited.body.id}/revoke`, {});
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
    // Never another tenant's, nor the environment's.
    expect((await call(token, "GET", `/v1/tenants/${globex}/billing/invoices`)).status).toBe(404);
    expect((await call(token, "GET", `/v1/tenants/${globex}/entitlements`)).status).toBe(404);
    expect((await call(token, "GET", "/v1/audit/entries")).status).toBe(403);
  });

  it("an idempotent replay of a mint answers the same link without its token", async () => {
    const send = () =>
      t.inject({
        method: "POST",
        url: `/v1/tenants/${acme}/portal-links`,
        headers: { authorization: `Bearer ${p.a.secretKey}`, "idempotency-key": "portal-mint-1" },
        payload: {},
      });
    const first = await send();
    expect(first.statusCode, first.body).toBe(201);
    const again = await send();
    expect(again.statusCode, again.body).toBe(201);
    const [a, b] = [JSON.parse(first.body) as Json, JSON.parse(again.body) as Json];
    expect(b.id).toBe(a.id);
    expect(b.token).toBeNull();
    expect(b.url).toBeNull();
  });

  it("a link's features limit what its session may do", async () => {
    const token = await session(acme, { features: ["audit"] });
    expect((await call(token, "GET", `/v1/tenants/${acme}/audit/entries`)).status).toBe(200);
    expect((await call(token, "GET", "/v1/webhooks/endpoints")).status).toBe(403);
    expect((await call(token, "GET", `/v1/tenants/${acme}/keys`)).status).toBe(403);
    const context = await call(token, "GET", "/v1/portal/context");
    expect(context.body.features).toEqual(["audit"]);
  });

  it("a link opens one session: a second exchange is refused, and of 50 racing exchanges exactly one wins", async () => {
    const link = await mint(acme);
    expect((await exchange(link.token as string)).status).toBe(201);
    const again = await exchange(link.token as string);
    expect(again.status).toBe(401);
    expect(again.body.code).toBe("portal_link_invalid");

    const raced = await mint(acme);
    const results = await Promise.all(Array.from({ length: 50 }, () => exchange(raced.token as string)));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 401)).toHaveLength(49);
    expect(results.every((r) => r.status === 201 || r.body.code === "portal_link_invalid")).toBe(true);
  });

  it("a link expires; so does its session", async () => {
    const link = await mint(acme, { expiresInSeconds: 60, sessionExpiresInSeconds: 300 });
    clock.advance(61_000);
    const late = await exchange(link.token as string);
    expect(late.status).toBe(401);
    expect(late.body.code).toBe("portal_link_invalid");
    expect(String(late.body.detail)).toMatch(/expired/);

    const token = await session(acme, { sessionExpiresInSeconds: 300 });
    expect((await call(token, "GET", "/v1/portal/context")).status).toBe(200);
    clock.advance(301_000);
    expect((await call(token, "GET", "/v1/portal/context")).status).toBe(401);
  });

  it("a revoked session is refused", async () => {
    const token = await session(acme);
    const revoked = await call(token, "DELETE", "/v1/portal/sessions/current");
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
    expect((await call(token, "GET", "/v1/portal/context")).status).toBe(401);
    expect((await call(token, "GET", "/v1/webhooks/endpoints")).status).toBe(401);
  });

  it("while the tenant is suspended the portal reads but does not write", async () => {
    const id = await tenant("Initech");
    const token = await session(id);
    const suspended = await call(p.a.secretKey, "POST", `/v1/tenants/${id}/suspend`, { reason: "unpaid" });
    expect(suspended.status, JSON.stringify(suspended.body)).toBe(200);
    expect((await call(token, "GET", "/v1/webhooks/endpoints")).status).toBe(200);
    const write = await call(token, "POST", "/v1/webhooks/endpoints", { url: "https://hooks.example.com/i" });
    expect(write.status).toBe(403);
    expect(write.body.code).toBe("tenant_suspended");
  });

  it("refuses bad input with 400s, another environment's tenant with 404, tenant-bound callers with 403", async () => {
    const bad = [
      { expiresInSeconds: 10 },
      { expiresInSeconds: 7200 },
      { returnUrl: "http://evil.example.com/" },
      { returnUrl: "javascript:alert(1)" },
      { features: ["nope"] },
      { features: [] },
      { actor: { email: "not an email" } },
      { extra: true },
    ];
    for (const body of bad) {
      const res = await call(p.a.secretKey, "POST", `/v1/tenants/${acme}/portal-links`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    // The back link is https only, loopback spellings included: a link a browser follows is held to
    // the rules of every URL the plane accepts.
    for (const returnUrl of ["http://localhost:3000/x", "http://127.1/", "http://[::1]/"]) {
      const res = await call(p.a.secretKey, "POST", `/v1/tenants/${acme}/portal-links`, { returnUrl });
      expect(res.status, returnUrl).toBe(400);
    }
    expect(
      (await call(p.a.secretKey, "POST", `/v1/tenants/${acme}/portal-links`, { returnUrl: "https://localhost:3000/x" }))
        .status,
    ).toBe(201);
    expect((await call(p.b.secretKey, "POST", `/v1/tenants/${acme}/portal-links`, {})).status).toBe(404);
    expect(
      (await call(p.a.secretKey, "POST", `/v1/tenants/${acme}/portal-links`, { surfaceId: p.b.surfaceId })).status,
    ).toBe(404);
    const key = await call(p.a.secretKey, "POST", `/v1/tenants/${acme}/keys`, { name: "k", permissions: ["*"] });
    expect((await call(key.body.token as string, "POST", `/v1/tenants/${acme}/portal-links`, {})).status).toBe(403);
    for (const token of ["", "bp_pl_nope", "bp_ps_x", "x".repeat(600)]) {
      const res = await exchange(token);
      expect([400, 401]).toContain(res.status);
    }
    expect((await call(null, "GET", "/v1/portal/context")).status).toBe(401);
    expect((await call(p.a.secretKey, "GET", "/v1/portal/context")).status).toBe(403);
  });

  it("a surface's theme is validated, shown to the portal, and confined to its environment", async () => {
    const url = `/v1/surfaces/${p.a.surfaceId}/portal-theme`;
    for (const body of [
      { logoUrl: "http://cdn.example.com/logo.png" },
      { primaryColor: "red" },
      { accentColor: "#12345" },
      { name: "" },
      { unknown: 1 },
    ]) {
      expect((await call(p.a.secretKey, "PUT", url, body)).status, JSON.stringify(body)).toBe(400);
    }
    const set = await call(p.a.secretKey, "PUT", url, {
      name: "Acme Suite",
      logoUrl: "https://cdn.example.com/logo.png",
      primaryColor: "#1A2B3C",
      accentColor: "#ffcc00",
    });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body.primaryColor).toBe("#1a2b3c");
    expect((await call(p.a.secretKey, "GET", url)).body.name).toBe("Acme Suite");
    expect((await call(p.b.secretKey, "GET", url)).status).toBe(404);
    expect((await call(p.b.secretKey, "PUT", url, { name: "x" })).status).toBe(404);
    const token = await session(acme);
    const context = await call(token, "GET", "/v1/portal/context");
    expect(context.body.theme).toMatchObject({ name: "Acme Suite", logoUrl: "https://cdn.example.com/logo.png" });
    expect((await call(token, "PUT", url, { name: "mine" })).status).toBe(403);
  });

  it("prunes links and sessions a day after they ended", async () => {
    const link = await mint(acme);
    const token = await session(acme);
    clock.advance(3_600_000 + 86_400_000 + 1_000);
    const pruned = await t.app.service(portalModule).prune();
    expect(pruned.links).toBeGreaterThanOrEqual(2);
    expect(pruned.sessions).toBeGreaterThanOrEqual(1);
    expect((await exchange(link.token as string)).status).toBe(401);
    expect((await call(token, "GET", "/v1/portal/context")).status).toBe(401);
    expect(await t.app.service(portalModule).prune()).toEqual({ links: 0, sessions: 0 });
  });
});
