import { afterEach, describe, expect, it } from "vitest";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { TestClock } from "../clock.js";
import { admit } from "./gcra.js";
import { DatabaseBucketStore, MemoryBucketStore } from "./stores.js";

// Issue 13 (rate limits): token buckets per credential and per tenant, exact in one process;
// 429 problem+json with Retry-After, RateLimit and RateLimit-Policy (draft-ietf-httpapi-ratelimit-headers).
// Checklist TEN-08: bucket keys hold the environment and the tenant (or credential) id.

describe("GCRA token bucket", () => {
  it("a bucket of C allows exactly C at once, then one per C-th of the window", () => {
    const rule = { limit: 3, windowMs: 1000 };
    let tat: number | null = null;
    const allowed: boolean[] = [];
    for (let i = 0; i < 5; i++) {
      const a = admit(rule, tat, 0);
      if (a.allowed) tat = a.tat;
      allowed.push(a.allowed);
    }
    expect(allowed).toEqual([true, true, true, false, false]);
    expect(admit(rule, tat, 333).allowed).toBe(false);
    const later = admit(rule, tat, 334);
    expect(later).toMatchObject({ allowed: true, remaining: 0 });
    expect(admit(rule, tat, 1000)).toMatchObject({ allowed: true, remaining: 2 });
  });

  it("the memory store forgets full buckets first when over its size, and never refuses wrongly", () => {
    const store = new MemoryBucketStore(1000);
    const rule = { limit: 1, windowMs: 1000 };
    for (let i = 0; i < 1000; i++) store.take([{ key: `old${i}`, rule }], 0);
    expect(store.size).toBe(1000);
    // At t=2000 every old bucket is full again: they are swept, not the new one.
    expect(store.take([{ key: "new", rule }], 2000)[0]?.allowed).toBe(true);
    expect(store.size).toBe(1);
    expect(store.take([{ key: "new", rule }], 2000)[0]?.allowed).toBe(false);
  });
});

