import { afterEach, beforeEach, expect, it } from "vitest";
import type { Fact } from "../../platform/facts/index.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import type { User } from "./schemas.js";

// End users as the product backend manages them with its secret key (environment-scoped), and
// self sign-up through a surface. Checklist A10 / DESIGN.md §1 (environment isolation).

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

interface FactRow {
  type: string;
  environment_id: string | null;
  actor_id: string | null;
  targets: string;
}

describeEachEngine("Users (secret key)", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let facts: Fact[];
  beforeEach(async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
    facts = [];
    t.app.facts.registerSink("spec.capture", async (_tx, fact) => void facts.push(fact));
  });
  afterEach(async () => t?.close());

  const post = (key: string, payload: Record<string, unknown>) =>
    t.inject({ method: "POST", url: "/v1/users", headers: bearer(key), payload });
  const get = (key: string, url: string) => t.inject({ method: "GET", url, headers: bearer(key) });
  const patch = (key: string, id: string, payload: Record<string, unknown>) =>
    t.inject({ method: "PATCH", url: `/v1/users/${id}`, headers: bearer(key), payload });
  const storedFacts = async (type: string) =>
    (await t.app.db.kysely.selectFrom("probe_fact").selectAll().where("type", "=", type).execute()) as FactRow[];

  async function createUser(payload: Record<string, unknown>, key = p.a.secretKey): Promise<User> {
    const res = await post(key, payload);
    expect(res.statusCode, res.body).toBe(201);
    return res.json();
  }

  it("creates a user (201) and records user.created by the secret key, without the password", async () => {
    const res = await post(p.a.secretKey, {
      email: "Alice@Example.com",
      name: "Alice",
      password: TEST_PASSWORD,
      profile: { plan: "pro" },
    });
    expect(res.statusCode).toBe(201);
    const user = res.json();
    expect(user).toEqual({
      id: expect.stringMatching(/^usr_/),
      environmentId: p.a.id,
      email: "Alice@Example.com",
      name: "Alice",
      profile: { plan: "pro" },
      hasPassword: true,
      emailVerified: false,
      emailVerifiedAt: null,
      disabled: false,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    const [fact, ...more] = await storedFacts("user.created");
    expect(more).toHaveLength(0);
    expect(fact).toMatchObject({ environment_id: p.a.id, actor_id: p.a.secretKeyId });
    expect(JSON.parse(fact?.targets ?? "[]")).toEqual([{ type: "user", id: user.id }]);
    expect(JSON.stringify(facts)).not.toContain(TEST_PASSWORD);
  });

  it("email is unique per environment, case-insensitively (409 email_taken); environment b may reuse it", async () => {
    await createUser({ email: "alice@example.com" });
    for (const email of ["alice@example.com", "ALICE@example.COM", "  Alice@Example.com "]) {
      const res = await post(p.a.secretKey, { email });
      expect(res.statusCode, email).toBe(409);
      expect(res.json()).toMatchObject({ code: "email_taken", status: 409 });
    }
    const inB = await createUser({ email: "Alice@Example.com" }, p.b.secretKey);
    expect(inB.environmentId).toBe(p.b.id);
    expect(await storedFacts("user.created")).toHaveLength(2);
  });

  it("lists users with q and email filters, paging with a cursor", async () => {
    const names = ["Alice Archer", "Bob Baker", "Carol Carter", "Dave Dalton", "Erin Archer"];
    const created: User[] = [];
    for (const name of names) {
      created.push(await createUser({ email: `${name.split(" ")[0]?.toLowerCase()}@example.com`, name }));
    }
    await createUser({ email: "alice@example.com", name: "Alice in B" }, p.b.secretKey);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await get(p.a.secretKey, `/v1/users?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.statusCode).toBe(200);
      const page = res.json() as { data: User[]; nextCursor: string | null };
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((u) => u.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual(created.map((u) => u.id));

    const byQ = await get(p.a.secretKey, "/v1/users?q=ARCHER");
    expect(byQ.json().data.map((u: User) => u.name)).toEqual(["Alice Archer", "Erin Archer"]);
    const byEmailPart = await get(p.a.secretKey, "/v1/users?q=carol%40");
    expect(byEmailPart.json().data.map((u: User) => u.email)).toEqual(["carol@example.com"]);
    const byEmail = await get(p.a.secretKey, "/v1/users?email=BOB%40example.com");
    expect(byEmail.json()).toEqual({ data: [created[1]], hasMore: false, nextCursor: null });
    const none = await get(p.a.secretKey, "/v1/users?email=nobody%40example.com");
    expect(none.json()).toEqual({ data: [], hasMore: false, nextCursor: null });
    const wildcard = await get(p.a.secretKey, "/v1/users?q=%25");
    expect(wildcard.statusCode).toBe(200);

    const badCursor = await get(p.a.secretKey, "/v1/users?cursor=not-a-cursor");
    expect(badCursor.statusCode).toBe(400);
    expect(badCursor.json().code).toBe("invalid_cursor");
  });

  it("gets and updates a user; the change is recorded with before/after", async () => {
    const user = await createUser({ email: "alice@example.com", name: "Alice", password: TEST_PASSWORD });
    const got = await get(p.a.secretKey, `/v1/users/${user.id}`);
    expect(got.statusCode).toBe(200);
    expect(got.json()).toEqual(user);

    const res = await patch(p.a.secretKey, user.id, { name: "Alice A.", email: "alice.a@example.com" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id: user.id, name: "Alice A.", email: "alice.a@example.com" });
    expect((await get(p.a.secretKey, `/v1/users/${user.id}`)).json()).toMatchObject({ name: "Alice A." });
    const [fact] = await storedFacts("user.updated");
    expect(fact).toMatchObject({ environment_id: p.a.id, actor_id: p.a.secretKeyId });
    expect(facts.find((f) => f.type === "user.updated")?.changes).toEqual({
      before: { email: "alice@example.com", name: "Alice" },
      after: { email: "alice.a@example.com", name: "Alice A." },
    });

    // Renaming to a taken email (in any letter case) is refused too.
    await createUser({ email: "bob@example.com" });
    const taken = await patch(p.a.secretKey, user.id, { email: "BOB@example.com" });
    expect(taken.statusCode).toBe(409);
    expect(taken.json().code).toBe("email_taken");

    // The old email no longer logs in; the new one does.
    const login = (email: string) =>
      t.inject({
        method: "POST",
        url: "/v1/auth/login",
        payload: { surfaceId: p.a.surfaceId, email, password: TEST_PASSWORD },
      });
    expect((await login("alice@example.com")).json().code).toBe("invalid_login");
    expect((await login("ALICE.A@example.com")).statusCode).toBe(201);
  });

  it("another environment's user answers 404 user_not_found, and nothing changes", async () => {
    const user = await createUser({ email: "alice@example.com", name: "Alice" });
    const cases = [
      get(p.b.secretKey, `/v1/users/${user.id}`),
      patch(p.b.secretKey, user.id, { name: "Mallory" }),
      patch(p.b.secretKey, user.id, { disabled: true }),
      t.inject({ method: "POST", url: `/v1/users/${user.id}/password-reset-tokens`, headers: bearer(p.b.secretKey) }),
      get(p.b.secretKey, `/v1/users/${user.id}/sessions`),
      t.inject({ method: "POST", url: `/v1/users/${user.id}/sessions/revoke`, headers: bearer(p.b.secretKey) }),
    ];
    for (const res of await Promise.all(cases)) {
      expect(res.statusCode, res.body).toBe(404);
      expect(res.json()).toMatchObject({ code: "user_not_found", status: 404 });
    }
    expect((await get(p.b.secretKey, "/v1/users")).json().data).toEqual([]);
    expect((await get(p.a.secretKey, `/v1/users/${user.id}`)).json()).toEqual(user);
    expect(await storedFacts("user.updated")).toHaveLength(0);
    expect(await storedFacts("user.disabled")).toHaveLength(0);
  });

  it("user routes need a secret key: an operator token or a user session is refused (403)", async () => {
    await createUser({ email: "alice@example.com", password: TEST_PASSWORD });
    const session = await t.inject({
      method: "POST",
      url: "/v1/auth/login",
      payload: { surfaceId: p.a.surfaceId, email: "alice@example.com", password: TEST_PASSWORD },
    });
    for (const token of [p.operatorToken, session.json().token as string]) {
      const res = await get(token, "/v1/users");
      expect(res.statusCode).toBe(403);
      expect(res.json().code).toBe("forbidden");
    }
  });
});

describeEachEngine("Self sign-up", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  beforeEach(async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
  });
  afterEach(async () => t?.close());

  const signup = (surfaceId: string, email = "new@example.com", password = TEST_PASSWORD) =>
    t.inject({ method: "POST", url: "/v1/auth/signup", payload: { surfaceId, email, password } });
  const users = async () => (await t.app.db.kysely.selectFrom("user").selectAll().execute()).length;
  const factTypes = async () =>
    ((await t.app.db.kysely.selectFrom("probe_fact").selectAll().orderBy("id").execute()) as FactRow[]).map(
      (f) => f.type,
    );

  it("a surface with selfSignup true creates the user and returns a working session", async () => {
    const before = await factTypes();
    const res = await signup(p.a.surfaceId);
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body.token).toMatch(/^bp_st_/);
    expect(body.user).toMatchObject({ email: "new@example.com", environmentId: p.a.id, hasPassword: true });
    expect(body.session).toMatchObject({ userId: body.user.id, surfaceId: p.a.surfaceId, current: true });
    const me = await t.inject({ method: "GET", url: "/v1/auth/me", headers: bearer(body.token) });
    expect(me.statusCode).toBe(200);
    expect(me.json().id).toBe(body.user.id);

    const recorded = (await t.app.db.kysely
      .selectFrom("probe_fact")
      .selectAll()
      .where("type", "in", ["user.signed_up", "user.logged_in"])
      .execute()) as FactRow[];
    expect(recorded.map((f) => [f.type, f.environment_id, f.actor_id]).sort()).toEqual([
      ["user.logged_in", p.a.id, body.user.id],
      ["user.signed_up", p.a.id, body.user.id], // a self sign-up is the new user's own act
    ]);
    expect((await factTypes()).length).toBe(before.length + 2);

    const again = await signup(p.a.surfaceId, "NEW@example.com");
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe("email_taken");
  });

  it("a surface with selfSignup false refuses (403 self_signup_disabled) and creates nothing", async () => {
    const patched = await t.inject({
      method: "PATCH",
      url: `/v1/surfaces/${p.a.surfaceId}`,
      headers: bearer(p.operatorToken),
      payload: { selfSignup: false },
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json().selfSignup).toBe(false);
    const before = await factTypes();
    const res = await signup(p.a.surfaceId);
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ code: "self_signup_disabled", status: 403 });
    expect(await users()).toBe(0);
    expect(await factTypes()).toEqual(before);
    // The backend may still create users through that surface's environment.
    const created = await t.inject({
      method: "POST",
      url: "/v1/users",
      headers: bearer(p.a.secretKey),
      payload: { email: "new@example.com" },
    });
    expect(created.statusCode).toBe(201);
  });

  it("an archived or unknown surface answers 404 surface_not_found", async () => {
    const archived = await t.inject({
      method: "POST",
      url: `/v1/surfaces/${p.a.surfaceId}/archive`,
      headers: bearer(p.operatorToken),
    });
    expect(archived.statusCode).toBe(200);
    for (const surfaceId of [p.a.surfaceId, "srf_01JZZZZZZZZZZZZZZZZZZZZZZZ"]) {
      const res = await signup(surfaceId);
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe("surface_not_found");
    }
    expect(await users()).toBe(0);
  });

  it("sign-up applies the password rules (422 weak_password)", async () => {
    for (const password of ["short", "password123", "new@example.com"]) {
      const res = await signup(p.a.surfaceId, "new@example.com", password);
      expect(res.statusCode, password).toBe(422);
      expect(res.json().code).toBe("weak_password");
    }
    expect(await users()).toBe(0);
  });
});
