import { afterEach, describe, expect, it } from "vitest";
import { TestClock } from "../src/platform/clock.js";
import { seedPlane } from "../src/testing/fixtures.js";
import { createTestApp, describeEachEngine, engines, type TestApp } from "../src/testing/harness.js";
import { type PlaneProcess, spawnPlane } from "../src/testing/spawn.js";

// Period-end finalization exactly once across process deaths and OS processes:
// - a plane process finalizing many due subscriptions is killed with SIGKILL mid-way; a new
//   process finishes the work: every period invoiced once, with its renewal (the invoice and the
//   renewal commit together or not at all), numbers gap-free, no invoice lost;
// - on PostgreSQL, two plane processes finalize the same due set at once: the same outcome.
// Subscriptions start 40 days ago (a test clock), so by the children's system clock exactly one
// monthly period of each is due.

type Json = Record<string, unknown>;
const N = 120;
const DAY = 86_400_000;

async function waitFor(check: () => Promise<boolean>, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** world seeds a plane, a count meter, a plan and N subscriptions started 40 days ago, each with usage. */
async function world(engine: "sqlite" | "postgres") {
  const clock = new TestClock(Math.floor((Date.now() - 40 * DAY) / 60_000) * 60_000);
  const t = await createTestApp(engine, { plane: true, clock });
  const p = await seedPlane(t);
  const call = async (method: string, url: string, body?: unknown) => {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: { authorization: `Bearer ${p.a.secretKey}` },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return { status: res.statusCode, body: res.json() as Json };
  };
  expect(
    (await call("POST", "/v1/usage/meters", { key: "calls", eventType: "api.call", aggregation: "count" })).status,
  ).toBe(201);
  const plan = await call("POST", "/v1/billing/plans", {
    key: "team",
    name: "Team",
    interval: "month",
    currency: "EUR",
    fixedFee: "10.00",
    charges: [{ meter: "calls", model: "per_unit", unitPrice: "0.25" }],
  });
  expect(plan.status).toBe(201);
  const subscriptions = new Map<string, number>();
  for (let i = 0; i < N; i++) {
    const tenant = (await call("POST", "/v1/tenants", { name: `T${i}` })).body.id as string;
    const sub = await call("POST", "/v1/billing/subscriptions", { tenantId: tenant, plan: "team" });
    expect(sub.status).toBe(201);
    const calls = (i % 4) + 1;
    const events = Array.from({ length: calls }, (_, k) => ({ id: `${i}-${k}`, type: "api.call", subject: tenant }));
    expect((await call("POST", "/v1/usage/events/batch", { events })).status).toBe(200);
    // 10.00 + calls × 0.25, in cents.
    subscriptions.set(sub.body.id as string, 1000 + calls * 25);
  }
  return { t, subscriptions };
}

/** invoices reads every invoice, by number. */
function invoices(t: TestApp) {
  return t.app.db.kysely
    .selectFrom("billing_invoice")
    .select(["number", "subscription_id", "total", "period_start", "period_end"])
    .orderBy("number")
    .execute();
}

/** expectExactlyOnce checks the outcome: one invoice per subscription, gap-free, each renewed once. */
async function expectExactlyOnce(t: TestApp, subscriptions: Map<string, number>) {
  const rows = await invoices(t);
  const year = new Date().getUTCFullYear();
  expect(rows.map((r) => r.number)).toEqual(
    Array.from({ length: N }, (_, i) => `INV-${year}-${String(i + 1).padStart(6, "0")}`),
  );
  expect(new Set(rows.map((r) => r.subscription_id))).toEqual(new Set(subscriptions.keys()));
  for (const r of rows) expect(Number(r.total)).toBe(subscriptions.get(r.subscription_id));
  const subs = await t.app.db.kysely
    .selectFrom("billing_subscription")
    .select(["id", "period_index", "current_period_start"])
    .execute();
  const starts = new Map(rows.map((r) => [r.subscription_id, Number(r.period_end)]));
  for (const s of subs) {
    expect(Number(s.period_index)).toBe(1);
    expect(Number(s.current_period_start)).toBe(starts.get(s.id));
  }
  const facts = async (action: string) =>
    (await t.app.db.kysely.selectFrom("audit_entry").select("id").where("action", "=", action).execute()).length;
  expect(await facts("invoice.finalized")).toBe(N);
  expect(await facts("subscription.renewed")).toBe(N);
}

describeEachEngine("billing finalization durability", (engine) => {
  let t: TestApp | undefined;
  const children: PlaneProcess[] = [];
  afterEach(async () => {
    for (const c of children) c.child.kill("SIGKILL");
    await Promise.all(children.map((c) => c.exited));
    children.length = 0;
    await t?.close();
  });

  it("SIGKILL mid-way through finalization, then a new process: every period invoiced exactly once", async () => {
    const w = await world(engine);
    t = w.t;
    const env = {
      ...w.t.database.env,
      NODE_ENV: "test",
      BASEPLATE_PASSWORD_PROFILE: "test",
      BASEPLATE_WORKERS: "false",
    };
    const first = await spawnPlane("finalize-billing", env, 120_000);
    children.push(first);
    await waitFor(async () => (await invoices(w.t)).length >= 10);
    first.child.kill("SIGKILL");
    expect(await first.exited).toBe("SIGKILL");

    // Killed mid-way: some periods ended, not all; each ended one has its invoice and its renewal.
    const done = await invoices(w.t);
    expect(done.length).toBeGreaterThanOrEqual(10);
    expect(done.length).toBeLessThan(N);
    const renewed = await w.t.app.db.kysely
      .selectFrom("billing_subscription")
      .select("id")
      .where("period_index", "=", 1)
      .execute();
    expect(new Set(renewed.map((r) => r.id))).toEqual(new Set(done.map((r) => r.subscription_id)));

    const second = await spawnPlane("finalize-billing", env, 120_000);
    children.push(second);
    await waitFor(async () => (await invoices(w.t)).length >= N);
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    await expectExactlyOnce(w.t, w.subscriptions);
  }, 180_000);
});

describe.runIf(engines().includes("postgres"))("billing finalization across two processes [postgres]", () => {
  let t: TestApp | undefined;
  const children: PlaneProcess[] = [];
  afterEach(async () => {
    for (const c of children) c.child.kill("SIGKILL");
    await Promise.all(children.map((c) => c.exited));
    children.length = 0;
    await t?.close();
  });

  it("two OS processes finalize the same due set at once: every period invoiced exactly once", async () => {
    const w = await world("postgres");
    t = w.t;
    const env = {
      ...w.t.database.env,
      NODE_ENV: "test",
      BASEPLATE_PASSWORD_PROFILE: "test",
      BASEPLATE_WORKERS: "false",
    };
    children.push(...(await Promise.all([0, 1].map(() => spawnPlane("finalize-billing", env, 120_000)))));
    await waitFor(async () => (await invoices(w.t)).length >= N);
    // Let both finish their pass (a loser of a race ends nothing), then stop them.
    await new Promise((r) => setTimeout(r, 500));
    for (const c of children) c.child.kill("SIGTERM");
    expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0]);
    await expectExactlyOnce(w.t, w.subscriptions);
  }, 180_000);
});
