import { afterEach, beforeEach, expect, it } from "vitest";
import { TestClock } from "../src/platform/clock.js";
import { fromJson } from "../src/platform/db/db.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../src/testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../src/testing/harness.js";
import { freePort, type PlaneProcess, spawnPlane } from "../src/testing/spawn.js";

// What an agent (or a tenant key) tried is reviewable, not only what it did: a refused request
// (permission, another tenant, suspension, a route its credential may not call) is an
// `access.denied` audit entry in the caller's tenant, with the actor (and the user behind an agent),
// the action and the reason. A looping caller cannot flood the chain: at most one entry per key,
// action and reason per minute, the repeats in between counted in the next entry, in every process.

type Json = Record<string, unknown>;

describeEachEngine("refused requests are audited", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let clock: TestClock;
  let tenantId: string;
  let otherTenantId: string;
  let owner: string;
  let userId: string;
  let agentKey: string;
  let tenantKey: string;

  beforeEach(async () => {
    clock = new TestClock(Date.UTC(2026, 11, 10, 12));
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
    tenantId = (await ok(p.a.secretKey, "POST", "/v1/tenants", { name: "Acme" })).id as string;
    otherTenantId = (await ok(p.a.secretKey, "POST", "/v1/tenants", { name: "Globex" })).id as string;
    const user = await ok(p.a.secretKey, "POST", "/v1/users", { email: "owner@example.com", password: TEST_PASSWORD });
    userId = user.id as string;
    await ok(p.a.secretKey, "POST", `/v1/tenants/${tenantId}/members`, { userId, roles: ["owner"] });
    owner = (
      await ok(null, "POST", "/v1/auth/login", {
        surfaceId: p.a.surfaceId,
        email: "owner@example.com",
        password: TEST_PASSWORD,
      })
    ).token as string;
    agentKey = (
      await ok(owner, "POST", `/v1/tenants/${tenantId}/agent-keys`, { name: "helper", scopes: ["members:read"] })
    ).token as string;
    tenantKey = (
      await ok(owner, "POST", `/v1/tenants/${tenantId}/keys`, {
        name: "sync",
        permissions: ["members:*", "audit:read"],
      })
    ).token as string;
  });
  afterEach(async () => t.close());

  async function call(token: string | null, method: string, url: string, body?: unknown) {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return { status: res.statusCode, body: (res.body ? JSON.parse(res.body) : {}) as Json };
  }
  async function ok(token: string | null, method: string, url: string, body?: unknown): Promise<Json> {
    const res = await call(token, method, url, body);
    expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
    return res.body;
  }
  const invite = (token: string, tenant = tenantId) =>
    call(token, "POST", `/v1/tenants/${tenant}/invitations`, { email: "new@example.com", roles: ["member"] });
  /** denials reads the tenant's `access.denied` entries as the tenant's owner sees them. */
  async function denials(): Promise<Json[]> {
    const page = await ok(owner, "GET", `/v1/tenants/${tenantId}/audit/entries?action=access.denied&limit=100`);
    return page.data as Json[];
  }

  it("records an agent's, and a tenant key's, refusals in the tenant's audit log with actor, action and reason", async () => {
    expect((await invite(agentKey)).status).toBe(403); // the agent's scopes lack members:invite
    expect((await call(tenantKey, "GET", `/v1/tenants/${otherTenantId}/members`)).status).toBe(404);
    expect((await call(tenantKey, "POST", "/v1/tenants", { name: "Mine" })).status).toBe(403); // secret keys only
    // Allowed requests and anonymous ones leave no such entry.
    expect((await call(agentKey, "GET", `/v1/tenants/${tenantId}/members`)).status).toBe(200);
    expect((await call(null, "POST", "/v1/tenants", { name: "x" })).status).toBe(401);

    const entries = await denials();
    const byReason = Object.fromEntries(entries.map((e) => [(e.metadata as Json).reason, e]));
    expect(Object.keys(byReason).sort()).toEqual(["credential_not_accepted", "missing_permission", "other_tenant"]);
    expect(byReason.missing_permission).toMatchObject({
      action: "access.denied",
      tenantId,
      actor: { type: "agent", onBehalfOf: { type: "user", id: userId } },
      metadata: {
        action: "members:invite",
        permission: "members:invite",
        route: "POST /v1/tenants/:tenantId/invitations",
        status: 403,
        suppressed: 0,
      },
    });
    expect(byReason.other_tenant).toMatchObject({
      actor: { type: "tenant_key" },
      metadata: { action: "members:read", requestedTenantId: otherTenantId, status: 404 },
    });
    expect(byReason.credential_not_accepted).toMatchObject({
      actor: { type: "tenant_key" },
      metadata: { action: "POST /v1/tenants", permission: null, status: 403 },
    });
    // The tenant key reads its own refusals; the other tenant's log holds none of them.
    const own = await ok(tenantKey, "GET", `/v1/audit/entries?action=access.denied`);
    expect((own.data as Json[]).length).toBe(3);
    const other = await ok(p.a.secretKey, "GET", `/v1/audit/entries?tenantId=${otherTenantId}&action=access.denied`);
    expect(other.data).toEqual([]);
    // The chain still verifies with the new entries in it.
    const verified = await ok(p.a.secretKey, "GET", `/v1/audit/verify?tenantId=${tenantId}`);
    expect(verified.errors).toEqual([]);
  });

  it("records refusals of a suspended tenant's keys", async () => {
    await ok(p.a.secretKey, "POST", `/v1/tenants/${tenantId}/suspend`, { reason: "abuse", category: "other" });
    expect((await invite(tenantKey)).status).toBe(403);
    expect((await call(tenantKey, "GET", `/v1/tenants/${tenantId}/members`)).status).toBe(200); // reads stay open
    const [entry, ...rest] = await denials();
    expect(rest).toEqual([]);
    expect(entry).toMatchObject({
      actor: { type: "tenant_key" },
      metadata: { action: "members:invite", reason: "tenant_suspended", status: 403 },
    });
  });

  it("50 repeated refusals write one entry a minute; the next entry carries the count of the rest", async () => {
    for (let i = 0; i < 50; i++) expect((await invite(agentKey)).status).toBe(403);
    expect(await denials()).toHaveLength(1);
    clock.advance(30_000);
    expect((await invite(agentKey)).status).toBe(403);
    expect(await denials()).toHaveLength(1);
    // Another reason or action of the same key is its own entry.
    expect((await invite(agentKey, otherTenantId)).status).toBe(404);
    expect(await denials()).toHaveLength(2);
    clock.advance(30_001);
    expect((await invite(agentKey)).status).toBe(403);
    const entries = (await denials())
      .filter((e) => (e.metadata as Json).reason === "missing_permission")
      .sort((x, y) => Number(x.seq) - Number(y.seq));
    expect(entries.map((e) => (e.metadata as Json).suppressed)).toEqual([0, 50]);
  });

  it("the limit holds across processes: 50 refusals through two processes write one entry", async () => {
    const env = {
      ...t.database.env,
      NODE_ENV: "test",
      BASEPLATE_PASSWORD_PROFILE: "test",
      BASEPLATE_WORKERS: "false",
    };
    const planes: PlaneProcess[] = [];
    try {
      const ports = [await freePort(), await freePort()];
      planes.push(
        ...(await Promise.all(
          ports.map((port) => spawnPlane("serve-plane", { ...env, BASEPLATE_PORT: String(port) })),
        )),
      );
      const statuses = await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const base = planes[i % 2]?.ready.url as string;
          const res = await fetch(`${base}/v1/tenants/${tenantId}/invitations`, {
            method: "POST",
            headers: { authorization: `Bearer ${agentKey}`, "content-type": "application/json" },
            body: JSON.stringify({ email: "new@example.com", roles: ["member"] }),
          });
          await res.arrayBuffer();
          return res.status;
        }),
      );
      expect(statuses.every((s) => s === 403)).toBe(true);
    } finally {
      for (const plane of planes) plane.child.kill("SIGTERM");
      await Promise.all(planes.map((plane) => plane.exited));
    }
    const entries = await t.app.db.kysely
      .selectFrom("audit_entry")
      .select(["action", "metadata"])
      .where("action", "=", "access.denied")
      .execute();
    expect(entries).toHaveLength(1);
    const window = await t.app.db.kysely.selectFrom("audit_denial_window").select(["suppressed"]).execute();
    expect(window.map((w) => Number(w.suppressed))).toEqual([49]);
    expect(fromJson<Json>(entries[0]?.metadata)).toMatchObject({ reason: "missing_permission", suppressed: 0 });
  });
});
