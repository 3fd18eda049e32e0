import { afterAll, beforeAll, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { billingModule } from "./index.js";

type Json = Record<string, unknown>;

// Upgrades, downgrades and cancellations mid-period: the period so far is invoiced on the old
// version with its fixed fee prorated by the minute, the rest of the period on the new one; a
// change to another interval waits for the period end and re-anchors the periods there; the
// entitlements follow the version in the same transaction.

const at = (iso: string) => Date.parse(iso);

describeEachEngine("billing plan changes", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let tenant: string;
  let sub: string;
  const clock = new TestClock(at("2027-04-01T00:00:00Z"));

  async function call(method: string, url: string, body?: unknown) {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: { authorization: `Bearer ${p.a.secretKey}` },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return { status: res.statusCode, body: res.json() as Json };
  }
  const calls = async (n: number, prefix: string) => {
    const events = Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, type: "api.call", subject: tenant }));
    expect((await call("POST", "/v1/usage/events/batch", { events })).status).toBe(200);
  };
  const enabled = async () => {
    const res = await call("GET", `/v1/tenants/${tenant}/entitlements`);
    return Object.fromEntries((res.body.data as Json[]).map((e) => [e.feature, e.enabled]));
  };
  const invoices = async () => {
    const res = await call("GET", `/v1/billing/invoices?subscriptionId=${sub}`);
    return (res.body.data as Json[]).reverse();
  };

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
    tenant = (await call("POST", "/v1/tenants", { name: "Acme" })).body.id as string;
    expect(
      (await call("POST", "/v1/usage/meters", { key: "calls", eventType: "api.call", aggregation: "count" })).status,
    ).toBe(201);
    const plan = (key: string, interval: string, fixedFee: string, unitPrice: string, features: string[]) =>
      call("POST", "/v1/billing/plans", {
        key,
        name: key,
        interval,
        currency: "USD",
        fixedFee,
        charges: unitPrice ? [{ meter: "calls", model: "per_unit", unitPrice }] : [],
        entitlements: features.map((feature) => ({ feature })),
      });
    expect((await plan("basic", "month", "30.00", "0.01", ["sso", "export"])).status).toBe(201);
    expect((await plan("plus", "month", "90.00", "0.005", ["sso", "audit"])).status).toBe(201);
    expect((await plan("annual", "year", "300.00", "", [])).status).toBe(201);
  });
  afterAll(async () => t?.close());

  it("an upgrade at once invoices the period so far on the old version, prorated by the minute", async () => {
    const res = await call("POST", "/v1/billing/subscriptions", { tenantId: tenant, plan: "basic" });
    sub = res.body.id as string;
    clock.advance(60_000);
    await calls(10, "a");
    clock.set(at("2027-04-11T00:00:30Z"));
    const changed = await call("POST", `/v1/billing/subscriptions/${sub}/change`, { plan: "plus" });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    expect(changed.body).toMatchObject({
      currentPeriodStart: "2027-04-11T00:00:00.000Z",
      currentPeriodEnd: "2027-05-01T00:00:00.000Z",
      pendingPlanVersionId: null,
    });
    const [first] = await invoices();
    // 10 of 30 days of 30.00 = 10.00, and 10 calls × 0.01.
    expect(first).toMatchObject({
      periodStart: "2027-04-01T00:00:00.000Z",
      periodEnd: "2027-04-11T00:00:00.000Z",
      total: 1010,
    });
    expect(((first as Json).lines as Json[])[0]).toMatchObject({
      description: "Fixed fee (month), prorated: 14400 of 43200 minutes",
      total: 1000,
    });
    expect(await enabled()).toEqual({ audit: true, export: false, sso: true });
  });

  it("another interval waits for the period end; there the periods re-anchor", async () => {
    const refused = await call("POST", `/v1/billing/subscriptions/${sub}/change`, { plan: "annual" });
    expect(refused.status).toBe(422);
    expect(refused.body.code).toBe("interval_change_at_period_end");
    await calls(20, "b");
    const scheduled = await call("POST", `/v1/billing/subscriptions/${sub}/change`, {
      plan: "annual",
      atPeriodEnd: true,
    });
    expect(scheduled.body.pendingPlanVersionId).toMatch(/^plv_/);
    clock.set(at("2027-05-01T00:01:00Z"));
    expect(await t.app.service(billingModule).subscriptions.advanceDue()).toBe(1);
    const second = (await invoices())[1];
    // 20 of 30 days of 90.00 = 60.00, and 20 calls × 0.005.
    expect(second).toMatchObject({ periodStart: "2027-04-11T00:00:00.000Z", total: 6010 });
    const now = await call("GET", `/v1/billing/subscriptions/${sub}`);
    expect(now.body).toMatchObject({
      planVersionId: scheduled.body.pendingPlanVersionId,
      pendingPlanVersionId: null,
      anchor: "2027-05-01T00:00:00.000Z",
      currentPeriodStart: "2027-05-01T00:00:00.000Z",
      currentPeriodEnd: "2028-05-01T00:00:00.000Z",
    });
    expect(await enabled()).toEqual({ audit: false, export: false, sso: false });
  });

  it("canceling at once invoices the period so far; numbers stay gap-free; every step is audited", async () => {
    clock.set(at("2027-07-01T00:00:20Z"));
    const res = await call("POST", `/v1/billing/subscriptions/${sub}/cancel`, { atPeriodEnd: false });
    expect(res.body).toMatchObject({ status: "canceled", canceledAt: "2027-07-01T00:00:00.000Z" });
    const all = await invoices();
    // 61 of 366 days (Feb 29, 2028 is in the year) of 300.00 = 50.00.
    expect(all.map((i) => [i.number, i.total])).toEqual([
      ["INV-2027-000001", 1010],
      ["INV-2027-000002", 6010],
      ["INV-2027-000003", 5000],
    ]);
    const audit = await t.app.db.kysely
      .selectFrom("audit_entry")
      .select("action")
      .where("tenant_id", "=", tenant)
      .where((eb) => eb.or([eb("action", "like", "subscription.%"), eb("action", "like", "invoice.%")]))
      .orderBy("seq")
      .execute();
    expect(audit.map((a) => a.action)).toEqual([
      "subscription.created",
      "invoice.finalized",
      "subscription.plan_changed",
      "subscription.change_scheduled",
      "invoice.finalized",
      "subscription.plan_changed",
      "subscription.renewed",
      "invoice.finalized",
      "subscription.canceled",
    ]);
  });
});
