import { afterEach, beforeEach, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";

// Issue 18 (support access): an operator acts inside a tenant only under time-boxed support access
// it asked for with a reason; the tenant sees it (list, audit, events) and, under its policy,
// approves it first; every write under it is audited as the operator and the grant; it ends by
// itself, or when the tenant revokes it — and a write racing the revocation never commits after it.

type Json = Record<string, unknown>;
interface Res {
  status: number;
  body: Json;
}
const MINUTE = 60_000;

describeEachEngine("support access", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let clock: TestClock;
  let owner: { id: string; session: string };
  let admin: { id: string; session: string };

  async function call(token: string | null, method: string, url: string, body?: unknown, env?: string): Promise<Res> {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(env ? { "baseplate-environment": env } : {}),
      },
      ...(body === undefined ? {} : { payload: body as object }),
    });
    return { status: res.statusCode, body: res.body ? (JSON.parse(res.body) as Json) : {} };
  }
  const op = (method: string, url: string, body?: unknown) => call(p.operatorToken, method, url, body, p.a.id);
  const support = (method: string, url: string, body?: unknown) => call(p.supportToken, method, url, body, p.a.id);
  const key = (method: string, url: string, body?: unknown) => call(p.a.secretKey, method, url, body);
  function ok(res: Res, status = 200): Json {
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    return res.body;
  }
  function refused(res: Res, status: number, code: string): void {
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    expect(res.body.code).toBe(code);
  }
  async function userSession(email: string): Promise<{ id: string; session: string }> {
    const user = ok(await key("POST", "/v1/users", { email, password: TEST_PASSWORD }), 201);
    const login = ok(
      await call(null, "POST", "/v1/auth/login", { surfaceId: p.a.surfaceId, email, password: TEST_PASSWORD }),
      201,
    );
    return { id: user.id as string, session: login.token as string };
  }
  async function tenant(name: string, mode?: "approval_required"): Promise<string> {
    const id = ok(await key("POST", "/v1/tenants", { name }), 201).id as string;
    ok(await key("POST", `/v1/tenants/${id}/members`, { userId: owner.id, roles: ["owner"] }), 201);
    ok(await key("POST", `/v1/tenants/${id}/members`, { userId: admin.id, roles: ["admin"] }), 201);
    if (mode) ok(await call(owner.session, "PUT", `/v1/tenants/${id}/support-policy`, { mode }));
    return id;
  }
  const ask = (tenantId: string, extra: Json = {}) =>
    op("POST", "/v1/support-access", { tenantId, reason: "Customer reported missing invoices (ticket 812)", ...extra });

  // A plane per test: the clock moves days, past sessions' lifetimes.
  beforeEach(async () => {
    clock = new TestClock(Date.parse("2026-12-07T09:00:00Z"));
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
    owner = await userSession("owner@example.com");
    admin = await userSession("admin@example.com");
  });
  afterEach(async () => t?.close());

  it("under the default `notify` policy: granted at once, seen by the tenant, audited with both identities, ends by itself", async () => {
    const tenantId = await tenant("Acme");
    refused(await op("GET", `/v1/tenants/${tenantId}/members`), 403, "support_access_required");
    // The tenant's record and its lifecycle stay the plane's to read without support access.
    ok(await op("GET", `/v1/tenants/${tenantId}`));

    const grant = ok(await ask(tenantId, { access: "write", durationMinutes: 30 }), 201);
    expect(grant).toMatchObject({ status: "active", access: "write", policy: "notify", durationMinutes: 30 });
    expect(grant.operatorName).toBe("admin@example.com");
    expect(Date.parse(grant.expiresAt as string)).toBe(clock.now() + 30 * MINUTE);
    ok(await op("GET", `/v1/tenants/${tenantId}/members`));
    ok(await op("PUT", `/v1/tenants/${tenantId}/rate-limits`, { tenant: { write: { limit: 50, windowSeconds: 60 } } }));

    // The tenant sees it: its owners and admins list it; the audit log names operator and grant.
    const seen = ok(await call(owner.session, "GET", `/v1/tenants/${tenantId}/support-access`));
    expect((seen.data as Json[]).map((g) => g.id)).toEqual([grant.id]);
    ok(await call(admin.session, "GET", `/v1/tenants/${tenantId}/support-access/${grant.id}`));
    const audit = ok(await call(owner.session, "GET", `/v1/tenants/${tenantId}/audit/entries?order=oldest&limit=100`));
    const entries = audit.data as Array<{ action: string; actor: Json }>;
    expect(entries.map((e) => e.action)).toEqual(
      expect.arrayContaining(["support_access.requested", "support_access.approved", "tenant_rate_limits.set"]),
    );
    const write = entries.find((e) => e.action === "tenant_rate_limits.set");
    expect(write?.actor).toMatchObject({
      type: "operator",
      id: p.operatorId,
      onBehalfOf: { type: "support_access", id: grant.id, reason: "Customer reported missing invoices (ticket 812)" },
    });
    const events = ok(await key("GET", `/v1/events?tenantId=${tenantId}&limit=100`));
    const types = (events.data as Json[]).map((e) => e.type as string).filter((type) => type.startsWith("support_"));
    expect(types).toEqual(["support_access.requested", "support_access.approved"]);

    clock.advance(30 * MINUTE);
    refused(await op("GET", `/v1/tenants/${tenantId}/members`), 403, "support_access_required");
    expect(ok(await op("GET", `/v1/support-access/${grant.id}`)).status).toBe("expired");
  });

  it("under `approval_required`: waits for an owner, who approves, denies or revokes; nobody else decides", async () => {
    const tenantId = await tenant("Globex", "approval_required");
    // Operators never set the policy that checks them, not even under write access.
    refused(
      await op("PUT", `/v1/tenants/${tenantId}/support-policy`, { mode: "notify" }),
      403,
      "support_access_required",
    );
    const asked = ok(await ask(tenantId, { access: "write" }), 201);
    const write = ok(
      await call(owner.session, "POST", `/v1/tenants/${tenantId}/support-access/${asked.id}/approve`, {}),
    );
    refused(
      await op("PUT", `/v1/tenants/${tenantId}/support-policy`, { mode: "notify" }),
      403,
      "support_access_decided_by_members",
    );
    ok(await op("POST", `/v1/support-access/${write.id}/end`));
    // The product (a secret key) may set it, by plan for example.
    ok(await key("PUT", `/v1/tenants/${tenantId}/support-policy`, { mode: "approval_required" }));
    expect(ok(await key("GET", `/v1/tenants/${tenantId}/support-policy`)).mode).toBe("approval_required");
    const pending = ok(await ask(tenantId), 201);
    expect(pending).toMatchObject({ status: "pending", access: "read", policy: "approval_required", expiresAt: null });
    refused(await op("GET", `/v1/tenants/${tenantId}/members`), 403, "support_access_required");

    const url = `/v1/tenants/${tenantId}/support-access/${pending.id}`;
    refused(await key("POST", `${url}/approve`, {}), 403, "support_access_decided_by_members");
    // An admin member may see it but not approve (owners hold `support_access:approve`).
    refused(await call(admin.session, "POST", `${url}/approve`, {}), 403, "forbidden");
    const approved = ok(await call(owner.session, "POST", `${url}/approve`, { note: "OK for today" }));
    expect(approved).toMatchObject({ status: "active", decidedBy: owner.id, decisionNote: "OK for today" });
    refused(await call(owner.session, "POST", `${url}/approve`, {}), 409, "support_access_not_pending");
    ok(await op("GET", `/v1/tenants/${tenantId}/members`));
    // Read access: a write is refused, and names what to ask for.
    refused(
      await op("POST", `/v1/tenants/${tenantId}/invitations`, { email: "x@example.com", roles: ["admin"] }),
      403,
      "support_access_required",
    );

    const revoked = ok(await call(owner.session, "POST", `${url}/revoke`, { note: "Done" }));
    expect(revoked).toMatchObject({ status: "ended", endedBy: { type: "user", id: owner.id } });
    refused(await op("GET", `/v1/tenants/${tenantId}/members`), 403, "support_access_required");
    refused(await call(owner.session, "POST", `${url}/revoke`, {}), 409, "support_access_not_active");

    const second = ok(await ask(tenantId), 201);
    const denied = ok(
      await call(owner.session, "POST", `/v1/tenants/${tenantId}/support-access/${second.id}/deny`, {
        note: "Not now",
      }),
    );
    expect(denied).toMatchObject({ status: "denied", decidedBy: owner.id });
    refused(await op("GET", `/v1/tenants/${tenantId}/members`), 403, "support_access_required");

    // A request nobody decides lapses after a day.
    const third = ok(await ask(tenantId), 201);
    clock.advance(24 * 60 * MINUTE + 1);
    const login = await call(null, "POST", "/v1/auth/login", {
      surfaceId: p.a.surfaceId,
      email: "owner@example.com",
      password: TEST_PASSWORD,
    });
    refused(
      await call(
        ok(login, 201).token as string,
        "POST",
        `/v1/tenants/${tenantId}/support-access/${third.id}/approve`,
        {},
      ),
      409,
      "support_access_not_pending",
    );
    const lapsed = ok(await op("GET", `/v1/support-access?tenantId=${tenantId}&status=expired`));
    expect((lapsed.data as Json[]).map((g) => g.id)).toContain(third.id);
  });

  it("a support operator asks for reading only; ending early is the operator's, an admin's or a secret key's", async () => {
    const tenantId = await tenant("Initech");
    refused(
      await support("POST", "/v1/support-access", { tenantId, reason: "Look at the webhooks", access: "write" }),
      403,
      "forbidden",
    );
    const grant = ok(await support("POST", "/v1/support-access", { tenantId, reason: "Look at the webhooks" }), 201);
    ok(await support("GET", `/v1/tenants/${tenantId}/members`));
    refused(await op("GET", `/v1/tenants/${tenantId}/members`), 403, "support_access_required");
    const ended = ok(await support("POST", `/v1/support-access/${grant.id}/end`));
    expect(ended).toMatchObject({ status: "ended", endedBy: { type: "operator" } });
    refused(await support("GET", `/v1/tenants/${tenantId}/members`), 403, "support_access_required");
    refused(await support("POST", `/v1/support-access/${grant.id}/end`), 409, "support_access_not_active");
  });

  it("refuses bad input and other environments' tenants and grants, changing nothing", async () => {
    const tenantId = await tenant("Hooli");
    for (const body of [
      { tenantId, reason: "short" },
      { tenantId, reason: "A reason long enough", durationMinutes: 481 },
      { tenantId, reason: "A reason long enough", durationMinutes: 4 },
      { tenantId, reason: "A reason long enough", access: "admin" },
      { reason: "A reason long enough" },
      { tenantId, reason: "A reason long enough", extra: true },
    ]) {
      refused(await op("POST", "/v1/support-access", body), 400, "validation_failed");
    }
    refused(await key("POST", "/v1/support-access", { tenantId, reason: "A reason long enough" }), 403, "forbidden");
    const noEnv = await call(p.operatorToken, "POST", "/v1/support-access", {
      tenantId,
      reason: "A reason long enough",
    });
    refused(noEnv, 403, "forbidden");
    const inB = await call(
      p.operatorToken,
      "POST",
      "/v1/support-access",
      { tenantId, reason: "A reason long enough" },
      p.b.id,
    );
    refused(inB, 404, "not_found");
    const grant = ok(await ask(tenantId), 201);
    refused(
      await call(p.operatorToken, "GET", `/v1/support-access/${grant.id}`, undefined, p.b.id),
      404,
      "support_access_not_found",
    );
    refused(await call(p.b.secretKey, "POST", `/v1/support-access/${grant.id}/end`), 404, "support_access_not_found");
    const other = await tenant("Umbrella");
    refused(
      await call(owner.session, "POST", `/v1/tenants/${other}/support-access/${grant.id}/revoke`, {}),
      404,
      "support_access_not_found",
    );
    expect(ok(await op("GET", `/v1/support-access/${grant.id}`)).status).toBe("active");
  });

  it("environment-wide lists show an operator the environment's own rows and tenants' lifecycle, nothing else of a tenant", async () => {
    const tenantId = await tenant("Listed");
    ok(
      await key("POST", "/v1/webhooks/endpoints", { url: "https://hooks.example.com/t", tenantId, eventTypes: ["*"] }),
      201,
    );
    ok(await key("POST", "/v1/webhooks/endpoints", { url: "https://hooks.example.com/env", eventTypes: ["*"] }), 201);
    const byKey = ok(await key("GET", "/v1/events?limit=100"));
    expect((byKey.data as Json[]).some((e) => e.tenantId === tenantId)).toBe(true);
    for (const url of ["/v1/events?limit=100", "/v1/audit/entries?limit=100", "/v1/webhooks/endpoints?limit=100"]) {
      const rows = ok(await op("GET", url)).data as Json[];
      expect(rows.length, url).toBeGreaterThan(0);
      // Tenants' lifecycle (`tenant.*`) is the plane's to see; nothing else of a tenant is.
      const tenants = rows.filter((r) => r.tenantId !== null && r.tenantId !== undefined);
      expect(
        tenants.filter((r) => !String(r.action ?? r.type).startsWith("tenant.")),
        url,
      ).toEqual([]);
    }
    // Under support access, naming the tenant shows its rows.
    ok(await ask(tenantId), 201);
    const events = ok(await op("GET", `/v1/events?tenantId=${tenantId}&limit=100`)).data as Json[];
    expect(events.length).toBeGreaterThan(0);
    const endpoints = ok(await op("GET", `/v1/webhooks/endpoints?tenantId=${tenantId}`)).data as Json[];
    expect(endpoints.map((e) => e.url)).toEqual(["https://hooks.example.com/t"]);
  });

  it("usage: an operator reads the environment's totals; a tenant's usage and holds only under support access", async () => {
    const tenantId = await tenant("Metered");
    ok(
      await key("POST", "/v1/usage/meters", {
        key: "calls",
        eventType: "api.call",
        aggregation: "sum",
        valuePath: "n",
      }),
      201,
    );
    ok(
      await key("POST", `/v1/tenants/${tenantId}/entitlements`, {
        feature: "api",
        meter: "calls",
        limit: 10,
        period: "month",
      }),
    );
    ok(await key("POST", "/v1/usage/events", { id: "u1", type: "api.call", subject: tenantId, data: { n: 3 } }));
    const hold = ok(await key("POST", "/v1/usage/holds", { tenantId, feature: "api", amount: 2 }), 201);
    // Environment-wide: the totals, no tenant's figures, no holds.
    const totals = ok(await op("GET", "/v1/usage/meters/calls/usage"));
    expect(totals.totals).toEqual([{ group: {}, value: 3, events: 1 }]);
    refused(await op("GET", "/v1/usage/meters/calls/usage?groupBy=tenantId"), 403, "support_access_required");
    refused(await op("GET", `/v1/usage/meters/calls/usage?tenantId=${tenantId}`), 403, "support_access_required");
    refused(await op("GET", `/v1/usage/holds?tenantId=${tenantId}`), 403, "support_access_required");
    expect(ok(await op("GET", "/v1/usage/holds")).data).toEqual([]);
    // Under support access: the tenant's usage and holds.
    ok(await ask(tenantId), 201);
    expect(ok(await op("GET", `/v1/usage/meters/calls/usage?tenantId=${tenantId}`)).totals).toEqual([
      { group: {}, value: 3, events: 1 },
    ]);
    const holds = ok(await op("GET", `/v1/usage/holds?tenantId=${tenantId}`)).data as Json[];
    expect(holds.map((h) => h.id)).toEqual([hold.id]);
  });

  it("a revocation racing 30 writes under the grant: no write commits after it", async () => {
    const tenantId = await tenant("Racing");
    const grant = ok(await ask(tenantId, { access: "write" }), 201);
    const url = `/v1/tenants/${tenantId}/rate-limits`;
    const writes = Array.from({ length: 30 }, (_, i) =>
      op("PUT", url, { tenant: { write: { limit: 100 + i, windowSeconds: 60 } } }),
    );
    const revoke = call(owner.session, "POST", `/v1/tenants/${tenantId}/support-access/${grant.id}/revoke`, {});
    const answers = await Promise.all([...writes, revoke]);
    expect(answers.at(-1)?.status).toBe(200);
    const statuses = answers.slice(0, -1).map((a) => a.status);
    expect(
      statuses.every((s) => s === 200 || s === 403),
      JSON.stringify(statuses),
    ).toBe(true);
    const audit = ok(await key("GET", `/v1/audit/entries?tenantId=${tenantId}&order=oldest&limit=100`));
    const actions = (audit.data as Array<{ action: string }>).map((e) => e.action);
    const revokedAt = actions.indexOf("support_access.revoked");
    expect(revokedAt).toBeGreaterThan(-1);
    expect(actions.lastIndexOf("tenant_rate_limits.set")).toBeLessThan(revokedAt);
    expect(actions.filter((a) => a === "tenant_rate_limits.set")).toHaveLength(
      statuses.filter((s) => s === 200).length,
    );
    refused(
      await op("PUT", url, { tenant: { write: { limit: 1, windowSeconds: 60 } } }),
      403,
      "support_access_required",
    );
  });
});
