import { afterEach, beforeEach, expect, it } from "vitest";
import { MODULES } from "../../app.js";
import { TestClock } from "../../platform/clock.js";
import type { Fact } from "../../platform/facts/index.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { factCaptureModule } from "../../testing/isolation.js";
import { accessModule } from "./index.js";

// Access through HTTP, as a product would use it: roles, memberships, invitations, tenant keys,
// agent keys, suspension and the check API. Every refusal asserts its status and code; every
// mutation's facts are asserted where the actor chain matters (agents).

type Json = Record<string, unknown>;
interface Res {
  status: number;
  body: Json;
}

describeEachEngine("access", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let clock: TestClock;
  let captured: Fact[];
  let tenantId: string;
  let otherTenantId: string;
  const users = {} as Record<"alice" | "bob" | "carol", { id: string; session: string }>;

  async function call(token: string | null, method: string, url: string, body?: unknown): Promise<Res> {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return { status: res.statusCode, body: res.body ? (JSON.parse(res.body) as Json) : {} };
  }
  const key = (method: string, url: string, body?: unknown) => call(p.a.secretKey, method, url, body);
  function ok(res: Res, status = 200): Json {
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    return res.body;
  }
  function refused(res: Res, status: number, code: string): void {
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    expect(res.body.code).toBe(code);
  }
  async function newUser(name: string): Promise<{ id: string; session: string }> {
    const email = `${name}@example.com`;
    const user = ok(await key("POST", "/v1/users", { email, password: TEST_PASSWORD }), 201);
    const login = ok(
      await call(null, "POST", "/v1/auth/login", { surfaceId: p.a.surfaceId, email, password: TEST_PASSWORD }),
      201,
    );
    return { id: user.id as string, session: login.token as string };
  }
  async function join(tenant: string, userId: string, roles: string[]): Promise<string> {
    return ok(await key("POST", `/v1/tenants/${tenant}/members`, { userId, roles }), 201).id as string;
  }
  const members = (tenant = tenantId) => `/v1/tenants/${tenant}/members`;

  beforeEach(async () => {
    captured = [];
    clock = new TestClock(Date.UTC(2026, 10, 26, 12));
    t = await createTestApp(engine, {
      clock,
      modules: [...MODULES, factCaptureModule(captured)],
    });
    p = await seedPlane(t);
    tenantId = ok(await key("POST", "/v1/tenants", { name: "Acme" }), 201).id as string;
    otherTenantId = ok(await key("POST", "/v1/tenants", { name: "Globex" }), 201).id as string;
    for (const name of ["alice", "bob", "carol"] as const) users[name] = await newUser(name);
    await join(tenantId, users.alice.id, ["owner"]);
  });
  afterEach(async () => t.close());

  const as = (name: keyof typeof users) => (method: string, url: string, body?: unknown) =>
    call(users[name].session, method, url, body);

  it("roles: built-ins are listed and fixed; custom roles are created, updated and refused while in use", async () => {
    const list = ok(await key("GET", "/v1/roles"));
    expect((list.data as Json[]).map((r) => r.key)).toEqual(["owner", "admin", "member"]);
    refused(await key("PATCH", "/v1/roles/admin", { name: "Boss" }), 409, "role_built_in");
    refused(await key("POST", "/v1/roles", { key: "owner", name: "x", permissions: ["*"] }), 409, "role_key_taken");
    refused(await key("POST", "/v1/roles", { key: "bad", name: "x", permissions: ["nope"] }), 400, "validation_failed");
    ok(await key("POST", "/v1/roles", { key: "billing-admin", name: "Billing", permissions: ["invoices:*"] }), 201);
    refused(
      await key("POST", "/v1/roles", { key: "billing-admin", name: "x", permissions: ["*"] }),
      409,
      "role_key_taken",
    );
    const membership = await join(tenantId, users.bob.id, ["billing-admin"]);
    refused(await key("DELETE", "/v1/roles/billing-admin"), 409, "role_in_use");
    const check = { subject: { type: "user", id: users.bob.id }, tenantId, permission: "reports:read" };
    expect(ok(await key("POST", "/v1/access/check", check)).allowed).toBe(false);
    ok(await key("PATCH", "/v1/roles/billing-admin", { permissions: ["invoices:*", "reports:read"] }));
    expect(ok(await key("POST", "/v1/access/check", check)).allowed).toBe(true);
    ok(await key("PATCH", `${members()}/${membership}`, { roles: ["member"] }));
    ok(await key("DELETE", "/v1/roles/billing-admin"));
    refused(await key("GET", "/v1/roles/billing-admin"), 404, "role_not_found");
    refused(await key("POST", members(), { userId: users.carol.id, roles: ["ghost"] }), 400, "unknown_role");
  });

  it("memberships: members act within their roles and cannot escalate; a tenant keeps an owner", async () => {
    const alice = as("alice");
    const bob = as("bob");
    const bobMembership = ok(await alice("POST", members(), { userId: users.bob.id, roles: ["member"] }), 201)
      .id as string;
    ok(await bob("GET", members()));
    refused(await bob("POST", members(), { userId: users.carol.id, roles: ["member"] }), 403, "forbidden");
    refused(await bob("PATCH", `${members()}/${bobMembership}`, { roles: ["admin"] }), 403, "forbidden");
    ok(await alice("PATCH", `${members()}/${bobMembership}`, { roles: ["admin"] }));
    // An admin cannot make anyone (itself included) an owner, nor demote an owner.
    refused(await bob("PATCH", `${members()}/${bobMembership}`, { roles: ["owner"] }), 403, "grant_exceeds_own");
    const aliceMembership = (ok(await bob("GET", members())).data as Json[]).find((m) => m.userId === users.alice.id)
      ?.id as string;
    refused(await bob("PATCH", `${members()}/${aliceMembership}`, { roles: ["member"] }), 403, "grant_exceeds_own");
    refused(await bob("DELETE", `${members()}/${aliceMembership}`), 403, "grant_exceeds_own");
    // The last owner can neither be demoted nor leave.
    refused(await alice("PATCH", `${members()}/${aliceMembership}`, { roles: ["admin"] }), 409, "last_owner");
    refused(await alice("DELETE", `${members()}/${aliceMembership}`), 409, "last_owner");
    const carolMembership = await join(tenantId, users.carol.id, ["owner"]);
    ok(await alice("DELETE", `${members()}/${aliceMembership}`));
    refused(await alice("GET", members()), 404, "not_found");
    // Not a member of another tenant: it does not exist for them.
    refused(await bob("GET", members(otherTenantId)), 404, "not_found");
    refused(await bob("GET", `${members(otherTenantId)}/${carolMembership}`), 404, "not_found");
    // A user belongs to many tenants and lists them.
    await join(otherTenantId, users.bob.id, ["member"]);
    const mine = ok(await bob("GET", "/v1/auth/memberships")).data as Json[];
    expect(mine.map((m) => m.tenantId).sort()).toEqual([tenantId, otherTenantId].sort());
    // Any member may leave.
    const bobInOther = mine.find((m) => m.tenantId === otherTenantId)?.id as string;
    ok(await bob("DELETE", `${members(otherTenantId)}/${bobInOther}`));
    const facts = captured.filter((f) => f.type === "membership.updated");
    expect(facts.at(0)?.changes).toEqual({ before: { roles: ["member"] }, after: { roles: ["admin"] } });
  });

  it("invitations: single use, expire, can be revoked, and re-inviting replaces the token", async () => {
    const alice = as("alice");
    const first = ok(
      await alice("POST", `/v1/tenants/${tenantId}/invitations`, { email: "dan@example.com", roles: ["member"] }),
      201,
    );
    const second = ok(
      await alice("POST", `/v1/tenants/${tenantId}/invitations`, { email: "Dan@Example.com", roles: ["admin"] }),
      201,
    );
    refused(await call(null, "POST", "/v1/invitations/accept", { token: first.token }), 410, "invitation_invalid");
    const pending = ok(await alice("GET", `/v1/tenants/${tenantId}/invitations`)).data as Json[];
    expect(pending.map((i) => i.email)).toEqual(["Dan@Example.com"]);
    const accepted = ok(
      await call(null, "POST", "/v1/invitations/accept", { token: second.token, name: "Dan", password: TEST_PASSWORD }),
      201,
    );
    expect(accepted.userCreated).toBe(true);
    expect((accepted.membership as Json).roles).toEqual(["admin"]);
    refused(await call(null, "POST", "/v1/invitations/accept", { token: second.token }), 410, "invitation_invalid");
    // An existing user joins without creating anything; expiry and revocation end a token.
    const bobInvite = ok(
      await alice("POST", `/v1/tenants/${tenantId}/invitations`, {
        email: "bob@example.com",
        roles: ["member"],
        expiresInSeconds: 600,
      }),
      201,
    );
    clock.advance(601_000);
    refused(await call(null, "POST", "/v1/invitations/accept", { token: bobInvite.token }), 410, "invitation_invalid");
    const again = ok(
      await alice("POST", `/v1/tenants/${tenantId}/invitations`, { email: "bob@example.com", roles: ["member"] }),
      201,
    );
    const invitationId = (again as Json).id as string;
    const joined = ok(await call(null, "POST", "/v1/invitations/accept", { token: again.token }), 201);
    expect(joined).toMatchObject({ userCreated: false, membership: { userId: users.bob.id } });
    const carolInvite = ok(
      await alice("POST", `/v1/tenants/${tenantId}/invitations`, { email: "carol@example.com", roles: ["member"] }),
      201,
    );
    ok(await alice("POST", `/v1/tenants/${tenantId}/invitations/${(carolInvite as Json).id}/revoke`));
    refused(
      await call(null, "POST", "/v1/invitations/accept", { token: carolInvite.token }),
      410,
      "invitation_invalid",
    );
    refused(await call(null, "POST", "/v1/invitations/accept", { token: "bp_iv_garbage" }), 410, "invitation_invalid");
    // A member cannot invite with more than it holds.
    ok(await key("PATCH", `${members()}/${joined.membership && (joined.membership as Json).id}`, { roles: ["admin"] }));
    refused(
      await as("bob")("POST", `/v1/tenants/${tenantId}/invitations`, { email: "eve@example.com", roles: ["owner"] }),
      403,
      "grant_exceeds_own",
    );
    expect(invitationId).toMatch(/^inv_/);
    const facts = captured.filter((f) => f.type === "invitation.accepted");
    expect(facts.map((f) => f.actor?.actorType)).toEqual(["user", "user"]);
  });

  it("tenant keys: owned by the tenant, within the creator's permissions, confined to their tenant", async () => {
    const bobMembership = await join(tenantId, users.bob.id, ["admin"]);
    const bob = as("bob");
    refused(
      await bob("POST", `/v1/tenants/${tenantId}/keys`, { name: "too much", permissions: ["*"] }),
      403,
      "grant_exceeds_own",
    );
    const issued = ok(
      await bob("POST", `/v1/tenants/${tenantId}/keys`, { name: "partner", permissions: ["members:read", "keys:*"] }),
      201,
    );
    const token = issued.token as string;
    const keyId = (issued as Json).id as string;
    expect(token).toMatch(/^bp_tk_/);
    // Without a surface named, the key calls through the surface of its creator's session.
    expect(issued).toMatchObject({
      createdBy: users.bob.id,
      createdByType: "user",
      permissions: ["keys:*", "members:read"],
      surfaceId: p.a.surfaceId,
    });
    ok(await call(token, "GET", members()));
    refused(await call(token, "POST", members(), { userId: users.carol.id, roles: ["member"] }), 403, "forbidden");
    // A key never mints or rotates a key, even within its own permissions (docs/security.md).
    refused(
      await call(token, "POST", `/v1/tenants/${tenantId}/keys`, { name: "child", permissions: ["members:read"] }),
      403,
      "key_cannot_issue",
    );
    refused(await call(token, "POST", `/v1/tenants/${tenantId}/keys/${keyId}/rotate`, {}), 403, "key_cannot_issue");
    // Confined to its tenant: another tenant does not exist for it; environment routes refuse it.
    refused(await call(token, "GET", members(otherTenantId)), 404, "not_found");
    refused(await call(token, "GET", "/v1/tenants"), 403, "forbidden");
    // Uses are recorded in batches (lastUsedAt), never per request.
    expect(ok(await key("GET", `/v1/tenants/${tenantId}/keys/${keyId}`)).lastUsedAt).toBeNull();
    await t.app.service(accessModule).resolution.flushLastUsed();
    expect(Date.parse(ok(await key("GET", `/v1/tenants/${tenantId}/keys/${keyId}`)).lastUsedAt as string)).toBe(
      clock.now(),
    );
    // It survives its creator leaving.
    ok(await key("DELETE", `${members()}/${bobMembership}`));
    ok(await call(token, "GET", members()));
    // Rotation with a grace period, then revocation, end it.
    const rotated = ok(
      await key("POST", `/v1/tenants/${tenantId}/keys/${keyId}/rotate`, { gracePeriodSeconds: 60 }),
      201,
    );
    ok(await call(token, "GET", members()));
    clock.advance(61_000);
    refused(await call(token, "GET", members()), 401, "invalid_credentials");
    const next = rotated.token as string;
    ok(await call(next, "GET", members()));
    ok(await key("POST", `/v1/tenants/${tenantId}/keys/${(rotated as Json).id}/revoke`));
    refused(await call(next, "GET", members()), 401, "invalid_credentials");
    // Shown once: listing never returns a token.
    const listed = JSON.stringify(ok(await key("GET", `/v1/tenants/${tenantId}/keys`)));
    expect(listed).not.toContain(next.slice(6));
  });

  it("tenant keys: the creator names the surface they call through, within its ceiling", async () => {
    const surface = (environmentId: string, scopeCeiling: string[]) =>
      call(p.operatorToken, "POST", `/v1/environments/${environmentId}/surfaces`, {
        name: "Partner API",
        kind: "api",
        scopeCeiling,
      });
    const partner = ok(await surface(p.a.id, ["members:read"]), 201).id as string;
    const elsewhere = ok(await surface(p.b.id, ["*"]), 201).id as string;
    const alice = as("alice");
    const keys = `/v1/tenants/${tenantId}/keys`;
    const issued = ok(
      await alice("POST", keys, { name: "partner", permissions: ["members:read"], surfaceId: partner }),
      201,
    );
    expect((issued as Json).surfaceId).toBe(partner);
    ok(await call(issued.token as string, "GET", members()));
    // Permissions beyond the named surface's ceiling, another environment's surface, an archived one.
    refused(
      await alice("POST", keys, { name: "x", permissions: ["members:read", "keys:read"], surfaceId: partner }),
      422,
      "scope_exceeds_ceiling",
    );
    refused(
      await alice("POST", keys, { name: "x", permissions: ["members:read"], surfaceId: elsewhere }),
      404,
      "surface_not_found",
    );
    refused(
      await alice("POST", keys, { name: "x", permissions: ["members:read"], surfaceId: "srf_nope" }),
      404,
      "surface_not_found",
    );
    // A secret key names one too (its own surface's key would otherwise be the default).
    const byKey = ok(
      await key("POST", keys, { name: "by key", permissions: ["members:read"], surfaceId: partner }),
      201,
    );
    expect((byKey as Json).surfaceId).toBe(partner);
    ok(await call(p.operatorToken, "POST", `/v1/surfaces/${partner}/archive`));
    refused(await call(issued.token as string, "GET", members()), 401, "invalid_credentials");
    refused(
      await alice("POST", keys, { name: "x", permissions: ["members:read"], surfaceId: partner }),
      404,
      "surface_not_found",
    );
  });

  it("agent keys: scope ∩ the user's current permissions, the chain recorded, dead when the user leaves", async () => {
    const bobMembership = await join(tenantId, users.bob.id, ["admin"]);
    const bob = as("bob");
    const issued = ok(
      await bob("POST", `/v1/tenants/${tenantId}/agent-keys`, {
        name: "Support bot",
        model: "gpt-x",
        // Everything a member holds, plus managing members; not keys (which bob may create).
        scopes: [
          "members:*",
          "tenants:read",
          "roles:read",
          "agents:*",
          "events:read",
          "files:*",
          "usage:read",
          "usage:report",
          "entitlements:read",
        ],
      }),
      201,
    );
    const agent = issued.token as string;
    expect(agent).toMatch(/^bp_ak_/);
    const invite = ok(
      await call(agent, "POST", `/v1/tenants/${tenantId}/invitations`, { email: "z@example.com", roles: ["member"] }),
      201,
    );
    const fact = captured.find((f) => f.type === "invitation.created");
    expect(fact?.actor).toMatchObject({
      actorType: "agent",
      displayName: "Support bot",
      model: "gpt-x",
      onBehalfOf: { actorType: "user", actorId: users.bob.id },
    });
    expect((invite as Json).invitedBy).toBe((issued as Json).id);
    // Outside its scope even though bob may: refused.
    refused(
      await call(agent, "POST", `/v1/tenants/${tenantId}/keys`, { name: "x", permissions: ["keys:read"] }),
      403,
      "forbidden",
    );
    // Bob is demoted: the agent shrinks at once.
    ok(await key("PATCH", `${members()}/${bobMembership}`, { roles: ["member"] }));
    refused(
      await call(agent, "POST", `/v1/tenants/${tenantId}/invitations`, { email: "y@example.com", roles: ["member"] }),
      403,
      "forbidden",
    );
    ok(await call(agent, "GET", members()));
    // Bob leaves: the agent dies (and stays dead when he comes back).
    ok(await key("DELETE", `${members()}/${bobMembership}`));
    refused(await call(agent, "GET", members()), 401, "invalid_credentials");
    await join(tenantId, users.bob.id, ["admin"]);
    refused(await call(agent, "GET", members()), 401, "invalid_credentials");
    // A disabled user's agents are revoked with the user.
    const second = ok(
      await bob("POST", `/v1/tenants/${tenantId}/agent-keys`, { name: "bot 2", scopes: ["members:read"] }),
      201,
    );
    ok(await call(second.token as string, "GET", members()));
    ok(await key("PATCH", `/v1/users/${users.bob.id}`, { disabled: true }));
    refused(await call(second.token as string, "GET", members()), 401, "invalid_credentials");
    ok(await key("PATCH", `/v1/users/${users.bob.id}`, { disabled: false }));
    refused(await call(second.token as string, "GET", members()), 401, "invalid_credentials");
    // Tenant keys and agents cannot delegate; users delegate only for themselves.
    refused(
      await call(agent, "POST", `/v1/tenants/${tenantId}/agent-keys`, { name: "x", scopes: ["*"] }),
      401,
      "invalid_credentials",
    );
    refused(
      await as("alice")("POST", `/v1/tenants/${tenantId}/agent-keys`, {
        name: "x",
        scopes: ["*"],
        userId: users.bob.id,
      }),
      403,
      "forbidden",
    );
  });

  it("suspension pauses the tenant's members and keys except reading; secret keys still manage; reactivation restores", async () => {
    await join(tenantId, users.bob.id, ["admin"]);
    ok(await key("POST", "/v1/roles", { key: "viewer", name: "Viewer", permissions: ["members:read"] }), 201);
    const bob = as("bob");
    const tk = ok(await bob("POST", `/v1/tenants/${tenantId}/keys`, { name: "k", permissions: ["members:*"] }), 201)
      .token as string;
    const ak = ok(await bob("POST", `/v1/tenants/${tenantId}/agent-keys`, { name: "a", scopes: ["members:*"] }), 201)
      .token as string;
    const suspended = ok(
      await key("POST", `/v1/tenants/${tenantId}/suspend`, { reason: "abuse report", category: "other" }),
    );
    expect(suspended).toMatchObject({
      state: "suspended",
      stateReason: "abuse report",
      stateChangedBy: p.a.secretKeyId,
    });
    for (const token of [users.bob.session, tk, ak]) {
      ok(await call(token, "GET", members()));
      refused(
        await call(token, "POST", members(), { userId: users.carol.id, roles: ["member"] }),
        403,
        "tenant_suspended",
      );
    }
    // Bob's other tenants are not affected.
    await join(otherTenantId, users.bob.id, ["admin"]);
    ok(
      await bob("POST", `/v1/tenants/${otherTenantId}/invitations`, { email: "q@example.com", roles: ["member"] }),
      201,
    );
    // The environment's secret key still manages the suspended tenant.
    await join(tenantId, users.carol.id, ["member"]);
    ok(await key("POST", `/v1/tenants/${tenantId}/reactivate`, {}));
    ok(await key("POST", `/v1/tenants/${tenantId}/suspend`, { reason: "invoice unpaid", category: "billing" }));
    refused(await call(tk, "POST", members(), { userId: users.carol.id, roles: ["member"] }), 402, "tenant_suspended");
    refused(
      await key("POST", `/v1/tenants/${tenantId}/suspend`, { reason: "again" }),
      409,
      "invalid_tenant_transition",
    );
    ok(await key("POST", `/v1/tenants/${tenantId}/reactivate`, { reason: "paid" }));
    for (const token of [users.bob.session, tk, ak]) {
      ok(
        await call(token, "POST", `/v1/tenants/${tenantId}/invitations`, { email: "r@example.com", roles: ["viewer"] }),
        201,
      );
    }
    const types = captured
      .filter((f) => f.type.startsWith("tenant.") && f.type !== "tenant.created")
      .map((f) => f.type);
    expect(types).toEqual(["tenant.suspended", "tenant.reactivated", "tenant.suspended", "tenant.reactivated"]);
    ok(await key("POST", `/v1/tenants/${tenantId}/deactivate`, { reason: "left" }));
    refused(await call(tk, "POST", members(), { userId: users.carol.id, roles: ["member"] }), 403, "tenant_suspended");
  });

  it("the check API answers, batches and explains with the same rules as the plane", async () => {
    await join(tenantId, users.bob.id, ["member"]);
    const tk = ok(
      await as("alice")("POST", `/v1/tenants/${tenantId}/keys`, { name: "k", permissions: ["members:read"] }),
      201,
    );
    const ak = ok(
      await as("bob")("POST", `/v1/tenants/${tenantId}/agent-keys`, {
        name: "a",
        scopes: ["files:*", "members:invite"],
      }),
      201,
    );
    const user = (id: string) => ({ type: "user", id });
    const explain = (subject: Json, permission: string, tenant = tenantId) =>
      key("POST", "/v1/access/explain", { subject, tenantId: tenant, permission });
    expect(ok(await explain(user(users.alice.id), "invoices:delete"))).toMatchObject({
      allowed: true,
      reason: "granted",
      matched: [{ via: "membership", role: "owner", grant: "*" }],
    });
    expect(ok(await explain(user(users.bob.id), "members:invite"))).toMatchObject({
      allowed: false,
      reason: "no_matching_grant",
    });
    expect(ok(await explain(user(users.carol.id), "members:read"))).toMatchObject({
      allowed: false,
      reason: "not_a_member",
    });
    expect(ok(await explain(user("usr_nobody"), "members:read"))).toMatchObject({
      allowed: false,
      reason: "subject_not_found",
    });
    const tkId = (tk as Json).id as string;
    const akId = (ak as Json).id as string;
    expect(ok(await explain({ type: "tenant_key", id: tkId }, "members:read"))).toMatchObject({
      allowed: true,
      matched: [{ via: "tenant_key", grant: "members:read" }],
    });
    expect(ok(await explain({ type: "tenant_key", id: tkId }, "members:read", otherTenantId))).toMatchObject({
      allowed: false,
      reason: "outside_scope",
    });
    expect(ok(await explain({ type: "agent_key", id: akId }, "files:write"))).toMatchObject({ allowed: true });
    expect(ok(await explain({ type: "agent_key", id: akId }, "members:invite"))).toMatchObject({
      allowed: false,
      reason: "outside_user_permissions",
    });
    expect(ok(await explain({ type: "agent_key", id: akId }, "members:read"))).toMatchObject({
      allowed: false,
      reason: "outside_scope",
    });
    const batch = ok(
      await key("POST", "/v1/access/check-batch", {
        checks: [
          { subject: user(users.alice.id), tenantId, permission: "members:remove" },
          { subject: user(users.bob.id), tenantId, permission: "members:remove" },
        ],
      }),
    );
    expect((batch.results as Json[]).map((r) => r.allowed)).toEqual([true, false]);
    refused(await explain(user(users.alice.id), "members:read", "ten_unknown"), 404, "tenant_not_found");
    refused(
      await call(p.b.secretKey, "POST", "/v1/access/check", {
        subject: user(users.alice.id),
        tenantId,
        permission: "x:y",
      }),
      404,
      "tenant_not_found",
    );
    ok(await key("POST", `/v1/tenants/${tenantId}/suspend`, { reason: "x" }));
    expect(ok(await explain(user(users.alice.id), "members:invite"))).toMatchObject({
      allowed: false,
      reason: "tenant_suspended",
    });
    expect(ok(await explain(user(users.alice.id), "members:read"))).toMatchObject({ allowed: true });
  });
});
