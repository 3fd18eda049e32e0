import { afterAll, beforeAll, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { runDueJobs } from "../../testing/webhook-receiver.js";
import { billingModule } from "./index.js";

type Json = Record<string, unknown>;

// Test clocks: a tenant on a clock lives at the clock's time. Advancing the clock runs the same
// durable job steps the real-time job runs (trial end, period end with its invoice, renewal), at
// the clock's time; subscriptions on real time and on other clocks are left alone, and the
// real-time job never touches a clock's subscriptions. Production environments refuse clocks.

const T0 = Date.parse("2027-03-10T12:00:00Z");
const DAY = 86_400_000;
/** iso is how the API writes a time: ISO 8601 in UTC. */
const iso = (ms: number) => new Date(ms).toISOString();

const PLAN = {
  key: "clocked",
  name: "Clocked",
  interval: "month",
  currency: "EUR",
  fixedFee: "30.00",
  trialDays: 3,
  charges: [{ meter: "requests", model: "per_unit", unitPrice: "0.10" }],
};

describeEachEngine("billing test clocks", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  const clock = new TestClock(T0);
  let tenant: string;
  let other: string;

  async function call(token: string, method: string, url: string, body?: unknown) {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return { status: res.statusCode, body: res.json() as Json };
  }
  const sk = () => p.a.secretKey;
  const audit = async (prefix: string) =>
    (
      await t.app.db.kysely
        .selectFrom("audit_entry")
        .select("action")
        .where("environment_id", "=", p.a.id)
        .where("action", "like", `${prefix}%`)
        .orderBy("seq")
        .execute()
    ).map((r) => r.action as string);
  /** advance moves the clock and runs its job as a worker would; the clock is ready after. */
  async function advance(id: string, to: number) {
    const res = await call(sk(), "POST", `/v1/billing/test-clocks/${id}/advance`, { frozenTime: to });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ status: "advancing", frozenTime: iso(to) });
    await runDueJobs(t);
    const after = await call(sk(), "GET", `/v1/billing/test-clocks/${id}`);
    expect(after.body).toMatchObject({ status: "ready", frozenTime: iso(to) });
  }

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
    tenant = (await call(sk(), "POST", "/v1/tenants", { name: "On the clock" })).body.id as string;
    other = (await call(sk(), "POST", "/v1/tenants", { name: "Real time" })).body.id as string;
    expect(
      (
        await call(sk(), "POST", "/v1/usage/meters", {
          key: "requests",
          eventType: "api.request",
          aggregation: "count",
        })
      ).status,
    ).toBe(201);
    expect((await call(sk(), "POST", "/v1/billing/plans", PLAN)).status).toBe(201);
  });
  afterAll(async () => t?.close());

  it("is refused in a production environment, and creates nothing", async () => {
    await t.app.db.kysely
      .updateTable("environment")
      .set({ production: t.app.db.bool(true) })
      .where("id", "=", p.a.id)
      .execute();
    try {
      const res = await call(sk(), "POST", "/v1/billing/test-clocks", { name: "nope" });
      expect(res.status).toBe(422);
      expect(res.body.code).toBe("test_clocks_not_in_production");
      expect((await call(sk(), "GET", "/v1/billing/test-clocks")).body.data).toEqual([]);
    } finally {
      await t.app.db.kysely
        .updateTable("environment")
        .set({ production: t.app.db.bool(false) })
        .where("id", "=", p.a.id)
        .execute();
    }
  });

  it("runs a trial, a period end with its invoice and a renewal at the clock's time; real time is untouched", async () => {
    // The clock starts 34 days back, so the period's usage can still be reported (35 days at most).
    const start = T0 - 34 * DAY;
    const created = await call(sk(), "POST", "/v1/billing/test-clocks", { name: "March run", frozenTime: start });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    expect(id).toMatch(/^tclk_/);
    expect(created.body).toMatchObject({ status: "ready", frozenTime: iso(start), tenants: 0 });
    expect((await call(sk(), "POST", `/v1/billing/test-clocks/${id}/tenants`, { tenantId: tenant })).body.tenants).toBe(
      1,
    );

    const sub = await call(sk(), "POST", "/v1/billing/subscriptions", { tenantId: tenant, plan: "clocked" });
    expect(sub.status, JSON.stringify(sub.body)).toBe(201);
    const subId = sub.body.id as string;
    const trialEnd = start + 3 * DAY;
    expect(sub.body).toMatchObject({
      status: "trialing",
      testClockId: id,
      currentPeriodStart: iso(start),
      trialEnd: iso(trialEnd),
    });
    // A subscription on real time, due by real time: the clock's advance never touches it.
    const real = await call(sk(), "POST", "/v1/billing/subscriptions", { tenantId: other, plan: "clocked" });
    expect(real.body).toMatchObject({
      status: "trialing",
      testClockId: null,
      currentPeriodStart: new Date(T0).toISOString(),
    });

    // Real time is far past the clock's trial end: the real-time job leaves the clock's subscription alone.
    const billing = t.app.service(billingModule);
    expect(await billing.subscriptions.advanceDue()).toBe(0);
    expect((await call(sk(), "GET", `/v1/billing/subscriptions/${subId}`)).body.status).toBe("trialing");

    await advance(id, trialEnd + 60_000);
    const active = (await call(sk(), "GET", `/v1/billing/subscriptions/${subId}`)).body;
    expect(active).toMatchObject({ status: "active", currentPeriodStart: iso(trialEnd) });
    const periodEnd = Date.parse(active.currentPeriodEnd as string);
    expect(periodEnd).toBe(Date.parse("2027-03-07T12:00:00Z"));

    // Usage inside the clock's first paid period.
    const events = Array.from({ length: 7 }, (_, i) => ({
      id: `r${i}`,
      type: "api.request",
      subject: tenant,
      time: new Date(trialEnd + (i + 1) * DAY).toISOString(),
      data: {},
    }));
    expect((await call(sk(), "POST", "/v1/usage/events/batch", { events })).status).toBe(200);

    // One minute short of the period end: nothing is invoiced yet.
    await advance(id, periodEnd - 60_000);
    expect((await call(sk(), "GET", `/v1/billing/invoices?tenantId=${tenant}`)).body.data).toEqual([]);

    await advance(id, periodEnd + 5 * 60_000);
    const invoices = (await call(sk(), "GET", `/v1/billing/invoices?tenantId=${tenant}`)).body.data as Json[];
    expect(invoices).toHaveLength(1);
    expect(invoices[0]).toMatchObject({
      periodStart: iso(trialEnd),
      periodEnd: iso(periodEnd),
      finalizedAt: new Date(periodEnd + 5 * 60_000).toISOString(),
      currency: "EUR",
      total: 3000 + 70,
    });
    const renewed = (await call(sk(), "GET", `/v1/billing/subscriptions/${subId}`)).body;
    expect(renewed).toMatchObject({ status: "active", currentPeriodStart: iso(periodEnd) });
    // Real time's subscription is still in its trial (its trial ends at T0 + 3 days).
    expect((await call(sk(), "GET", `/v1/billing/subscriptions/${real.body.id}`)).body.status).toBe("trialing");

    // (The attachment is in the tenant's audit chain, the rest in the environment's.)
    expect((await audit("test_clock.")).sort()).toEqual(
      [
        "test_clock.created",
        "test_clock.tenant_attached",
        "test_clock.advanced",
        "test_clock.ready",
        "test_clock.advanced",
        "test_clock.ready",
        "test_clock.advanced",
        "test_clock.ready",
      ].sort(),
    );
    const facts = await t.app.db.kysely
      .selectFrom("audit_entry")
      .select("action")
      .where("environment_id", "=", p.a.id)
      .where("tenant_id", "=", tenant)
      .where("action", "in", ["subscription.trial_ended", "invoice.finalized", "subscription.renewed"])
      .orderBy("seq")
      .execute();
    expect(facts.map((f) => f.action)).toEqual([
      "subscription.trial_ended",
      "invoice.finalized",
      "subscription.renewed",
    ]);

    // A canceled-now subscription ends at the clock's time, its fee prorated to it.
    const cancelAt = periodEnd + 10 * DAY;
    await advance(id, cancelAt);
    const canceled = await call(sk(), "POST", `/v1/billing/subscriptions/${subId}/cancel`, { atPeriodEnd: false });
    expect(canceled.body).toMatchObject({ status: "canceled", canceledAt: iso(cancelAt) });
    const last = (await call(sk(), "GET", `/v1/billing/invoices?tenantId=${tenant}`)).body.data as Json[];
    expect(last[0]).toMatchObject({
      periodStart: iso(periodEnd),
      periodEnd: iso(cancelAt),
      finalizedAt: iso(cancelAt),
    });

    // Now without a live subscription, the tenant may leave the clock, and the empty clock may go.
    expect((await call(sk(), "POST", `/v1/billing/test-clocks/${id}/detach`, { tenantId: tenant })).status).toBe(200);
    expect((await call(sk(), "DELETE", `/v1/billing/test-clocks/${id}`)).status).toBe(200);
    expect((await call(sk(), "GET", `/v1/billing/test-clocks/${id}`)).status).toBe(404);
  });

  it("moves forward only, at most two years at once; refuses tenant moves that would split a subscription's time", async () => {
    const c = await call(sk(), "POST", "/v1/billing/test-clocks", { name: "rules", frozenTime: T0 });
    const id = c.body.id as string;
    const before = await audit("test_clock.advanced");
    for (const [to, code] of [
      [T0, "test_clock_backwards"],
      [T0 - DAY, "test_clock_backwards"],
      [T0 + 800 * DAY, "test_clock_backwards"],
    ] as const) {
      const res = await call(sk(), "POST", `/v1/billing/test-clocks/${id}/advance`, { frozenTime: to });
      expect(res.status).toBe(422);
      expect(res.body.code).toBe(code);
    }
    for (const body of [{}, { frozenTime: "soon" }, { frozenTime: 1.5 }, { frozenTime: T0 + DAY, extra: 1 }]) {
      expect((await call(sk(), "POST", `/v1/billing/test-clocks/${id}/advance`, body)).status).toBe(400);
    }
    expect(await audit("test_clock.advanced")).toEqual(before);
    expect((await call(sk(), "GET", `/v1/billing/test-clocks/${id}`)).body).toMatchObject({
      frozenTime: new Date(T0).toISOString(),
    });

    // `other` has a live subscription on real time: it cannot move to a clock.
    const moved = await call(sk(), "POST", `/v1/billing/test-clocks/${id}/tenants`, { tenantId: other });
    expect(moved.status).toBe(409);
    expect(moved.body.code).toBe("tenant_on_test_clock");
    // A tenant is on one clock at most.
    const fresh = (await call(sk(), "POST", "/v1/tenants", { name: "Fresh" })).body.id as string;
    expect((await call(sk(), "POST", `/v1/billing/test-clocks/${id}/tenants`, { tenantId: fresh })).status).toBe(200);
    const second = (await call(sk(), "POST", "/v1/billing/test-clocks", { name: "second" })).body.id as string;
    const twice = await call(sk(), "POST", `/v1/billing/test-clocks/${second}/tenants`, { tenantId: fresh });
    expect(twice.status).toBe(409);
    // The subscription the tenant starts keeps the clock: it cannot leave while it is live, and the
    // clock cannot be deleted under it.
    expect((await call(sk(), "POST", "/v1/billing/subscriptions", { tenantId: fresh, plan: "clocked" })).status).toBe(
      201,
    );
    const leave = await call(sk(), "POST", `/v1/billing/test-clocks/${id}/detach`, { tenantId: fresh });
    expect(leave.status).toBe(409);
    expect((await call(sk(), "POST", `/v1/billing/test-clocks/${second}/detach`, { tenantId: fresh })).status).toBe(
      404,
    );
    const inUse = await call(sk(), "DELETE", `/v1/billing/test-clocks/${id}`);
    expect(inUse.status).toBe(409);
    expect(inUse.body.code).toBe("test_clock_in_use");
  });

  it("is invisible from another environment and to tenant keys", async () => {
    const id = (await call(sk(), "POST", "/v1/billing/test-clocks", { name: "mine" })).body.id as string;
    const b = p.b.secretKey;
    for (const [method, url, body] of [
      ["GET", `/v1/billing/test-clocks/${id}`],
      ["POST", `/v1/billing/test-clocks/${id}/advance`, { frozenTime: T0 + DAY }],
      ["POST", `/v1/billing/test-clocks/${id}/tenants`, { tenantId: tenant }],
      ["DELETE", `/v1/billing/test-clocks/${id}`],
    ] as const) {
      const res = await call(b, method, url, body);
      expect(res.status, `${method} ${url}`).toBe(404);
    }
    expect(((await call(b, "GET", "/v1/billing/test-clocks")).body.data as Json[]).map((c) => c.id)).not.toContain(id);
    const key = (await call(sk(), "POST", `/v1/tenants/${tenant}/keys`, { name: "k", permissions: ["*"] })).body
      .token as string;
    expect((await call(key, "POST", `/v1/billing/test-clocks/${id}/advance`, { frozenTime: T0 + DAY })).status).toBe(
      403,
    );
    expect((await call(sk(), "GET", `/v1/billing/test-clocks/${id}`)).body).toMatchObject({
      frozenTime: new Date(T0).toISOString(),
    });
  });

  it("runs periods on the wall clock of the tenant's time zone, fixed when the subscription starts", async () => {
    const ny = (await call(sk(), "POST", "/v1/tenants", { name: "New York", timeZone: "America/New_York" })).body
      .id as string;
    const sub = await call(sk(), "POST", "/v1/billing/subscriptions", { tenantId: ny, plan: "clocked" });
    expect(sub.status, JSON.stringify(sub.body)).toBe(201);
    // T0 is 07:00 EST on Mar 10; the 3-day trial ends on Mar 13 at 07:00, still EST.
    expect(sub.body).toMatchObject({ timeZone: "America/New_York", trialEnd: iso(T0 + 3 * DAY) });
    // The first paid month runs to Apr 13 07:00 EDT: 11:00Z, not 12:00Z as in UTC.
    clock.set(T0 + 3 * DAY);
    try {
      expect(await t.app.service(billingModule).subscriptions.advanceDue()).toBeGreaterThanOrEqual(1);
      const active = (await call(sk(), "GET", `/v1/billing/subscriptions/${sub.body.id}`)).body;
      expect(active).toMatchObject({
        status: "active",
        currentPeriodStart: iso(T0 + 3 * DAY),
        currentPeriodEnd: new Date("2027-04-13T11:00:00Z").toISOString(),
      });
      // A later change of the tenant's zone does not move the running subscription's periods.
      expect((await call(sk(), "PATCH", `/v1/tenants/${ny}`, { timeZone: "Asia/Tokyo" })).status).toBe(200);
      expect((await call(sk(), "GET", `/v1/billing/subscriptions/${sub.body.id}`)).body.timeZone).toBe(
        "America/New_York",
      );
    } finally {
      clock.set(T0);
    }
  });

  it("takes an unpaid invoice through past due and suspension at the clock's time; a payment restores", async () => {
    const start = T0 - 34 * DAY;
    const id = (await call(sk(), "POST", "/v1/billing/test-clocks", { name: "dunning", frozenTime: start })).body
      .id as string;
    const late = (await call(sk(), "POST", "/v1/tenants", { name: "Late payer" })).body.id as string;
    expect((await call(sk(), "POST", `/v1/billing/test-clocks/${id}/tenants`, { tenantId: late })).status).toBe(200);
    const sub = (await call(sk(), "POST", "/v1/billing/subscriptions", { tenantId: late, plan: "clocked" })).body;
    const trialEnd = Date.parse(sub.trialEnd as string);
    await advance(id, trialEnd + 60_000);
    const periodEnd = Date.parse(
      (await call(sk(), "GET", `/v1/billing/subscriptions/${sub.id}`)).body.currentPeriodEnd as string,
    );
    await advance(id, periodEnd + 60_000);
    const invoice = ((await call(sk(), "GET", `/v1/billing/invoices?tenantId=${late}`)).body.data as Json[])[0] as Json;
    // Due at finalization (the clock's time) plus the net terms.
    expect(Date.parse(String(invoice.dueAt))).toBe(periodEnd + 60_000 + t.app.config.billing.netTermsDays * DAY);
    const state = async () => (await call(sk(), "GET", `/v1/tenants/${late}`)).body.state;
    const status = async () => (await call(sk(), "GET", `/v1/billing/subscriptions/${sub.id}`)).body.status;

    // Real time's dunning pass leaves the clock's subscription alone, however late it is in real time.
    await t.app.service(billingModule).dunning.runDue();
    expect(await status()).toBe("active");

    await advance(id, Date.parse(invoice.dueAt as string) + 60_000);
    expect(await status()).toBe("past_due");
    expect(await state()).toBe("active");
    await advance(id, Date.parse(invoice.dueAt as string) + (t.app.config.billing.graceDays + 1) * DAY);
    expect(await state()).toBe("suspended");

    const paid = await call(sk(), "POST", `/v1/billing/invoices/${invoice.id}/payments`, {
      processor: "bank",
      reference: `wire-${id}`,
      amount: invoice.total,
      currency: invoice.currency,
    });
    expect(paid.status, JSON.stringify(paid.body)).toBe(201);
    expect(await status()).toBe("active");
    expect(await state()).toBe("active");
  });

  it("expires a clock tenant's credit grants and holds at the clock's time, never at real time", async () => {
    const id = (await call(sk(), "POST", "/v1/billing/test-clocks", { name: "credits", frozenTime: T0 })).body
      .id as string;
    const holder = (await call(sk(), "POST", "/v1/tenants", { name: "Credit holder" })).body.id as string;
    expect((await call(sk(), "POST", `/v1/billing/test-clocks/${id}/tenants`, { tenantId: holder })).status).toBe(200);
    const grant = await call(sk(), "POST", "/v1/billing/credits/grants", {
      tenantId: holder,
      unit: "tokens",
      amount: 1000,
      expiresAt: T0 + 10 * DAY,
    });
    expect(grant.status, JSON.stringify(grant.body)).toBe(201);
    const hold = await call(sk(), "POST", "/v1/billing/credits/holds", {
      tenantId: holder,
      unit: "tokens",
      amount: 100,
      ttlSeconds: 3600,
    });
    expect(hold.status, JSON.stringify(hold.body)).toBe(201);
    const balance = async () =>
      ((await call(sk(), "GET", `/v1/billing/credits/wallets?tenantId=${holder}`)).body.data as Json[])[0]?.balance;
    expect(await balance()).toBe(900);

    // Real time runs 20 days ahead: the clock's tenant keeps its credits (its time has not come).
    clock.set(T0 + 20 * DAY);
    try {
      await t.app.service(billingModule).credits.expireDue();
      expect(await balance()).toBe(900);
      expect((await call(sk(), "GET", `/v1/billing/credits/holds/${hold.body.id}`)).body.status).toBe("open");
    } finally {
      clock.set(T0);
    }
    // Two hours on the clock: the hold lapses (its 100 back); eleven days: the grant expires.
    await advance(id, T0 + 2 * 3_600_000);
    expect((await call(sk(), "GET", `/v1/billing/credits/holds/${hold.body.id}`)).body.status).toBe("expired");
    expect(await balance()).toBe(1000);
    await advance(id, T0 + 11 * DAY);
    expect(await balance()).toBe(0);
    const entries = await t.app.db.kysely
      .selectFrom("billing_credit_entry")
      .select(["kind", "amount"])
      .where("tenant_id", "=", holder)
      .execute();
    expect(entries.reduce((sum, e) => sum + Number(e.amount), 0)).toBe(0);
    expect(entries.filter((e) => e.kind === "expire").map((e) => Number(e.amount))).toEqual([-1000]);
  });
});
