import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type SeededPlane, seedPlane } from "../src/testing/fixtures.js";
import { createTestApp, describeEachEngine, engines, type TestApp } from "../src/testing/harness.js";
import { freePort, type PlaneProcess, spawnPlane } from "../src/testing/spawn.js";

// Usage counted exactly once and limits never overspent, under concurrency and crashes:
// - a duplicate storm (one event id sent 100 times at once) counts once, in one process on both
//   engines and across two plane processes on one PostgreSQL database;
// - 50 concurrent reservations against one limit never reserve more than the limit, in one process
//   and across two processes;
// - a plane killed with SIGKILL during batch ingestion loses nothing committed, and a client that
//   then retries every batch ends with exact totals.

type Json = Record<string, unknown>;

async function http(base: string, token: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Json };
}

/** setup creates a sum meter, a tenant and a metered entitlement (limit 100 a month) through `call`. */
async function setup(call: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: Json }>) {
  expect(
    (
      await call("POST", "/v1/usage/meters", {
        key: "tokens",
        eventType: "llm.call",
        aggregation: "sum",
        valuePath: "tokens",
      })
    ).status,
  ).toBe(201);
  const tenant = await call("POST", "/v1/tenants", { name: "Racer" });
  const tenantId = tenant.body.id as string;
  const ent = await call("POST", `/v1/tenants/${tenantId}/entitlements`, {
    feature: "ai",
    meter: "tokens",
    limit: 100,
    period: "month",
  });
  expect(ent.status).toBe(200);
  return tenantId;
}

const monthRange = () => {
  const now = new Date();
  const from = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1);
  const to = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
};

describeEachEngine("usage races in one process", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let tenantId: string;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await t.inject({
      method: method as "GET",
      url: path,
      headers: { authorization: `Bearer ${p.a.secretKey}` },
      ...(body === undefined ? {} : { payload: body as object }),
    });
    return { status: res.statusCode, body: res.json() as Json };
  };
  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
    tenantId = await setup(call);
  });
  afterAll(async () => t?.close());

  it("one event id sent 100 times at once is counted exactly once", async () => {
    const event = { id: "storm-1", type: "llm.call", subject: tenantId, data: { tokens: 7 } };
    const results = await Promise.all(Array.from({ length: 100 }, () => call("POST", "/v1/usage/events", event)));
    const statuses = results.map((r) => r.body.status);
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(statuses.filter((s) => s === "accepted")).toHaveLength(1);
    expect(statuses.filter((s) => s === "duplicate")).toHaveLength(99);
    // And in batches: the same ids in 20 concurrent batches.
    const batch = {
      events: Array.from({ length: 50 }, (_, i) => ({
        id: `sb-${i}`,
        type: "llm.call",
        subject: tenantId,
        data: { tokens: 1 },
      })),
    };
    const batches = await Promise.all(Array.from({ length: 20 }, () => call("POST", "/v1/usage/events/batch", batch)));
    expect(batches.reduce((n, b) => n + (b.body.accepted as number), 0)).toBe(50);
    const q = await call("GET", `/v1/usage/meters/tokens/usage?${new URLSearchParams({ tenantId, ...monthRange() })}`);
    expect((q.body.totals as Json[])[0]?.value).toBe(57);
  });

  it("50 concurrent reservations never reserve more than the limit", async () => {
    const other = await call("POST", "/v1/tenants", { name: "Holds" });
    const id = other.body.id as string;
    await call("POST", `/v1/tenants/${id}/entitlements`, {
      feature: "ai",
      meter: "tokens",
      limit: 100,
      period: "rolling",
      rollingDays: 30,
    });
    const results = await Promise.all(
      Array.from({ length: 50 }, () =>
        call("POST", "/v1/usage/holds", { tenantId: id, feature: "ai", amount: 7, ttlSeconds: 600 }),
      ),
    );
    const won = results.filter((r) => r.status === 201);
    expect(won).toHaveLength(14);
    expect(results.filter((r) => r.status === 409).every((r) => r.body.code === "limit_exceeded")).toBe(true);
    expect(results.every((r) => r.status === 201 || r.status === 409)).toBe(true);
    // (Expiry is tested with a test clock in usage.test.ts: a TTL here would race the load.)
    const check = await call("POST", "/v1/entitlements/check", { tenantId: id, feature: "ai" });
    expect(check.body).toMatchObject({ held: 98, remaining: 2 });
  });
});