describeEachEngine("rate limits", (engine) => {
  let t: TestApp;
  const clock = new TestClock(1_800_000_000_000);
  afterEach(async () => t?.close());

  const limited = (env: Record<string, string> = {}) =>
    createTestApp(engine, {
      clock,
      env: {
        BASEPLATE_RATE_LIMITS: "true",
        BASEPLATE_RATE_LIMIT_CREDENTIAL_READ: "5/10s",
        BASEPLATE_RATE_LIMIT_CREDENTIAL_WRITE: "3/60s",
        BASEPLATE_RATE_LIMIT_TENANT_READ: "8/10s",
        ...env,
      },
    });
  const get = (token: string) =>
    t.inject({ method: "GET", url: "/v1/probe/items", headers: { authorization: `Bearer ${token}` } });

  for (const store of ["memory", "database"]) {
    it(`[${store}] 20 concurrent reads at a bucket of 5 → exactly 5 pass; the bucket refills over time`, async () => {
      t = await limited({ BASEPLATE_RATE_LIMIT_STORE: store });
      const token = t.token();
      const answers = await Promise.all(Array.from({ length: 20 }, () => get(token)));
      expect(answers.filter((r) => r.statusCode === 200)).toHaveLength(5);
      const refused = answers.filter((r) => r.statusCode === 429);
      expect(refused).toHaveLength(15);
      const metrics = await t.inject({ method: "GET", url: "/metrics" });
      expect(metrics.body).toContain('baseplate_rate_limited_total{scope="credential",surface="read"} 15');
      // One token every 2 s.
      clock.advance(1999);
      expect((await get(token)).statusCode).toBe(429);
      clock.advance(1);
      expect((await get(token)).statusCode).toBe(200);
      expect((await get(token)).statusCode).toBe(429);
      clock.advance(10_000);
      const full = await Promise.all(Array.from({ length: 7 }, () => get(token)));
      expect(full.map((r) => r.statusCode).sort()).toEqual([200, 200, 200, 200, 200, 429, 429]);
    });
  }

  for (const store of ["memory", "database"]) {
    it(`[${store}] a request refused by one bucket spends from none (the other bucket keeps its token)`, async () => {
      t = await limited({ BASEPLATE_RATE_LIMIT_STORE: store, BASEPLATE_RATE_LIMIT_TENANT_READ: "2/60s" });
      const key = t.token({ actorType: "tenant_key", tenantId: "ten_small" });
      expect((await get(key)).headers.ratelimit).toBe('"credential.read";r=4;t=2, "tenant.read";r=1;t=30');
      expect((await get(key)).statusCode).toBe(200);
      for (let i = 0; i < 3; i++) {
        const refused = await get(key);
        expect(refused.statusCode).toBe(429);
        expect(refused.headers.ratelimit).toBe('"credential.read";r=3;t=4, "tenant.read";r=0;t=60');
        expect(refused.headers["retry-after"]).toBe("30");
      }
    });
  }

  it("[database] prune deletes the rows of full buckets only", async () => {
    t = await limited({ BASEPLATE_RATE_LIMIT_STORE: "database" });
    await get(t.token());
    clock.advance(5000);
    await get(t.token());
    const rows = () => t.app.db.kysely.selectFrom("rate_limit_bucket").select("bucket").execute();
    expect(await rows()).toHaveLength(2);
    // The first bucket (one token spent 5 s ago, 2 s to refill) is full: its row goes.
    expect(await new DatabaseBucketStore(t.app.db).prune(clock.now())).toBe(1);
    expect(await rows()).toHaveLength(1);
  });

  it("every answer carries RateLimit-Policy and RateLimit; a 429 is problem+json with Retry-After", async () => {
    t = await limited();
    const token = t.token();
    const first = await get(token);
    expect(first.statusCode).toBe(200);
    expect(first.headers["ratelimit-policy"]).toBe('"credential.read";q=5;w=10');
    expect(first.headers.ratelimit).toBe('"credential.read";r=4;t=2');
    for (let i = 0; i < 4; i++) await get(token);
    const refused = await get(token);
    expect(refused.statusCode).toBe(429);
    expect(refused.headers["content-type"]).toBe("application/problem+json; charset=utf-8");
    expect(refused.json()).toMatchObject({
      status: 429,
      code: "rate_limited",
      type: "urn:baseplate:problem:rate_limited",
    });
    expect(refused.headers["retry-after"]).toBe("2");
    expect(refused.headers.ratelimit).toBe('"credential.read";r=0;t=10');
    // Errors of the handler carry the fields too.
    const missing = await t.inject({
      method: "GET",
      url: "/v1/probe/items/tst_nope",
      headers: { authorization: `Bearer ${t.token()}` },
    });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers.ratelimit).toBe('"credential.read";r=4;t=2');
  });

  it("writes spend from their own surface; refused writes change nothing", async () => {
    t = await limited();
    const token = t.token();
    const post = (name: string) =>
      t.inject({
        method: "POST",
        url: "/v1/probe/items",
        headers: { authorization: `Bearer ${token}` },
        payload: { name },
      });
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => post(`item ${i}`)));
    expect(answers.filter((r) => r.statusCode === 201)).toHaveLength(3);
    expect(answers.find((r) => r.statusCode === 429)?.headers["ratelimit-policy"]).toBe('"credential.write";q=3;w=60');
    const rows = await t.app.db.kysely.selectFrom("probe_item").select("id").execute();
    expect(rows).toHaveLength(3);
    // Reads still pass: another surface.
    expect((await get(token)).statusCode).toBe(200);
  });

  it("tenant-bound credentials share their tenant's bucket; another tenant is never throttled", async () => {
    t = await limited();
    const a1 = t.token({ actorType: "tenant_key", tenantId: "ten_a" });
    const a2 = t.token({ actorType: "tenant_key", tenantId: "ten_a" });
    const b = t.token({ actorType: "tenant_key", tenantId: "ten_b" });
    const first = await get(a1);
    expect(first.headers["ratelimit-policy"]).toBe('"credential.read";q=5;w=10, "tenant.read";q=8;w=10');
    const answers = await Promise.all([
      ...Array.from({ length: 10 }, () => get(a1)),
      ...Array.from({ length: 10 }, () => get(a2)),
    ]);
    // 7 tenant tokens remain after the first request: a1 may take at most 4 more (its own bucket), a2 the rest.
    expect(answers.filter((r) => r.statusCode === 200)).toHaveLength(7);
    const tenantRefusal = answers.find((r) => r.statusCode === 429 && r.json().detail.includes("tenant"));
    expect(tenantRefusal).toBeDefined();
    const other = await Promise.all(Array.from({ length: 5 }, () => get(b)));
    expect(other.every((r) => r.statusCode === 200)).toBe(true);
    // The same credential id in another environment is another bucket.
    const sameIdOtherEnv = t.token({ credentialId: "cred_shared", environmentId: "env_other" });
    const sameIdHere = t.token({ credentialId: "cred_shared" });
    for (let i = 0; i < 5; i++) await get(sameIdHere);
    expect((await get(sameIdHere)).statusCode).toBe(429);
    expect((await get(sameIdOtherEnv)).statusCode).toBe(200);
  });

  it("off: no headers, no limit; anonymous routes are not limited", async () => {
    t = await limited({ BASEPLATE_RATE_LIMIT_CREDENTIAL_READ: "off" });
    const token = t.token();
    const answers = await Promise.all(Array.from({ length: 20 }, () => get(token)));
    expect(answers.every((r) => r.statusCode === 200 && r.headers.ratelimit === undefined)).toBe(true);
    const health = await t.inject({ method: "GET", url: "/healthz" });
    expect(health.headers.ratelimit).toBeUndefined();
  });
});
