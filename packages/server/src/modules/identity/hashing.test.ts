import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../config.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { identityModule } from "./index.js";
import { type Admission, PasswordHasher, QUEUE_PER_THREAD } from "./internal/passwords.js";

// The password hashing pool: hashes on their own threads, a bounded queue with fair admission,
// refusals with Retry-After before any database work (checklist: availability under a login flood).

const busy = (err: unknown) => (err as { code?: string; headers?: Record<string, string> }) ?? {};

describe("PasswordHasher", () => {
  const hashers: PasswordHasher[] = [];
  const make = (concurrency: number, maxQueue?: number) => {
    const hasher = new PasswordHasher("test", concurrency, maxQueue === undefined ? {} : { maxQueue });
    hashers.push(hasher);
    return hasher;
  };
  afterEach(async () => {
    await Promise.all(hashers.splice(0).map((h) => h.close()));
  });

  it("configuration: one thread per core and 16 waiting per thread by default; both can be set", () => {
    const config = loadConfig({});
    expect(config.passwords.concurrency).toBeGreaterThanOrEqual(1);
    const hasher = make(config.passwords.concurrency, config.passwords.maxQueue);
    expect(hasher.maxQueue).toBe(QUEUE_PER_THREAD * config.passwords.concurrency);
    const set = loadConfig({ BASEPLATE_PASSWORD_HASH_CONCURRENCY: "3", BASEPLATE_PASSWORD_HASH_QUEUE: "7" });
    expect(set.passwords).toMatchObject({ concurrency: 3, maxQueue: 7 });
  });

  it("hashes on its own threads, at most `concurrency` at once, while the event loop keeps turning", async () => {
    const hasher = new PasswordHasher("owasp", 2);
    hashers.push(hasher);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 2);
    const started = performance.now();
    const hashes = await Promise.all(Array.from({ length: 6 }, (_, i) => hasher.hash(`${TEST_PASSWORD} ${i}`)));
    const elapsed = performance.now() - started;
    clearInterval(timer);
    expect(hashes.every((h) => h.startsWith("$argon2id$v=19$m=19456,t=2,p=1$"))).toBe(true);
    expect(hasher.stats).toEqual({ running: 0, queued: 0, threads: 2 });
    // Six owasp hashes on the event loop would leave no turn for the timer until they were done.
    expect(ticks).toBeGreaterThan(elapsed / 2 / 4);
    expect(await hasher.verify(hashes[0] as string, `${TEST_PASSWORD} 0`)).toBe(true);
    expect(await hasher.verify(hashes[0] as string, `${TEST_PASSWORD} 1`)).toBe(false);
    expect(await hasher.verify(null, TEST_PASSWORD)).toBe(false);
  });

  it("a full queue refuses at once with 503 hashing_busy and Retry-After; places come back", async () => {
    const hasher = make(1, 4);
    const hash = await hasher.hash(TEST_PASSWORD);
    const running = hasher.verify(hash, TEST_PASSWORD, "a"); // runs at once: not in the queue
    const waiting = ["a", "b", "c", "d"].map((source) => hasher.verify(hash, TEST_PASSWORD, source));
    expect(hasher.stats).toMatchObject({ running: 1, queued: 4 });
    let refused: unknown;
    try {
      hasher.admit("e");
    } catch (err) {
      refused = err;
    }
    expect(busy(refused)).toMatchObject({ code: "hashing_busy", status: 503 });
    expect(Number(busy(refused).headers?.["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(await Promise.all([running, ...waiting])).toEqual([true, true, true, true, true]);
    expect(hasher.stats).toMatchObject({ running: 0, queued: 0 });
    // An admission released unused gives its place back; releasing twice or after use changes nothing.
    const admissions: Admission[] = ["a", "b", "c", "d"].map((source) => hasher.admit(source));
    expect(() => hasher.admit("e")).toThrow();
    for (const admission of admissions) {
      admission.release();
      admission.release();
    }
    expect(hasher.stats.queued).toBe(0);
    const used = hasher.admit("e");
    expect(await used.verify(hash, TEST_PASSWORD)).toBe(true);
    used.release();
    expect(hasher.stats.queued).toBe(0);
  });

  it("one client may hold half the queue (429 too_many_logins), and waiting clients are served in turn", async () => {
    const hasher = make(1, 8);
    const hash = await hasher.hash(TEST_PASSWORD);
    const order: string[] = [];
    const login = (source: string, label: string) =>
      hasher.verify(hash, TEST_PASSWORD, source).then((ok) => {
        expect(ok).toBe(true);
        order.push(label);
      });
    const all = [login("flood", "f0")]; // takes the thread
    for (let i = 1; i <= 4; i++) all.push(login("flood", `f${i}`));
    let refused: unknown;
    try {
      hasher.admit("flood");
    } catch (err) {
      refused = err;
    }
    expect(busy(refused)).toMatchObject({ code: "too_many_logins", status: 429 });
    expect(Number(busy(refused).headers?.["retry-after"])).toBeGreaterThanOrEqual(1);
    all.push(login("ann", "a1"), login("bob", "b1"), login("ann", "a2"));
    await Promise.all(all);
    // Turns: flood, ann, bob, flood, ann, flood, flood (one hash per waiting client per turn).
    expect(order).toEqual(["f0", "f1", "a1", "b1", "f2", "a2", "f3", "f4"]);
  });
});

describeEachEngine("login under a full hashing queue", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  beforeEach(async () => {
    t = await createTestApp(engine, {
      plane: true,
      env: { BASEPLATE_PASSWORD_HASH_CONCURRENCY: "1", BASEPLATE_PASSWORD_HASH_QUEUE: "2" },
    });
    p = await seedPlane(t);
  });
  afterEach(async () => t?.close());

  const login = (email: string, ip = "203.0.113.7", password = TEST_PASSWORD) =>
    t.inject({
      method: "POST",
      url: "/v1/auth/login",
      remoteAddress: ip,
      payload: { surfaceId: p.a.surfaceId, email, password },
    });

  it("is refused with 503 hashing_busy and Retry-After before any database work, and works again once there is room", async () => {
    const created = await t.inject({
      method: "POST",
      url: "/v1/users",
      headers: { authorization: `Bearer ${p.a.secretKey}` },
      payload: { email: "ann@example.com", password: TEST_PASSWORD },
    });
    expect(created.statusCode, created.body).toBe(201);
    const hasher = t.app.service(identityModule).core.hasher;
    const held = [hasher.admit("198.51.100.1"), hasher.admit("198.51.100.2")];
    const counters = () =>
      t.app.db.kysely
        .selectFrom("throttle_counter" as never)
        .selectAll()
        .execute();
    const before = await counters();

    const refused = await login("ann@example.com");
    expect(refused.statusCode, refused.body).toBe(503);
    expect(refused.json()).toMatchObject({ code: "hashing_busy", status: 503 });
    expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    // No throttle counter was bumped or taken back, and no session was opened.
    expect(await counters()).toEqual(before);
    const sessions = await t.app.db.kysely
      .selectFrom("session" as never)
      .select((eb) => eb.fn.countAll().as("n"))
      .executeTakeFirstOrThrow();

    for (const admission of held) admission.release();
    const ok = await login("ann@example.com");
    expect(ok.statusCode, ok.body).toBe(201);
    const after = await t.app.db.kysely
      .selectFrom("session" as never)
      .select((eb) => eb.fn.countAll().as("n"))
      .executeTakeFirstOrThrow();
    expect(Number(after.n)).toBe(Number(sessions.n) + 1);
    expect(hasher.stats).toMatchObject({ running: 0, queued: 0 });
  });

  it("a client over its half of the queue gets 429 too_many_logins; another client still gets in", async () => {
    const hasher = t.app.service(identityModule).core.hasher;
    const held = hasher.admit("203.0.113.7"); // this client's half of a queue of 2
    const refused = await login("nobody@example.com");
    expect(refused.statusCode, refused.body).toBe(429);
    expect(refused.json()).toMatchObject({ code: "too_many_logins" });
    expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    const other = await login("nobody@example.com", "198.51.100.9");
    expect(other.statusCode, other.body).toBe(401);
    held.release();
    expect(hasher.stats).toMatchObject({ running: 0, queued: 0 });
  });

  it("an attempt waiting for its soft delay holds no place in the queue (guessing cannot fill it)", async () => {
    const hasher = t.app.service(identityModule).core.hasher;
    for (let i = 0; i < 3; i++)
      expect((await login("ann@example.com", "198.51.100.4", "wrong-1")).statusCode).toBe(401);
    const delayed = login("ann@example.com", "198.51.100.5", "wrong-2"); // waits 250 ms first
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(hasher.stats).toMatchObject({ running: 0, queued: 0 });
    hasher.admit("198.51.100.6").release(); // the whole queue is free meanwhile
    hasher.admit("198.51.100.7").release();
    expect((await delayed).statusCode).toBe(401);
    expect(hasher.stats).toMatchObject({ running: 0, queued: 0 });
  });
});
