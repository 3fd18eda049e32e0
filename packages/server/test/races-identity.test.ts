import { afterAll, beforeAll, expect, it } from "vitest";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../src/testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../src/testing/harness.js";
import { freePort, type PlaneProcess, spawnPlane } from "../src/testing/spawn.js";

// Checks that guard an identity write are made in the write (DESIGN.md §2): racing requests
// through two plane processes on PostgreSQL (one plane on SQLite) leave exactly the outcome one
// serial order would.

type Answer = { status: number; body: Record<string, unknown> };
type Call = (method: string, path: string, token: string | null, body?: unknown, ip?: string) => Promise<Answer>;

describeEachEngine("identity races", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  const planes: PlaneProcess[] = [];
  /** callers: one per plane process (two on PostgreSQL, the test's own plane on SQLite). */
  let callers: Call[] = [];

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
    if (engine === "sqlite") {
      callers = [
        async (method, path, token, body, ip) => {
          const res = await t.inject({
            method: method as "GET",
            url: path,
            ...(ip ? { remoteAddress: ip } : {}),
            headers: token ? { authorization: `Bearer ${token}` } : {},
            ...(body === undefined ? {} : { payload: body as object }),
          });
          return { status: res.statusCode, body: res.json() };
        },
      ];
      return;
    }
    const env = { ...t.database.env, NODE_ENV: "test", BASEPLATE_PASSWORD_PROFILE: "test", BASEPLATE_WORKERS: "false" };
    const ports = [await freePort(), await freePort()];
    planes.push(
      ...(await Promise.all(ports.map((port) => spawnPlane("serve-plane", { ...env, BASEPLATE_PORT: String(port) })))),
    );
    callers = planes.map((plane) => {
      const base = plane.ready.url as string;
      return async (method, path, token, body) => {
        const res = await fetch(`${base}${path}`, {
          method,
          headers: {
            ...(token ? { authorization: `Bearer ${token}` } : {}),
            ...(body === undefined ? {} : { "content-type": "application/json" }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      };
    });
  }, 60_000);

  afterAll(async () => {
    for (const plane of planes) plane.child.kill("SIGTERM");
    await Promise.all(planes.map((plane) => plane.exited));
    await t?.close();
  });

  /** spread sends `count` requests at once, alternating between the plane processes. */
  const spread = (count: number, send: (call: Call, i: number) => Promise<Answer>) =>
    Promise.all(Array.from({ length: count }, (_, i) => send(callers[i % callers.length] as Call, i)));
  const db = () => t.app.db.kysely;

  it("50 racing rotations of one secret key leave exactly one live successor; the others answer 409 key_already_rotated", async () => {
    const old = await p.identity.secretKeys.createSecretKey(p.operatorCtx, p.a.id, {
      surfaceId: p.a.surfaceId,
      name: "rotated at once",
      scopes: ["*"],
    });
    const answers = await spread(50, (call) =>
      call("POST", `/v1/secret-keys/${old.id}/rotate`, p.operatorToken, { gracePeriodSeconds: 3600 }),
    );
    const won = answers.filter((a) => a.status === 201);
    const lost = answers.filter((a) => a.status !== 201);
    expect(won).toHaveLength(1);
    for (const a of lost) expect(a).toMatchObject({ status: 409, body: { code: "key_already_rotated" } });

    const keys = await db()
      .selectFrom("secret_key")
      .select(["id", "replaced_by"])
      .where("name", "=", "rotated at once")
      .orderBy("id")
      .execute();
    const winner = won[0] as Answer;
    const successor = (winner.body as { id: string }).id;
    expect(keys).toEqual([
      { id: old.id, replaced_by: successor },
      { id: successor, replaced_by: null },
    ]);
    // The winner's token works, and so does the old one during its grace period.
    const token = winner.body.token as string;
    for (const call of callers) {
      expect((await call("GET", "/v1/tenants", token)).status).toBe(200);
      expect((await call("GET", "/v1/tenants", old.token)).status).toBe(200);
    }
  });

  it("logins racing a disable: no session issued in the race works once the user is enabled again", async () => {
    let issued = 0;
    for (let round = 0; round < 3; round++) {
      const email = `racer${round}@example.com`;
      const user = await callers[0]?.("POST", "/v1/users", p.a.secretKey, { email, password: TEST_PASSWORD });
      expect(user?.status).toBe(201);
      const userId = user?.body.id as string;
      // The logins fail once the user is disabled: start each round with no failures on record.
      await db().deleteFrom("throttle_counter").execute();

      // The disable is sent when the first login is answered, while the others are in flight.
      let disabled: Promise<Answer> | undefined;
      const loginAnswers = await spread(24, async (call, i) => {
        const a = await call(
          "POST",
          "/v1/auth/login",
          null,
          { surfaceId: p.a.surfaceId, email, password: TEST_PASSWORD },
          `203.0.113.${i}`,
        );
        disabled ??= (callers[1] ?? call)("PATCH", `/v1/users/${userId}`, p.a.secretKey, { disabled: true });
        return a;
      });
      expect((await disabled)?.status).toBe(200);
      for (const a of loginAnswers) expect([201, 401], JSON.stringify(a.body)).toContain(a.status);
      const tokens = loginAnswers.filter((a) => a.status === 201).map((a) => a.body.token as string);
      issued += tokens.length;

      const enable = await callers[0]?.("PATCH", `/v1/users/${userId}`, p.a.secretKey, { disabled: false });
      expect(enable?.status).toBe(200);
      const live = [];
      for (const token of tokens) {
        for (const call of callers) {
          const me = await call("GET", "/v1/auth/me", token);
          if (me.status !== 401) live.push(me.status);
        }
      }
      expect(live, `round ${round}: sessions that work after re-enabling`).toEqual([]);
      const unrevoked = await db()
        .selectFrom("session")
        .select("id")
        .where("user_id", "=", userId)
        .where("revoked_at", "is", null)
        .execute();
      expect(unrevoked).toEqual([]);
    }
    // The race was run: some logins won before the disable (and were revoked by it).
    expect(issued).toBeGreaterThan(0);
  });

  it("password changes racing with the same current password: one wins, the others answer 409 password_changed or 403", async () => {
    const email = "changer@example.com";
    expect((await callers[0]?.("POST", "/v1/users", p.a.secretKey, { email, password: TEST_PASSWORD }))?.status).toBe(
      201,
    );
    const session = await callers[0]?.("POST", "/v1/auth/login", null, {
      surfaceId: p.a.surfaceId,
      email,
      password: TEST_PASSWORD,
    });
    const token = session?.body.token as string;
    const answers = await spread(6, (call, i) =>
      call("POST", "/v1/auth/password", token, {
        currentPassword: TEST_PASSWORD,
        newPassword: `racing passphrase number ${i}`,
      }),
    );
    const won = answers.flatMap((a, i) => (a.status === 200 ? [i] : []));
    expect(won).toHaveLength(1);
    for (const a of answers.filter((a) => a.status !== 200)) {
      expect([409, 403], JSON.stringify(a.body)).toContain(a.status);
      expect(a.body.code).toBe(a.status === 409 ? "password_changed" : "current_password_wrong");
    }
    // Only the winner's password opens the account.
    const login = (password: string) =>
      (callers[0] as Call)(
        "POST",
        "/v1/auth/login",
        null,
        { surfaceId: p.a.surfaceId, email, password },
        "198.51.100.9",
      );
    expect((await login(`racing passphrase number ${won[0]}`)).status).toBe(201);
    const losers = answers.flatMap((a, i) => (a.status === 200 ? [] : [i]));
    expect((await login(`racing passphrase number ${losers[0]}`)).status).toBe(401);
  });

  it("operator logins racing a disable: no operator session works once the operator is enabled again", async () => {
    const created = await callers[0]?.("POST", "/v1/operators", p.operatorToken, {
      email: "racing-op@example.com",
      name: "Racing operator",
      role: "support",
      password: TEST_PASSWORD,
    });
    expect(created?.status).toBe(201);
    const operatorId = created?.body.id as string;
    await db().deleteFrom("throttle_counter").execute();
    let disabled: Promise<Answer> | undefined;
    const answers = await spread(16, async (call, i) => {
      const a = await call(
        "POST",
        "/v1/operator/login",
        null,
        { email: "racing-op@example.com", password: TEST_PASSWORD },
        `203.0.113.${100 + i}`,
      );
      disabled ??= (callers[1] ?? call)("PATCH", `/v1/operators/${operatorId}`, p.operatorToken, { disabled: true });
      return a;
    });
    expect((await disabled)?.status).toBe(200);
    for (const a of answers) expect([201, 401], JSON.stringify(a.body)).toContain(a.status);
    const tokens = answers.filter((a) => a.status === 201).map((a) => a.body.token as string);
    expect(tokens.length).toBeGreaterThan(0);
    expect(
      (await callers[0]?.("PATCH", `/v1/operators/${operatorId}`, p.operatorToken, { disabled: false }))?.status,
    ).toBe(200);
    const live = [];
    for (const token of tokens) {
      for (const call of callers) {
        const res = await call("GET", "/v1/operator/tokens", token);
        if (res.status !== 401) live.push(res.status);
      }
    }
    expect(live).toEqual([]);
  });
});
