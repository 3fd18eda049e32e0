import { afterAll, beforeAll, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { runDueJobs } from "../../testing/webhook-receiver.js";
import { billingModule } from "./index.js";

type Json = Record<string, unknown>;

// The past-due path, driven by the durable recurring job: an invoice unpaid at its due date makes
// its subscription past due; past the grace period the tenant is suspended for billing (402 on
// writes, reads open); paying what is overdue makes the subscription active and the tenant active
// again — but never a tenant an operator suspended for another reason. Each step with its audit
// entries and events; a step lost between the billing and tenancy transactions is done next pass.

const T0 = Date.parse("2027-05-10T12:00:00Z");
const DAY = 86_400_000;
const MIN = 60_000;

describeEachEngine("billing dunning", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  const clock = new TestClock(T0);
  let n = 0;

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
  const audit = async (tenantId: string) =>
    (
      await t.app.db.kysely
        .selectFrom("audit_entry")
        .select(["action", "actor_type", "actor_id"])
        .where("tenant_id", "=", tenantId)
        .where((eb) =>
          eb.or([
            eb("action", "like", "subscription.%"),
            eb("action", "like", "tenant.%"),
            eb("action", "like", "invoice.%"),
          ]),
        )
        .where("action", "not in", ["subscription.created", "subscription.renewed", "tenant.created"])
        .orderBy("seq")
        .execute()
    ).map((r) => `${r.action} by ${r.actor_type}:${r.actor_id}`);
  const events = async (tenantId: string) =>
    (
      await t.app.db.kysely
        .selectFrom("event")
        .select("type")
        .where("tenant_id", "=", tenantId)
        .where("type", "in", [
          "subscription.past_due",
          "subscription.reactivated",
          "tenant.suspended",
          "tenant.reactivated",
        ])
        .orderBy("id")
        .execute()
    ).map((e) => e.type as string);
  /** tick runs the recurring jobs due at the clock's time, as the workers would. */
  async function tick() {
    await t.app.jobs.enqueueDueSchedules();
    while ((await runDueJobs(t)) > 0) {}
  }
  const tenantOf = async (id: string) => (await call(sk(), "GET", `/v1/tenants/${id}`)).body;
  const subscriptionOf = async (id: string) => (await call(sk(), "GET", `/v1/billing/subscriptions/${id}`)).body;

  /** overdueTenant: a tenant with a key, subscribed to `pro`, whose first invoice was finalized now. */
  async function overdueTenant() {
    const tenant = (await call(sk(), "POST", "/v1/tenants", { name: `Dunned ${++n}` })).body.id as string;
    const key = (await call(sk(), "POST", `/v1/tenants/${tenant}/keys`, { name: "k", permissions: ["*"] })).body
      .token as string;
    const sub = (await call(sk(), "POST", "/v1/billing/subscriptions", { tenantId: tenant, plan: "pro" })).body
      .id as string;
    const now = new Date(clock.now());
    const anchor = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, now.getUTCDate(), now.getUTCHours());
    await t.app.db.kysely
      .updateTable("billing_subscription")
      .set({ anchor, period_index: 0, current_period_start: anchor, current_period_end: clock.now() })
      .where("id", "=", sub)
      .execute();
    expect(await t.app.service(billingModule).subscriptions.advance(sub)).toBe(true);
    const invoice = ((await call(sk(), "GET", `/v1/billing/invoices?subscriptionId=${sub}`)).body.data as Json[])[0];
    expect(invoice).toMatchObject({
      status: "finalized",
      total: 10_000,
      dueAt: new Date(clock.now() + 30 * DAY).toISOString(),
    });
    return { tenant, key, sub, invoice: invoice as Json };
  }
  /** write is a write the tenant's own key makes (reporting its usage). */
  const write = (key: string, tenant: string) =>
    call(key, "POST", "/v1/usage/events", { id: `w${++n}`, type: "api.call", subject: tenant });
  const pay = (invoice: Json, amount: number, reference: string) =>
    call(sk(), "POST", `/v1/billing/invoices/${invoice.id}/payments`, {
      processor: "stripe",
      reference,
      amount,
      currency: "USD",
    });

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
    expect(
      (await call(sk(), "POST", "/v1/usage/meters", { key: "calls", eventType: "api.call", aggregation: "count" }))
        .status,
    ).toBe(201);
    const plan = await call(sk(), "POST", "/v1/billing/plans", {
      key: "pro",
      name: "Pro",
      interval: "month",
      currency: "USD",
      fixedFee: "100.00",
    });
    expect(plan.status).toBe(201);
    await t.app.jobs.enqueueDueSchedules(); // the schedules' first slot
  });
  /** done cancels the test's subscriptions, so their later invoices are nobody's business. */
  async function done(...subs: string[]) {
    for (const sub of subs) {
      const res = await call(sk(), "POST", `/v1/billing/subscriptions/${sub}/cancel`, { atPeriodEnd: false });
      expect(res.status).toBe(200);
    }
  }
  afterAll(async () => t?.close());

  it("past due at the due date, suspended for billing past the grace, active again once paid", async () => {
    clock.set(T0);
    const { tenant, key, sub, invoice } = await overdueTenant();
    const due = Date.parse(invoice.dueAt as string);
    clock.set(due - MIN);
    await tick();
    expect(await subscriptionOf(sub)).toMatchObject({ status: "active" });
    clock.set(due);
    await tick();
    expect(await subscriptionOf(sub)).toMatchObject({ status: "past_due" });
    expect(await tenantOf(tenant)).toMatchObject({ state: "active" });
    expect((await write(key, tenant)).status).toBe(200);
    // BASEPLATE_BILLING_GRACE_DAYS (7 by default): one minute short of it, nothing more happens.
    clock.set(due + 7 * DAY - MIN);
    await tick();
    expect(await tenantOf(tenant)).toMatchObject({ state: "active" });
    clock.set(due + 7 * DAY);
    await tick();
    expect(await tenantOf(tenant)).toMatchObject({ state: "suspended", stateCategory: "billing" });
    expect((await write(key, tenant)).status).toBe(402);
    expect((await call(key, "GET", `/v1/billing/invoices/${invoice.id}`)).status).toBe(200);
    // A part paid: still overdue, still suspended.
    expect((await pay(invoice, 4000, "pi_part")).status).toBe(201);
    expect(await subscriptionOf(sub)).toMatchObject({ status: "past_due" });
    expect(await tenantOf(tenant)).toMatchObject({ state: "suspended" });
    const paid = await pay(invoice, 6000, "pi_rest");
    expect(paid.body).toMatchObject({ invoice: { status: "paid", amountDue: 0 } });
    expect(await subscriptionOf(sub)).toMatchObject({ status: "active" });
    expect(await tenantOf(tenant)).toMatchObject({ state: "active", stateCategory: null });
    expect((await write(key, tenant)).status).toBe(200);
    await tick();
    expect(await tenantOf(tenant)).toMatchObject({ state: "active" });
    const system = "system:billing";
    const service = `service:${(await t.app.db.kysely.selectFrom("audit_entry").select("actor_id").where("action", "=", "payment.recorded").where("tenant_id", "=", tenant).executeTakeFirstOrThrow()).actor_id}`;
    expect(await audit(tenant)).toEqual([
      `invoice.finalized by ${system}`,
      `subscription.past_due by ${system}`,
      // The next month's invoice (due 30 days later: not overdue when the first one is paid).
      `invoice.finalized by ${system}`,
      `tenant.suspended by ${system}`,
      `invoice.paid by ${service}`,
      `subscription.reactivated by ${service}`,
      `tenant.reactivated by ${system}`,
    ]);
    expect(await events(tenant)).toEqual([
      "subscription.past_due",
      "tenant.suspended",
      "subscription.reactivated",
      "tenant.reactivated",
    ]);
    const pastDue = await t.app.db.kysely
      .selectFrom("event")
      .select("data")
      .where("tenant_id", "=", tenant)
      .where("type", "=", "subscription.past_due")
      .executeTakeFirstOrThrow();
    const data = typeof pastDue.data === "string" ? JSON.parse(pastDue.data) : pastDue.data;
    expect(data).toEqual({ invoices: [invoice.number], pastDueSince: new Date(due).toISOString() });
    await done(sub);
  });

  it("voiding or crediting the overdue invoice also restores the tenant", async () => {
    clock.set(T0 + 100 * DAY);
    const a = await overdueTenant();
    const b = await overdueTenant();
    clock.set(Date.parse(a.invoice.dueAt as string) + 8 * DAY);
    await tick();
    for (const x of [a, b]) expect(await tenantOf(x.tenant)).toMatchObject({ state: "suspended" });
    expect((await call(sk(), "POST", `/v1/billing/invoices/${a.invoice.id}/void`)).status).toBe(200);
    expect((await call(sk(), "POST", `/v1/billing/invoices/${b.invoice.id}/credit-notes`, {})).status).toBe(201);
    for (const x of [a, b]) {
      expect(await tenantOf(x.tenant)).toMatchObject({ state: "active" });
      expect(await subscriptionOf(x.sub)).toMatchObject({ status: "active" });
    }
    await done(a.sub, b.sub);
  });

  it("never reactivates a tenant an operator suspended for another reason", async () => {
    clock.set(T0 + 200 * DAY);
    const before = await overdueTenant();
    const during = await overdueTenant();
    // Suspended by an operator before dunning reached it: dunning leaves it as it is.
    await call(sk(), "POST", `/v1/tenants/${before.tenant}/suspend`, { reason: "abuse", category: "other" });
    clock.set(Date.parse(before.invoice.dueAt as string) + 8 * DAY);
    await tick();
    expect(await subscriptionOf(before.sub)).toMatchObject({ status: "past_due" });
    expect(await tenantOf(before.tenant)).toMatchObject({ state: "suspended", stateCategory: "other" });
    expect(await tenantOf(during.tenant)).toMatchObject({ state: "suspended", stateCategory: "billing" });
    // Suspended by dunning, then re-suspended by an operator for another reason.
    await call(sk(), "POST", `/v1/tenants/${during.tenant}/reactivate`, {});
    await call(sk(), "POST", `/v1/tenants/${during.tenant}/suspend`, { reason: "abuse", category: "other" });
    for (const x of [before, during]) {
      expect((await pay(x.invoice, 10_000, `pi_${x.tenant}`)).status).toBe(201);
      expect(await subscriptionOf(x.sub)).toMatchObject({ status: "active" });
      expect(await tenantOf(x.tenant)).toMatchObject({ state: "suspended", stateCategory: "other" });
    }
    await tick();
    for (const x of [before, during]) expect(await tenantOf(x.tenant)).toMatchObject({ state: "suspended" });
    expect(await audit(before.tenant)).not.toContain("tenant.reactivated by system:billing");
    await done(before.sub, during.sub);
  });

  it("a step lost between the billing and the tenancy transaction is done by the next pass", async () => {
    clock.set(T0 + 300 * DAY);
    const x = await overdueTenant();
    clock.set(Date.parse(x.invoice.dueAt as string) + 8 * DAY);
    const dunning = t.app.service(billingModule).dunning;
    // Marked past due and for suspension, but the process died before the tenant's transition.
    expect(await dunning.markPastDue(x.sub)).toBe(true);
    await t.app.db.kysely
      .updateTable("billing_subscription")
      .set({ suspended_tenant_at: clock.now() })
      .where("id", "=", x.sub)
      .execute();
    expect(await tenantOf(x.tenant)).toMatchObject({ state: "active" });
    expect(await dunning.runDue()).toEqual({ pastDue: 0, suspended: 1, restored: 0 });
    expect(await tenantOf(x.tenant)).toMatchObject({ state: "suspended", stateCategory: "billing" });
    // Paid and active again, but the process died before the tenant's reactivation.
    await t.app.db.kysely
      .updateTable("billing_invoice")
      .set({ status: "paid", amount_paid: 10_000, paid_at: clock.now() })
      .where("id", "=", x.invoice.id as string)
      .execute();
    await t.app.db.kysely
      .updateTable("billing_subscription")
      .set({ status: "active" })
      .where("id", "=", x.sub)
      .execute();
    expect(await dunning.runDue()).toEqual({ pastDue: 0, suspended: 0, restored: 1 });
    expect(await tenantOf(x.tenant)).toMatchObject({ state: "active" });
    expect(await dunning.runDue()).toEqual({ pastDue: 0, suspended: 0, restored: 0 });
  });
});