describe.runIf(engines().includes("postgres"))("usage races across two processes [postgres]", () => {
  let t: TestApp;
  let p: SeededPlane;
  let tenantId: string;
  let bases: string[] = [];
  const planes: PlaneProcess[] = [];
  beforeAll(async () => {
    t = await createTestApp("postgres", { plane: true });
    p = await seedPlane(t);
    const env = { ...t.database.env, NODE_ENV: "test", BASEPLATE_PASSWORD_PROFILE: "test", BASEPLATE_WORKERS: "false" };
    const ports = [await freePort(), await freePort()];
    planes.push(
      ...(await Promise.all(ports.map((port) => spawnPlane("serve-plane", { ...env, BASEPLATE_PORT: String(port) })))),
    );
    bases = planes.map((plane) => plane.ready.url as string);
    tenantId = await setup((method, path, body) => http(bases[0] as string, p.a.secretKey, method, path, body));
  }, 60_000);
  afterAll(async () => {
    for (const plane of planes) plane.child.kill("SIGTERM");
    await Promise.all(planes.map((plane) => plane.exited));
    await t?.close();
  });

  it("one event id sent 100 times over two processes is counted exactly once", async () => {
    const event = { id: "storm-x", type: "llm.call", subject: tenantId, data: { tokens: 9 } };
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        http(bases[i % 2] as string, p.a.secretKey, "POST", "/v1/usage/events", event),
      ),
    );
    expect(results.map((r) => r.status).every((s) => s === 200)).toBe(true);
    expect(results.filter((r) => r.body.status === "accepted")).toHaveLength(1);
    const q = await http(
      bases[1] as string,
      p.a.secretKey,
      "GET",
      `/v1/usage/meters/tokens/usage?${new URLSearchParams({ tenantId, ...monthRange() })}`,
    );
    expect((q.body.totals as Json[])[0]?.value).toBe(9);
  });

  it("50 reservations over two processes never overspend", async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        http(bases[i % 2] as string, p.a.secretKey, "POST", "/v1/usage/holds", { tenantId, feature: "ai", amount: 10 }),
      ),
    );
    // 9 tokens are used already: 9 holds of 10 fit under 100, the tenth would not.
    expect(results.filter((r) => r.status === 201)).toHaveLength(9);
    expect(results.every((r) => r.status === 201 || r.body.code === "limit_exceeded")).toBe(true);
  });
});

describeEachEngine("usage durability", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  const children: PlaneProcess[] = [];
  afterEach(async () => {
    for (const c of children) c.child.kill("SIGKILL");
    await Promise.all(children.map((c) => c.exited));
    children.length = 0;
    await t?.close();
  });

  it("SIGKILL during batch ingestion, then every batch retried: exact totals", async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
    const env = { ...t.database.env, NODE_ENV: "test", BASEPLATE_PASSWORD_PROFILE: "test", BASEPLATE_WORKERS: "false" };
    const port = await freePort();
    const start = async () => {
      const child = await spawnPlane("serve-plane", { ...env, BASEPLATE_PORT: String(port) });
      children.push(child);
      return child;
    };
    const first = await start();
    const base = first.ready.url as string;
    const tenantId = await setup((method, path, body) => http(base, p.a.secretKey, method, path, body));
    const BATCHES = 40;
    const PER = 250;
    const batchOf = (b: number) => ({
      events: Array.from({ length: PER }, (_, i) => ({
        id: `k-${b}-${i}`,
        type: "llm.call",
        subject: tenantId,
        data: { tokens: (b * PER + i) % 7 },
      })),
    });
    let expected = 0;
    for (let b = 0; b < BATCHES; b++) for (const e of batchOf(b).events) expected += e.data.tokens;
    // Send the batches from 4 concurrent senders, and kill the plane once a few have been answered
    // (others are then in flight, some committed, some not).
    let answered = 0;
    let next = 0;
    const sender = async () => {
      while (next < BATCHES) {
        const b = next++;
        const r = await http(base, p.a.secretKey, "POST", "/v1/usage/events/batch", batchOf(b)).catch(() => null);
        if (!r) return;
        answered++;
      }
    };
    const senders = Array.from({ length: 4 }, sender);
    while (answered < 6) await new Promise((r) => setTimeout(r, 2));
    first.child.kill("SIGKILL");
    expect(await first.exited).toBe("SIGKILL");
    await Promise.all(senders);
    const second = await start();
    const base2 = second.ready.url as string;
    // The client did not trust any answer: it sends every batch again.
    let accepted = 0;
    for (let b = 0; b < BATCHES; b++) {
      const r = await http(base2, p.a.secretKey, "POST", "/v1/usage/events/batch", batchOf(b));
      expect(r.status).toBe(200);
      expect(r.body.rejected).toBe(0);
      accepted += r.body.accepted as number;
    }
    expect(accepted).toBeLessThan(BATCHES * PER);
    const q = await http(
      base2,
      p.a.secretKey,
      "GET",
      `/v1/usage/meters/tokens/usage?${new URLSearchParams({ tenantId, ...monthRange() })}`,
    );
    expect((q.body.totals as Json[])[0]).toMatchObject({ value: expected, events: BATCHES * PER });
  }, 120_000);
});
