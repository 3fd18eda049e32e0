import { afterEach, beforeEach, expect, it } from "vitest";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../src/testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../src/testing/harness.js";

// Delegation never outlives its delegator (docs/security.md). For every credential an agent key
// or a tenant key could create — tenant keys, agent keys, invitations — either the key may not
// create it, or what it created dies with it. Webhook endpoint secrets are not credentials.

type Json = Record<string, unknown>;
interface Res {
  status: number;
  body: Json;
}

describeEachEngine("delegation", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let tenantId: string;
  let bob: { id: string; session: string; membershipId: string };
  let invitations = 0;

  async function call(token: string | null, method: string, url: string, body?: unknown): Promise<Res> {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      ...(body === undefined ? {} : { payload: body as object }),
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
  const members = () => `/v1/tenants/${tenantId}/members`;
  const keys = () => `/v1/tenants/${tenantId}/keys`;
  /** agent issues an agent key for bob with the given scopes. */
  const agent = async (scopes: string[]) =>
    ok(await call(bob.session, "POST", `/v1/tenants/${tenantId}/agent-keys`, { name: "bot", scopes }), 201)
      .token as string;
  const invite = async (token: string) =>
    ok(
      await call(token, "POST", `/v1/tenants/${tenantId}/invitations`, {
        email: `invitee${++invitations}@example.com`,
        roles: ["viewer"],
      }),
      201,
    ).token as string;
  const accept = (token: string) =>
    call(null, "POST", "/v1/invitations/accept", { token, password: "a long and fine passphrase" });

  beforeEach(async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
    tenantId = ok(await key("POST", "/v1/tenants", { name: "Acme" }), 201).id as string;
    ok(await key("POST", "/v1/roles", { key: "viewer", name: "Viewer", permissions: ["members:read"] }), 201);
    const user = ok(await key("POST", "/v1/users", { email: "bob@example.com", password: TEST_PASSWORD }), 201);
    const login = ok(
      await call(null, "POST", "/v1/auth/login", {
        surfaceId: p.a.surfaceId,
        email: "bob@example.com",
        password: TEST_PASSWORD,
      }),
      201,
    );
    const membership = ok(await key("POST", members(), { userId: user.id, roles: ["admin"] }), 201);
    bob = { id: user.id as string, session: login.token as string, membershipId: membership.id as string };
  });
  afterEach(async () => t.close());

  it("an agent key with scope * cannot issue or rotate a tenant key, nor delegate; it dies with its user's membership", async () => {
    const ak = await agent(["*"]);
    const existing = ok(await key("POST", keys(), { name: "partner", permissions: ["members:read"] }), 201);
    const existingId = (existing as Json).id as string;
    refused(await call(ak, "POST", keys(), { name: "escape", permissions: ["members:read"] }), 403, "key_cannot_issue");
    refused(await call(ak, "POST", `${keys()}/${existingId}/rotate`, {}), 403, "key_cannot_issue");
    refused(
      await call(ak, "POST", `/v1/tenants/${tenantId}/agent-keys`, { name: "x", scopes: ["*"], userId: bob.id }),
      403,
      "forbidden",
    );
    // Nothing was issued: the tenant has the one key the backend made.
    expect((ok(await key("GET", keys())).data as Json[]).map((k) => k.id)).toEqual([existingId]);
    // What the agent may do, it does (revoking is not issuing).
    ok(await call(ak, "GET", members()));
    ok(await key("DELETE", `${members()}/${bob.membershipId}`));
    refused(await call(ak, "GET", members()), 401, "invalid_credentials");
    ok(await key("POST", members(), { userId: bob.id, roles: ["admin"] }), 201);
    refused(await call(ak, "GET", members()), 401, "invalid_credentials");
  });

  it("a tenant key cannot issue or rotate a tenant key (itself included) nor an agent key", async () => {
    const issued = ok(
      await call(bob.session, "POST", keys(), { name: "partner", permissions: ["keys:*", "agents:*", "members:*"] }),
      201,
    );
    const tk = issued.token as string;
    const tkId = (issued as Json).id as string;
    refused(await call(tk, "POST", keys(), { name: "child", permissions: ["members:read"] }), 403, "key_cannot_issue");
    refused(await call(tk, "POST", `${keys()}/${tkId}/rotate`, {}), 403, "key_cannot_issue");
    refused(
      await call(tk, "POST", `/v1/tenants/${tenantId}/agent-keys`, { name: "x", scopes: ["*"], userId: bob.id }),
      403,
      "forbidden",
    );
    expect((ok(await key("GET", keys())).data as Json[]).map((k) => k.id)).toEqual([tkId]);
    // It may still revoke: a key can end credentials, never start one.
    ok(await call(tk, "POST", `${keys()}/${tkId}/revoke`));
    refused(await call(tk, "GET", members()), 401, "invalid_credentials");
  });

  it("an invitation an agent issued is honoured only while the agent's delegation lasts", async () => {
    const scopes = ["members:*"];
    // While the agent is live, its invitation works.
    const live = await agent(scopes);
    ok(await accept(await invite(live)), 201);
    // Its user removed (and re-added): the pending invitation is void.
    const pending = await invite(live);
    ok(await key("DELETE", `${members()}/${bob.membershipId}`));
    refused(await accept(pending), 410, "invitation_invalid");
    bob.membershipId = ok(await key("POST", members(), { userId: bob.id, roles: ["admin"] }), 201).id as string;
    refused(await accept(pending), 410, "invitation_invalid");
    // The agent key revoked.
    const revokedAgent = await agent(scopes);
    const ofRevoked = await invite(revokedAgent);
    const agentKeys = ok(await key("GET", `/v1/tenants/${tenantId}/agent-keys`)).data as Json[];
    const live2 = agentKeys.find((k) => k.revokedAt === null)?.id as string;
    ok(await key("POST", `/v1/tenants/${tenantId}/agent-keys/${live2}/revoke`));
    refused(await accept(ofRevoked), 410, "invitation_invalid");
    // Its user disabled (and enabled again).
    const disabledAgent = await agent(scopes);
    const ofDisabled = await invite(disabledAgent);
    ok(await key("PATCH", `/v1/users/${bob.id}`, { disabled: true }));
    ok(await key("PATCH", `/v1/users/${bob.id}`, { disabled: false }));
    refused(await accept(ofDisabled), 410, "invitation_invalid");
  });

  it("an invitation a tenant key issued is honoured only while that key is live", async () => {
    const issue = async () =>
      ok(await call(bob.session, "POST", keys(), { name: "provisioning", permissions: ["members:*"] }), 201);
    const first = await issue();
    ok(await accept(await invite(first.token as string)), 201);
    const pending = await invite(first.token as string);
    ok(await key("POST", `${keys()}/${(first as Json).id}/revoke`));
    refused(await accept(pending), 410, "invitation_invalid");
    // Rotation ends the old key (no grace period here), and with it what it issued.
    const second = await issue();
    const ofRotated = await invite(second.token as string);
    ok(await key("POST", `${keys()}/${(second as Json).id}/rotate`, {}), 201);
    refused(await accept(ofRotated), 410, "invitation_invalid");
  });

  it("what a person issues belongs to the tenant: bob's key and invitation outlive his membership", async () => {
    const issued = ok(await call(bob.session, "POST", keys(), { name: "partner", permissions: ["members:read"] }), 201);
    const invitation = await invite(bob.session);
    ok(await key("DELETE", `${members()}/${bob.membershipId}`));
    ok(await call(issued.token as string, "GET", members()));
    ok(await accept(invitation), 201);
  });

  it("a tenant key minted by a key before the rule (createdByType agent or tenant_key) answers 401", async () => {
    for (const createdByType of ["agent", "tenant_key"]) {
      const issued = ok(
        await key("POST", keys(), { name: `legacy ${createdByType}`, permissions: ["members:read"] }),
        201,
      );
      await t.app.db.kysely
        .updateTable("tenant_key")
        .set({ created_by_type: createdByType })
        .where("id", "=", (issued as Json).id as string)
        .execute();
      refused(await call(issued.token as string, "GET", members()), 401, "invalid_credentials");
    }
  });
});
