import { afterAll, beforeAll, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { billingModule } from "./index.js";

type Json = Record<string, unknown>;

// Prepaid money credits pay invoices at finalization, in the finalization's transaction: as much
// as the balance covers, recorded as a payment of the processor `credits`; an overpayment of an
// invoice becomes credit that the next invoice consumes. The ledger and the invoices agree.

const T0 = Date.parse("2027-05-03T09:00:00Z");
const DAY = 86_400_000;

describeEachEngine("billing credits pay invoices", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  const clock = new TestClock(T0);

  async function call(method: string, url: string, body?: unknown) {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: { authorization: `Bearer ${p.a.secretKey}` },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return { status: res.statusCode, body: res.json() as Json };
  }
  const invoices = async (tenant: string) =>
    ((await call("GET", `/v1/billing/invoices?tenantId=${tenant}`)).body.data as Json[]).sort(
      (a, b) => Date.parse(a.periodStart as string) - Date.parse(b.periodStart as string),
    );
  const balance = async (tenant: string) => {
    const wallets = (await call("GET", `/v1/billing/credits/wallets?tenantId=${tenant}`)).body.data as Json[];
    return wallets.find((w) => w.unit === "USD")?.balance ?? 0;
  };
  /** endPeriod moves the plane a month on and ends every due period, as the recurring job does. */
  const endPeriod = async () => {
    clock.set(clock.now() + 31 * DAY);
    await t.app.service(billingModule).subscriptions.advanceDue();
  };

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
    const plan = { key: "basic", name: "Basic", interval: "month", currency: "USD", fixedFee: "49.00" };
    expect((await call("POST", "/v1/billing/plans", plan)).status).toBe(201);
  });
  afterAll(async () => t?.close());

  it("pays what the balance covers at finalization; an overpayment is consumed by the next invoice", async () => {
    const tenant = (await call("POST", "/v1/tenants", { name: "Prepaid" })).body.id as string;
    const grant = await call("POST", "/v1/billing/credits/grants", {
      tenantId: tenant,
      unit: "USD",
      amount: 1000,
      source: "top_up",
    });
    expect(grant.status, JSON.stringify(grant.body)).toBe(201);
    expect((await call("POST", "/v1/billing/subscriptions", { tenantId: tenant, plan: "basic" })).status).toBe(201);

    await endPeriod();
    const [first] = await invoices(tenant);
    expect(first).toMatchObject({ total: 4900, amountPaid: 1000, amountDue: 3900, status: "finalized" });
    expect(await balance(tenant)).toBe(0);
    const paidBy = (await call("GET", `/v1/billing/invoices/${first?.id}/payments`)).body.data as Json[];
    expect(paidBy).toEqual([
      expect.objectContaining({ processor: "credits", reference: first?.id, amount: 1000, applied: 1000 }),
    ]);

    // The tenant pays 60.00 for 39.00 owed: 21.00 becomes credit.
    const paid = await call("POST", `/v1/billing/invoices/${first?.id}/payments`, {
      processor: "stripe",
      reference: "pi_over",
      amount: 6000,
      currency: "USD",
    });
    expect(paid.status, JSON.stringify(paid.body)).toBe(201);
    expect(paid.body).toMatchObject({ applied: 3900, overpaid: 2100 });
    expect(await balance(tenant)).toBe(2100);

    await endPeriod();
    const second = (await invoices(tenant))[1];
    expect(second).toMatchObject({ total: 4900, amountPaid: 2100, amountDue: 2800 });
    expect(await balance(tenant)).toBe(0);

    // Enough credit pays an invoice in full: it is `paid` at finalization.
    await call("POST", "/v1/billing/credits/grants", { tenantId: tenant, unit: "USD", amount: 10_000 });
    await endPeriod();
    const third = (await invoices(tenant))[2];
    expect(third).toMatchObject({ total: 4900, amountPaid: 4900, amountDue: 0, status: "paid" });
    expect(await balance(tenant)).toBe(5100);

    // Every balance is the ledger's sum.
    const entries = await t.app.db.kysely
      .selectFrom("billing_credit_entry")
      .select("amount")
      .where("tenant_id", "=", tenant)
      .execute();
    expect(entries.reduce((s, e) => s + Number(e.amount), 0)).toBe(5100);
  });

  it("reserves the processor name `credits` for the plane", async () => {
    const tenant = (await call("POST", "/v1/tenants", { name: "Reserved" })).body.id as string;
    await call("POST", "/v1/billing/subscriptions", { tenantId: tenant, plan: "basic" });
    await endPeriod();
    const [invoice] = await invoices(tenant);
    const res = await call("POST", `/v1/billing/invoices/${invoice?.id}/payments`, {
      processor: "credits",
      reference: "x",
      amount: 100,
      currency: "USD",
    });
    expect(res.status).toBe(400);
    expect((await call("GET", `/v1/billing/invoices/${invoice?.id}`)).body.amountPaid).toBe(0);
  });
});
