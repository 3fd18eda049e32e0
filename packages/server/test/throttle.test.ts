import { afterEach, expect, it } from "vitest";
import { type App, createApp, MODULES } from "../src/app.js";
import { identityModule } from "../src/modules/identity/index.js";
import { TestClock } from "../src/platform/clock.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../src/testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../src/testing/harness.js";
import { probeModule } from "../src/testing/probe-module.js";
import { freePort, type PlaneProcess, spawnPlane } from "../src/testing/spawn.js";

// The login throttle and the sign-up limits keep their counts in the database: every process of
// the plane sees them, and a restart forgets none of them.

const MINUTE = 60_000;
const WRONG = "not the right password";

describeEachEngine("throttle across processes and restarts", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let clock: TestClock;
  const extra: App[] = [];
  const planes: PlaneProcess[] = [];

  afterEach(async () => {
    for (const plane of planes.splice(0)) {
      plane.child.kill("SIGTERM");
      await plane.exited;
    }
    for (const app of extra.splice(0)) await app.stop().catch(() => undefined);
    await t?.close();
  });

  async function setUp(): Promise<void> {
    clock = new TestClock();
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
    const user = await t.inject({
      method: "POST",
      url: "/v1/users",
      headers: { authorization: `Bearer ${p.a.secretKey}` },
      payload: { email: "alice@example.com", password: TEST_PASSWORD },
    });
    expect(user.statusCode).toBe(201);
  }

  /** another opens a second plane on the test's database (the same file or schema), as a restart or a second process would. */
  async function another(): Promise<App> {
    const app = await createApp({ config: t.config, modules: [...MODULES, probeModule], clock });
    extra.push(app);
    await app.start({ listen: false, workers: false });
    return app;
  }

  const login = (app: App, email: string, password: string, ip: string) =>
    app.http.fastify.inject({
      method: "POST",
      url: "/v1/auth/login",
      remoteAddress: ip,
      payload: { surfaceId: p.a.surfaceId, email, password },
    });

  const attacker = "203.0.113.7";
  /** exhaust makes the attacker's 30 allowed failures through `app` (a different account each time). */
  async function exhaust(app: App): Promise<void> {
    for (let i = 0; i < 30; i++)
      expect((await login(app, `guess${i}@example.com`, WRONG, attacker)).statusCode).toBe(401);
    expect((await login(app, "guess30@example.com", WRONG, attacker)).statusCode).toBe(429);
  }

  it("a restart forgets nothing: a client refused before it is refused after it, until its window ends", async () => {
    await setUp();
    await exhaust(t.app);
    await t.app.stop();
    const restarted = await another();
    const refused = await login(restarted, "alice@example.com", TEST_PASSWORD, attacker);
    expect(refused.statusCode).toBe(429);
    expect(refused.json().code).toBe("too_many_attempts");
    expect((await login(restarted, "alice@example.com", TEST_PASSWORD, "198.51.100.1")).statusCode).toBe(201);
    clock.advance(15 * MINUTE);
    expect((await login(restarted, "alice@example.com", TEST_PASSWORD, attacker)).statusCode).toBe(201);
  });

  it("a second plane on the same database refuses the client the first one refused", async () => {
    await setUp();
    await exhaust(t.app);
    const second = await another();
    expect((await login(second, "guess31@example.com", WRONG, attacker)).statusCode).toBe(429);
    expect((await login(second, "alice@example.com", TEST_PASSWORD, attacker)).statusCode).toBe(429);
  });

  it.runIf(engine === "postgres")(
    "two processes racing 50 guesses from one client evaluate exactly 30 of them between them",
    async () => {
      await setUp();
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
      const urls = planes.map((plane) => plane.ready.url as string);
      const guess = async (url: string, email: string, password: string) =>
        (
          await fetch(`${url}/v1/auth/login`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ surfaceId: p.a.surfaceId, email, password }),
          })
        ).status;
      // Every request comes from 127.0.0.1; each guesses another account, so only the client limit is in play.
      const statuses = await Promise.all(
        Array.from({ length: 50 }, (_, i) => guess(urls[i % 2] as string, `guess${i}@example.com`, WRONG)),
      );
      expect(statuses.filter((s) => s === 401)).toHaveLength(30);
      expect(statuses.filter((s) => s === 429)).toHaveLength(20);
      for (const url of urls) expect(await guess(url, "alice@example.com", TEST_PASSWORD)).toBe(429);
    },
    60_000,
  );

  it("finished windows are pruned; the owner's known client is kept", async () => {
    await setUp();
    const owner = "198.51.100.10";
    expect((await login(t.app, "alice@example.com", TEST_PASSWORD, owner)).statusCode).toBe(201);
    for (let i = 0; i < 3; i++) expect((await login(t.app, "alice@example.com", WRONG, attacker)).statusCode).toBe(401);
    const rows = () =>
      t.app.db.kysely
        .selectFrom("throttle_counter")
        .select(["scope", "count"])
        // seedPlane's own operator login has rows too: look at this test's client and account only.
        .where((eb) => eb.or([eb("key", "like", "%alice@example.com%"), eb("key", "in", [owner, attacker])]))
        .orderBy("scope")
        .orderBy("count")
        .execute() as Promise<Array<{ scope: string; count: number }>>;
    // The owner's success took its own attempt back (0) and cleared the account's failures.
    expect((await rows()).map((r) => [r.scope, Number(r.count)])).toEqual([
      ["login_account", 3],
      ["login_account_hour", 3],
      ["login_client", 0],
      ["login_client", 3],
      ["login_known", 1],
    ]);
    const throttle = t.app.service(identityModule).core.throttle;
    expect(await throttle.prune()).toBe(0);
    clock.advance(60 * MINUTE);
    expect(await throttle.prune()).toBeGreaterThanOrEqual(4);
    expect((await rows()).map((r) => r.scope)).toEqual(["login_known"]);
  });

  it("sign-up is limited per client (20 per 15 minutes) and per address (5 per hour), in every plane", async () => {
    await setUp();
    const signup = (app: App, email: string, ip: string) =>
      app.http.fastify.inject({
        method: "POST",
        url: "/v1/auth/signup",
        remoteAddress: ip,
        payload: { surfaceId: p.a.surfaceId, email, password: TEST_PASSWORD },
      });
    const second = await another();
    // Per address: one sign-up and four answers of email_taken, then 429 from any client.
    expect((await signup(t.app, "taken@example.com", "198.51.100.1")).statusCode).toBe(201);
    for (let i = 2; i <= 5; i++)
      expect((await signup(i % 2 ? t.app : second, "taken@example.com", `198.51.100.${i}`)).json().code).toBe(
        "email_taken",
      );
    const address = await signup(second, "taken@example.com", "198.51.100.6");
    expect(address.statusCode).toBe(429);
    expect(address.json().code).toBe("too_many_attempts");

    // Per client: 20 attempts, then 429 whether the address is new or taken.
    const probe = "203.0.113.50";
    for (let i = 0; i < 20; i++) {
      expect((await signup(i % 2 ? t.app : second, `new${i}@example.com`, probe)).statusCode).toBe(201);
    }
    const fresh = await signup(t.app, "never-seen@example.com", probe);
    const existing = await signup(second, "new0@example.com", probe);
    expect([fresh.statusCode, existing.statusCode]).toEqual([429, 429]);
    const { requestId: _a, ...freshBody } = fresh.json();
    const { requestId: _b, ...existingBody } = existing.json();
    expect(existingBody).toEqual(freshBody);
    clock.advance(15 * MINUTE);
    expect((await signup(t.app, "never-seen@example.com", probe)).statusCode).toBe(201);
  });
});
