import { sql } from "kysely";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { listTables } from "../../testing/isolation/snapshots.js";

// Data subject requests (docs/privacy.md): export of everything the plane holds about an end user,
// and erasure that leaves no readable personal data anywhere while the audit chain still verifies.

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const EMAIL = "Erin.Erasable@Example.com";
const NAME = "Erin Erasable";
const IP = "203.0.113.77";

describeEachEngine("Privacy: export and erasure of a user", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  beforeEach(async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
  });
  afterEach(async () => t?.close());

  const call = async (key: string | null, method: string, url: string, payload?: unknown, headers = {}) =>
    t.inject({
      method: method as "GET",
      url,
      headers: { ...(key ? bearer(key) : {}), ...headers },
      payload: payload as object,
    });

  /** A user with a life: a session, a profile change, a membership, an agent key, an invitation. */
  async function liveUser() {
    // With an idempotency key: the stored response (which names the user) must go with an erasure.
    const user = (
      await call(
        p.a.secretKey,
        "POST",
        "/v1/users",
        { email: EMAIL, name: NAME, password: TEST_PASSWORD },
        { "idempotency-key": "create-erin" },
      )
    ).json();
    const login = await call(
      null,
      "POST",
      "/v1/auth/login",
      { surfaceId: p.a.surfaceId, email: EMAIL, password: TEST_PASSWORD },
      { "x-forwarded-for": IP, "user-agent": "ErinBrowser/1.0" },
    );
    expect(login.statusCode, login.body).toBe(201);
    const session = login.json().token as string;
    expect(
      (await call(p.a.secretKey, "PATCH", `/v1/users/${user.id}`, { profile: { phone: "+1 555 0100" } })).statusCode,
    ).toBe(200);
    const tenant = (await call(p.a.secretKey, "POST", "/v1/tenants", { name: "Erin's shop" })).json();
    const other = (await call(p.a.secretKey, "POST", "/v1/tenants", { name: "Other shop" })).json();
    const member = await call(p.a.secretKey, "POST", `/v1/tenants/${tenant.id}/members`, {
      userId: user.id,
      roles: ["admin"],
    });
    expect(member.statusCode, member.body).toBe(201);
    const agent = await call(p.a.secretKey, "POST", `/v1/tenants/${tenant.id}/agent-keys`, {
      name: "Erin's agent",
      scopes: ["tenants:read"],
      userId: user.id,
    });
    expect(agent.statusCode, agent.body).toBe(201);
    const invite = await call(p.a.secretKey, "POST", `/v1/tenants/${other.id}/invitations`, {
      email: EMAIL,
      roles: ["member"],
    });
    expect(invite.statusCode, invite.body).toBe(201);
    return { user, session, tenant, agentToken: agent.json().token as string };
  }

  /** rowsHolding: every row of every table whose JSON holds `needle` (case-insensitive), by table. */
  async function rowsHolding(needle: string): Promise<Record<string, number>> {
    const found: Record<string, number> = {};
    for (const table of await listTables(t)) {
      const rows = await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(t.app.db.kysely);
      const n = rows.rows.filter((r) =>
        JSON.stringify(r, (_k, v) =>
          typeof v === "bigint" ? String(v) : Buffer.isBuffer(v) ? v.toString("latin1") : v,
        )
          .toLowerCase()
          .includes(needle.toLowerCase()),
      ).length;
      if (n > 0) found[table] = n;
    }
    return found;
  }

  it("keeps an end user's personal fields out of the stored audit trail, and shows them through the API", async () => {
    const { user } = await liveUser();
    const stored = await rowsHolding(EMAIL);
    // The address lives in the user row, the invitation, the throttle counters and the event log —
    // never in an audit entry, where it would outlive an erasure.
    expect(stored.audit_entry).toBeUndefined();
    expect(stored.user).toBe(1);
    const entries = (await call(p.a.secretKey, "GET", `/v1/audit/entries?targetId=${user.id}&order=oldest`)).json()
      .data;
    const created = entries.find((e: { action: string }) => e.action === "user.created");
    expect(created.metadata).toMatchObject({ email: EMAIL, name: NAME });
    const updated = entries.find((e: { action: string }) => e.action === "user.updated");
    expect(updated.changes.after).toEqual({ profile: { phone: "+1 555 0100" } });
    const login = (
      await call(p.a.secretKey, "GET", `/v1/audit/entries?actorId=${user.id}&action=user.logged_in`)
    ).json().data[0];
    expect(login.actor.displayName).toBe(EMAIL);
    expect(login.context.userAgent).toBe("ErinBrowser/1.0");
  });

  it("exports everything the plane holds about the user as JSON", async () => {
    const { user, tenant } = await liveUser();
    const res = await call(p.a.secretKey, "GET", `/v1/users/${user.id}/export`);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body.user).toMatchObject({ id: user.id, email: EMAIL, name: NAME, profile: { phone: "+1 555 0100" } });
    expect(body.modules.identity.sessions).toHaveLength(1);
    expect(body.modules.access.memberships).toEqual([
      expect.objectContaining({ tenantId: tenant.id, roles: ["admin"] }),
    ]);
    expect(body.modules.access.agentKeys).toHaveLength(1);
    expect(body.modules.access.invitations).toEqual([expect.objectContaining({ email: EMAIL })]);
    const actions = body.modules.audit.auditEntries.map((e: { action: string }) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining(["user.created", "user.logged_in", "user.updated", "membership.created"]),
    );
    expect(body.modules.events.events.length).toBeGreaterThan(0);
    // Another environment's key cannot export it: 404, as for any object of another environment.
    expect((await call(p.b.secretKey, "GET", `/v1/users/${user.id}/export`)).statusCode).toBe(404);
  });

  it("erases the user everywhere in one write: no readable trace, credentials dead, the audit chain still verifies", async () => {
    const { user, session, agentToken } = await liveUser();
    // Another environment's key cannot erase it, and changes nothing.
    expect((await call(p.b.secretKey, "DELETE", `/v1/users/${user.id}`)).statusCode).toBe(404);
    expect((await call(session, "GET", "/v1/auth/me")).statusCode).toBe(200);

    const res = await call(p.a.secretKey, "DELETE", `/v1/users/${user.id}`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().removed).toMatchObject({
      "identity.sessions": 1,
      "access.memberships": 1,
      "access.agentKeysRevoked": 1,
      "access.invitationsRevoked": 1,
      "audit.subjectKeys": 1,
      "audit.addressKeys": 1,
      "platform.idempotentResponses": 1,
    });
    expect(res.json().removed["events.eventsRedacted"]).toBeGreaterThan(0);

    // Gone, and its credentials with it.
    expect((await call(p.a.secretKey, "GET", `/v1/users/${user.id}`)).statusCode).toBe(404);
    expect((await call(session, "GET", "/v1/auth/me")).statusCode).toBe(401);
    expect((await call(agentToken, "GET", "/v1/tenants")).statusCode).toBe(401);
    expect((await call(p.a.secretKey, "DELETE", `/v1/users/${user.id}`)).statusCode).toBe(404);

    // No table holds the address, the name, the phone number or the user agent any more.
    for (const needle of [EMAIL, NAME, "555 0100", "ErinBrowser"])
      expect(await rowsHolding(needle), needle).toEqual({});

    // The entries stay, with their personal fields unreadable, and the chain verifies.
    const entries = (await call(p.a.secretKey, "GET", `/v1/audit/entries?targetId=${user.id}&order=oldest`)).json()
      .data;
    const created = entries.find((e: { action: string }) => e.action === "user.created");
    expect(created.metadata).toEqual({ $erased: true });
    expect(entries.map((e: { action: string }) => e.action)).toContain("user.erased");
    const login = (
      await call(p.a.secretKey, "GET", `/v1/audit/entries?actorId=${user.id}&action=user.logged_in`)
    ).json().data[0];
    expect(login.actor.displayName).toBe("[erased]");
    const verify = await call(p.a.secretKey, "GET", "/v1/audit/verify");
    expect(verify.statusCode, verify.body).toBe(200);
    expect(verify.json()).toMatchObject({ ok: true });

    // The address is free again.
    const again = await call(p.a.secretKey, "POST", "/v1/users", { email: EMAIL, password: TEST_PASSWORD });
    expect(again.statusCode, again.body).toBe(201);
  });

  it("leaves no session behind when logins race the erasure", async () => {
    const { user } = await liveUser();
    const logins = Array.from({ length: 20 }, () =>
      call(null, "POST", "/v1/auth/login", { surfaceId: p.a.surfaceId, email: EMAIL, password: TEST_PASSWORD }),
    );
    const erasure = call(p.a.secretKey, "DELETE", `/v1/users/${user.id}`);
    const [erased, ...answers] = await Promise.all([erasure, ...logins]);
    expect(erased.statusCode, erased.body).toBe(200);
    // Each login either committed before the erasure (and its session was deleted with the user)
    // or found no user: no token works, and no session row is left.
    for (const a of answers) {
      expect([201, 401, 429, 503]).toContain(a.statusCode);
      if (a.statusCode === 201) expect((await call(a.json().token, "GET", "/v1/auth/me")).statusCode).toBe(401);
    }
    const left = await t.app.db.kysely
      .selectFrom("session" as never)
      .select(sql<number>`count(*)`.as("n"))
      .where(sql.ref("user_id"), "=", user.id)
      .executeTakeFirstOrThrow();
    expect(Number((left as { n: number }).n)).toBe(0);
  });

  describe("a rolled-back erasure", () => {
    it("changes nothing: the audit key and the user survive a failed write", async () => {
      const { user, session } = await liveUser();
      t.app.facts.registerSink("spec.fail_erasure", async (_tx, fact) => {
        if (fact.type === "user.erased") throw new Error("boom");
      });
      const res = await call(p.a.secretKey, "DELETE", `/v1/users/${user.id}`);
      expect(res.statusCode).toBe(500);
      expect((await call(session, "GET", "/v1/auth/me")).statusCode).toBe(200);
      const created = (
        await call(p.a.secretKey, "GET", `/v1/audit/entries?targetId=${user.id}&action=user.created`)
      ).json().data[0];
      expect(created.metadata).toMatchObject({ email: EMAIL });
    });
  });
});
