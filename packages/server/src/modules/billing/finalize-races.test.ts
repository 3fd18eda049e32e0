import { afterAll, beforeAll, expect, it } from "vitest";
import { type App, createApp, MODULES } from "../../app.js";
import { TestClock } from "../../platform/clock.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { billingModule } from "./index.js";

// Period-end finalization exactly once when finalizers race: several in one plane and, on
// PostgreSQL, a second plane on the same database (its own connection pool) racing the first.
// Every due period gets one invoice, the numbers run 1..N without a gap or a repeat, and each
// subscription renews once.

const T0 = Date.parse("2027-01-15T08:00:00Z");
const N = 30;

describeEachEngine("billing finalization races", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let other: App | null = null;
  const clock = new TestClock(T0);

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
    if (engine === "postgres") other = await createApp({ config: t.config, modules: MODULES, clock });
  });
  afterAll(async () => {
    await other?.stop();
    await t?.close();
  });

  async function call(method: string, url: string, body?: unknown) {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: { authorization: `Bearer ${p.a.secretKey}` },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return { status: res.statusCode, body: res.json() as Record<string, unknown> };
  }

  it(`${N} subscriptions due at once, finalized by racing finalizers: ${N} invoices, numbered 1..${N}`, async () => {
    expect(
      (await call("POST", "/v1/usage/meters", { key: "calls", eventType: "api.call", aggregation: "count" })).status,
    ).toBe(201);
    const plan = await call("POST", "/v1/billing/plans", {
      key: "team",
      name: "Team",
      interval: "month",
      currency: "EUR",
      fixedFee: "10.00",
      charges: [{ meter: "calls", model: "package", packageSize: "100", packagePrice: "1.50" }],
    });
    expect(plan.status).toBe(201);
    for (let i = 0; i < N; i++) {
      const tenant = (await call("POST", "/v1/tenants", { name: `T${i}` })).body.id as string;
      expect((await call("POST", "/v1/billing/subscriptions", { tenantId: tenant, plan: "team" })).status).toBe(201);
      const events = Array.from({ length: i + 1 }, (_, k) => ({ id: `${i}-${k}`, type: "api.call", subject: tenant }));
      expect((await call("POST", "/v1/usage/events/batch", { events })).status).toBe(200);
    }
    clock.set(Date.parse("2027-02-15T08:00:00Z"));
    const planes = [t.app, ...(other ? [other] : [])];
    const ended = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        (planes[i % planes.length] as App).service(billingModule).subscriptions.advanceDue(7),
      ),
    );
    expect(ended.reduce((a, b) => a + b, 0)).toBe(N);
    const rows = await t.app.db.kysely
      .selectFrom("billing_invoice")
      .select(["number", "total", "subscription_id"])
      .orderBy("number")
      .execute();
    expect(rows.map((r) => r.number)).toEqual(
      Array.from({ length: N }, (_, i) => `INV-2027-${String(i + 1).padStart(6, "0")}`),
    );
    expect(new Set(rows.map((r) => r.subscription_id)).size).toBe(N);
    // 10.00 + one started package of 100 calls (every tenant reported 1..30 calls).
    expect(new Set(rows.map((r) => Number(r.total)))).toEqual(new Set([1150]));
    const renewed = await t.app.db.kysely
      .selectFrom("audit_entry")
      .select("id")
      .where("action", "=", "subscription.renewed")
      .execute();
    expect(renewed).toHaveLength(N);
    // Nothing is due any more: another pass ends nothing.
    expect(await t.app.service(billingModule).subscriptions.advanceDue()).toBe(0);
  });
});
