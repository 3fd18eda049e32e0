import { afterAll, beforeAll, expect, it } from "vitest";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../src/testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../src/testing/harness.js";
import { freePort, type PlaneProcess, spawnPlane } from "../src/testing/spawn.js";

// Check-then-act races on the access module, as they were reported: each attack fires its
// requests at once and asserts what must hold whatever the interleaving. On PostgreSQL the
// requests go round-robin to TWO plane processes on one database (so no in-process lock can hide
// a race); on SQLite to one plane (one writer). A lost race answers 4xx with a code, never 5xx.

type Json = Record<string, unknown>;
interface Res {
  status: number;
  body: Json;
}

describeEachEngine("access races", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  const planes: PlaneProcess[] = [];
  let next = 0;

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
    if (engine === "postgres") {
      const env = {
        ...t.database.env,
        NODE_ENV: "test",
        BASEPLATE_PASSWORD_PROFILE: "test",
        BASEPLATE_WORKERS: "false",
      };
      const ports = [await freePort(), await freePort()];
      planes.push(
        ...(await Promise.all(
          ports.map((port) => spawnPlane("serve-plane", { ...env, BASEPLATE_PORT: String(port) })),
        )),
      );
    }
  }, 60_000);

  afterAll(async () => {
    for (const plane of planes) plane.child.kill("SIGTERM");
    await Promise.all(planes.map((plane) => plane.exited));
    await t?.close();
  });

  /** call sends one request: to the next plane process in turn (PostgreSQL), or to the test plane. */
  async function call(token: string | null, method: string, url: string, body?: unknown): Promise<Res> {
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    if (planes.length > 0) {
      const base = planes[next++ % planes.length]?.ready.url as string;
      const res = await fetch(`${base}${url}`, {
        method,
        headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: text ? (JSON.parse(text) as Json) : {} };
    }
    const res = await t.inject({
      method: method as "GET",
      url,
      headers,
      ...(body === undefined ? {} : { payload: body as object }),
    });
    return { status: res.statusCode, body: res.body ? (JSON.parse(res.body) as Json) : {} };
  }
  const key = (method: string, url: string, body?: unknown) => call(p.a.secretKey, method, url, body);
  function ok(res: Res, status = 200): Json {
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    return res.body;
  }
  /** tally counts answers as "status code" (e.g. "409 key_already_rotated"); 5xx fail the test. */
  function tally(results: Res[]): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of results) {
      expect(r.status, JSON.stringify(r.body)).toBeLessThan(500);
      const k = r.status < 300 ? String(r.status) : `${r.status} ${String(r.body.code)}`;
      out[k] = (out[k] ?? 0) + 1;
    }
    return out;
  }
  let users = 0;
  let tenants = 0;
  async function newUser(): Promise<{ id: string; session: string }> {
    const email = `racer${++users}@example.com`;
    const user = ok(await key("POST", "/v1/users", { email, password: TEST_PASSWORD }), 201);
    const login = ok(
      await call(null, "POST", "/v1/auth/login", { surfaceId: p.a.surfaceId, email, password: TEST_PASSWORD }),
      201,
    );
    return { id: user.id as string, session: login.token as string };
  }
  /** newUserId creates a user without a password (no session): for races driven by the secret key. */
  const newUserId = async () =>
    ok(await key("POST", "/v1/users", { email: `racer${++users}@example.com` }), 201).id as string;
  const newTenant = async () => ok(await key("POST", "/v1/tenants", { name: `Race ${++tenants}` }), 201).id as string;
  const join = async (tenantId: string, userId: string, roles: string[]) =>
    ok(await key("POST", `/v1/tenants/${tenantId}/members`, { userId, roles }), 201).id as string;
  const owners = async (tenantId: string) =>
    (ok(await key("GET", `/v1/tenants/${tenantId}/members?limit=100`)).data as Json[]).filter((m) =>
      (m.roles as string[]).includes("owner"),
    ).length;

  it("50 racing rotations of one tenant key: one successor (201), 49 × 409 key_already_rotated, one live key", async () => {
    const tenantId = await newTenant();
    const issued = ok(
      await key("POST", `/v1/tenants/${tenantId}/keys`, { name: "partner", permissions: ["members:read"] }),
      201,
    );
    const oldId = (issued as Json).id as string;
    const results = await Promise.all(
      Array.from({ length: 50 }, () => key("POST", `/v1/tenants/${tenantId}/keys/${oldId}/rotate`, {})),
    );
    expect(tally(results)).toEqual({ "201": 1, "409 key_already_rotated": 49 });
    const successor = results.find((r) => r.status === 201)?.body as Json;
    const keys = ok(await key("GET", `/v1/tenants/${tenantId}/keys?limit=100`)).data as Json[];
    expect(keys.map((k) => k.id).sort()).toEqual([oldId, (successor as Json).id].sort());
    expect(keys.find((k) => k.id === oldId)?.replacedBy).toBe((successor as Json).id);
    // Exactly one key works: the successor (the default grace period is none).
    const members = `/v1/tenants/${tenantId}/members`;
    ok(await call(successor.token as string, "GET", members));
    expect((await call(issued.token as string, "GET", members)).status).toBe(401);
  });

  it("agent keys issued while their user is removed: none works after the user is re-added", async () => {
    const tenantId = await newTenant();
    const user = await newUser();
    const membershipId = await join(tenantId, user.id, ["member"]);
    const create = () =>
      key("POST", `/v1/tenants/${tenantId}/agent-keys`, { name: "bot", scopes: ["members:read"], userId: user.id });
    // Issuances in flight before, during and after the removal.
    const before = Array.from({ length: 20 }, create);
    await Promise.race(before);
    const removal = key("DELETE", `/v1/tenants/${tenantId}/members/${membershipId}`);
    const results = await Promise.all([...before, removal, ...Array.from({ length: 20 }, create)]);
    const counts = tally(results);
    expect(counts["200"]).toBe(1); // the removal
    expect((counts["201"] ?? 0) + (counts["404 membership_not_found"] ?? 0)).toBe(40);
    const tokens = results.filter((r) => r.status === 201).map((r) => r.body.token as string);
    await join(tenantId, user.id, ["member"]);
    const members = `/v1/tenants/${tenantId}/members`;
    const answers = await Promise.all(tokens.map((token) => call(token, "GET", members)));
    expect(answers.map((a) => a.status)).toEqual(tokens.map(() => 401));
    // Every key issued before the removal is listed as revoked; none is left active.
    const listed = ok(await key("GET", `/v1/tenants/${tenantId}/agent-keys?limit=100`)).data as Json[];
    expect(listed.filter((k) => k.revokedAt === null)).toEqual([]);
    // A key issued now, for the re-added user, works.
    ok(await call(ok(await create(), 201).token as string, "GET", members));
  });

  it("invitations an agent issued, accepted while its user is removed: each is accepted first or void", async () => {
    const tenantId = await newTenant();
    const user = await newUser();
    const membershipId = await join(tenantId, user.id, ["admin"]);
    const agent = ok(
      await call(user.session, "POST", `/v1/tenants/${tenantId}/agent-keys`, { name: "bot", scopes: ["*"] }),
      201,
    );
    const agentId = (agent as Json).id as string;
    // Invitees who already have an account: accepting then writes only the tenant's audit chain. (A
    // sign-up through an invitation appends to the environment's chain first, which can deadlock
    // against a tenant write on PostgreSQL: a known limit, see docs/security.md.)
    const tokens: string[] = [];
    for (let i = 0; i < 20; i++) {
      const email = `invitee${i}-${tenantId}@example.com`.toLowerCase();
      ok(await key("POST", "/v1/users", { email }), 201);
      const invited = await call(agent.token as string, "POST", `/v1/tenants/${tenantId}/invitations`, {
        email,
        roles: ["member"],
      });
      tokens.push(ok(invited, 201).token as string);
    }
    const accept = (token: string) => call(null, "POST", "/v1/invitations/accept", { token });
    const accepts = tokens.map(accept);
    const removal = key("DELETE", `/v1/tenants/${tenantId}/members/${membershipId}`);
    const results = await Promise.all([...accepts, removal]);
    const counts = tally(results);
    expect(counts["200"]).toBe(1);
    expect((counts["201"] ?? 0) + (counts["410 invitation_invalid"] ?? 0)).toBe(20);
    // Nothing the agent issued is left pending; what was accepted is exactly what answered 201.
    const rows = await t.app.db.kysely
      .selectFrom("invitation")
      .select(["accepted_at", "revoked_at"])
      .where("invited_by", "=", agentId)
      .execute();
    expect(rows.filter((r) => r.accepted_at === null && r.revoked_at === null)).toEqual([]);
    expect(rows.filter((r) => r.accepted_at !== null).length).toBe(counts["201"] ?? 0);
  });

  it("PATCH and DELETE of one membership at once (50 pairs): never 5xx, nothing left half-done", async () => {
    const tenantId = await newTenant();
    const racers = await Promise.all(Array.from({ length: 50 }, () => newUserId()));
    const ids = await Promise.all(racers.map((userId) => join(tenantId, userId, ["member"])));
    const url = (id: string) => `/v1/tenants/${tenantId}/members/${id}`;
    const results = await Promise.all(
      ids.flatMap((id) => [key("PATCH", url(id), { roles: ["admin"] }), key("DELETE", url(id))]),
    );
    const patches = results.filter((_, i) => i % 2 === 0);
    const deletes = results.filter((_, i) => i % 2 === 1);
    expect(tally(deletes)).toEqual({ "200": 50 });
    const patched = tally(patches);
    expect((patched["200"] ?? 0) + (patched["404 membership_not_found"] ?? 0)).toBe(50);
    // Every membership is gone, with its role index (no orphan grants).
    const left = ok(await key("GET", `/v1/tenants/${tenantId}/members?limit=100`)).data as Json[];
    expect(left).toEqual([]);
    const orphans = await t.app.db.kysely
      .selectFrom("membership_role")
      .select("membership_id")
      .where("tenant_id", "=", tenantId)
      .execute();
    expect(orphans).toEqual([]);
  });

  it("last-owner races: owners removing or demoting each other at once never leave zero owners", async () => {
    for (let round = 0; round < 6; round++) {
      const tenantId = await newTenant();
      const [a, b] = [await newUser(), await newUser()];
      const ma = await join(tenantId, a.id, ["owner"]);
      const mb = await join(tenantId, b.id, ["owner"]);
      const url = (id: string) => `/v1/tenants/${tenantId}/members/${id}`;
      const demote = { roles: ["admin"] };
      const attacks: Array<() => Promise<Res[]>> = [
        // each owner removes the other
        () => Promise.all([call(a.session, "DELETE", url(mb)), call(b.session, "DELETE", url(ma))]),
        // each owner demotes the other
        () => Promise.all([call(a.session, "PATCH", url(mb), demote), call(b.session, "PATCH", url(ma), demote)]),
        // the backend removes both owners at once
        () => Promise.all([key("DELETE", url(ma)), key("DELETE", url(mb))]),
        // the backend demotes both owners at once
        () => Promise.all([key("PATCH", url(ma), demote), key("PATCH", url(mb), demote)]),
        // each owner leaves
        () => Promise.all([call(a.session, "DELETE", url(ma)), call(b.session, "DELETE", url(mb))]),
        // one demotes the other while that one leaves
        () => Promise.all([call(a.session, "PATCH", url(mb), demote), call(b.session, "DELETE", url(mb))]),
      ];
      const results = await (attacks[round] as () => Promise<Res[]>)();
      const counts = tally(results);
      expect(counts["200"], JSON.stringify(counts)).toBeGreaterThanOrEqual(1);
      expect(await owners(tenantId), `round ${round}: ${JSON.stringify(counts)}`).toBeGreaterThanOrEqual(1);
    }
  });
});
