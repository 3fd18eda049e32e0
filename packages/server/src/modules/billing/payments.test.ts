import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { billingModule } from "./index.js";
import { taxOf } from "./internal/tax.js";
import { LATE_CUTOFF_MARGIN_MS } from "./service/late-usage.js";

type Json = Record<string, unknown>;

// After finalization: a tenant's tax rate on its invoices (rounded once, half to even), due dates,
// payments recorded once per processor reference (partial, full, over), voids, credit notes (in
// full and by line, numbered gap-free, never past the invoice's total), each with its facts, and
// 50 racing payments or credit notes against one invoice never counting twice.

const T0 = Date.parse("2027-03-01T09:00:00Z");
const DAY = 86_400_000;

describe("taxOf", () => {
  it("rounds the tax once, half to even, in the currency's minor units", () => {
    expect(taxOf(10_000, "8.25", "USD")).toBe(825);
    expect(taxOf(10_000, "0.125", "USD")).toBe(12); // 0.125 USD → 12 cents
    expect(taxOf(10_000, "0.135", "USD")).toBe(14); // 0.135 USD → 14 cents
    expect(taxOf(333, "10", "JPY")).toBe(33); // 33.3 yen
    expect(taxOf(12_345, "19", "KWD")).toBe(2346); // 2.34555 KWD → 2.346
    expect(taxOf(0, "20", "EUR")).toBe(0);
  });
});

describeEachEngine("billing payments", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  const clock = new TestClock(T0);
  let tenantA: string;
  let tenantB: string;
  let keyA: string;
  let keyB: string;
  let tenants = 0;

  async function call(token: string, method: string, url: string, body?: unknown, headers: Json = {}) {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: { authorization: `Bearer ${token}`, ...(headers as Record<string, string>) },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return { status: res.statusCode, body: res.json() as Json };
  }
  const sk = () => p.a.secretKey;
  const actions = async (tenantId: string, prefix: string) => {
    const rows = await t.app.db.kysely
      .selectFrom("audit_entry")
      .select("action")
      .where("tenant_id", "=", tenantId)
      .where("action", "like", `${prefix}%`)
      .orderBy("seq")
      .execute();
    return rows.map((r) => r.action as string);
  };
  const events = async (type: string) =>
    (await t.app.db.kysely.selectFrom("event").select("data").where("type", "=", type).execute()).map(
      (e) => (typeof e.data === "string" ? JSON.parse(e.data) : e.data) as Json,
    );

  /** invoiceOf subscribes a fresh tenant of environment A to `plan` and finalizes its first period now. */
  async function invoiceOf(plan: string, tenantId?: string): Promise<Json> {
    const tenant = tenantId ?? ((await call(sk(), "POST", "/v1/tenants", { name: `T${++tenants}` })).body.id as string);
    const sub = await call(sk(), "POST", "/v1/billing/subscriptions", { tenantId: tenant, plan });
    expect(sub.status, JSON.stringify(sub.body)).toBe(201);
    await endPeriodNow(sub.body.id as string);
    const list = await call(sk(), "GET", `/v1/billing/invoices?subscriptionId=${sub.body.id}`);
    const invoice = (list.body.data as Json[])[0] as Json;
    expect(invoice).toBeDefined();
    return invoice;
  }
  /** endPeriodNow makes a subscription's whole first month end now, and ends it (as the job would). */
  async function endPeriodNow(subscriptionId: string): Promise<void> {
    const now = new Date(clock.now());
    const anchor = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, now.getUTCDate(), now.getUTCHours());
    await t.app.db.kysely
      .updateTable("billing_subscription")
      .set({ anchor, period_index: 0, current_period_start: anchor, current_period_end: clock.now() })
      .where("id", "=", subscriptionId)
      .execute();
    expect(await t.app.service(billingModule).subscriptions.advance(subscriptionId)).toBe(true);
  }
  const pay = (invoice: Json, amount: number, reference: string, extra: Json = {}) =>
    call(sk(), "POST", `/v1/billing/invoices/${invoice.id}/payments`, {
      processor: "stripe",
      reference,
      amount,
      currency: "USD",
      ...extra,
    });

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
    tenantA = (await call(sk(), "POST", "/v1/tenants", { name: "Acme" })).body.id as string;
    tenantB = (await call(sk(), "POST", "/v1/tenants", { name: "Beta" })).body.id as string;
    keyA = (await call(sk(), "POST", `/v1/tenants/${tenantA}/keys`, { name: "k", permissions: ["*"] })).body
      .token as string;
    keyB = (await call(sk(), "POST", `/v1/tenants/${tenantB}/keys`, { name: "k", permissions: ["*"] })).body
      .token as string;
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
      charges: [{ meter: "calls", model: "per_unit", unitPrice: "0.50" }],
    });
    expect(plan.status, JSON.stringify(plan.body)).toBe(201);
  });
  afterAll(async () => t?.close());

  describe("taxes", () => {
    it("keeps a tax rate per tenant: read by its own key, set by the secret key, audited", async () => {
      const url = `/v1/billing/tenants/${tenantA}/settings`;
      expect((await call(keyA, "GET", url)).body).toEqual({
        tenantId: tenantA,
        taxRate: "0",
        billingName: null,
        billingEmail: null,
        updatedAt: null,
      });
      for (const bad of [{ taxRate: "101" }, { taxRate: "8.123456" }, { taxRate: 8.25 }, { taxRate: "-1" }]) {
        expect((await call(sk(), "PATCH", url, bad)).status, JSON.stringify(bad)).toBe(400);
      }
      const set = await call(sk(), "PATCH", url, { taxRate: "8.25", billingEmail: "billing@acme.test" });
      expect(set.status, JSON.stringify(set.body)).toBe(200);
      expect(set.body).toMatchObject({ taxRate: "8.25", billingEmail: "billing@acme.test", billingName: null });
      expect((await call(keyA, "GET", url)).body).toMatchObject({ taxRate: "8.25" });
      expect(await actions(tenantA, "billing_settings.")).toEqual(["billing_settings.updated"]);
      // Another tenant's key, another environment's key: 404; a tenant key does not set its own rate.
      expect((await call(keyB, "GET", url)).status).toBe(404);
      expect((await call(p.b.secretKey, "GET", url)).status).toBe(404);
      expect((await call(keyA, "PATCH", url, { taxRate: "0" })).status).toBe(403);
    });

    it("the preview and the finalized invoice carry the rate, the tax on the subtotal and the total", async () => {
      const sub = await call(sk(), "POST", "/v1/billing/subscriptions", { tenantId: tenantA, plan: "pro" });
      expect(sub.status).toBe(201);
      await call(sk(), "POST", "/v1/usage/events/batch", {
        events: [1, 2, 3].map((i) => ({ id: `a${i}`, type: "api.call", subject: tenantA })),
      });
      const preview = await call(keyA, "GET", `/v1/billing/subscriptions/${sub.body.id}/preview`);
      // 100.00 + 3 × 0.50 = 101.50; 8.25 % of it is 8.37375 → 8.37.
      expect(preview.body).toMatchObject({ subtotal: 10150, taxRate: "8.25", tax: 837, total: 10987 });
      clock.advance(DAY - 9 * 3_600_000); // 2027-03-02T00:00Z: whole hours, like the anchor
      await endPeriodNow(sub.body.id as string);
      const invoice = (
        (await call(keyA, "GET", `/v1/billing/invoices?subscriptionId=${sub.body.id}`)).body.data as Json[]
      )[0] as Json;
      expect(invoice).toMatchObject({
        status: "finalized",
        subtotal: 10150,
        taxRate: "8.25",
        tax: 837,
        total: 10987,
        amountPaid: 0,
        amountCredited: 0,
        amountDue: 10987,
        dueAt: new Date(clock.now() + 30 * DAY).toISOString(), // BASEPLATE_BILLING_NET_TERMS_DAYS default
        paidAt: null,
        voidedAt: null,
      });
      // A later rate applies to later invoices; a finalized invoice keeps its own.
      await call(sk(), "PATCH", `/v1/billing/tenants/${tenantA}/settings`, { taxRate: "20" });
      expect((await call(keyA, "GET", `/v1/billing/invoices/${invoice.id}`)).body).toMatchObject({ tax: 837 });
      await call(sk(), "PATCH", `/v1/billing/tenants/${tenantA}/settings`, { taxRate: "0" });
      await call(sk(), "POST", `/v1/billing/subscriptions/${sub.body.id}/cancel`, { atPeriodEnd: false });
    });
  });

  describe("payments", () => {
    it("partial, then full: amountPaid and amountDue follow; paid once nothing is left", async () => {
      const invoice = await invoiceOf("pro");
      expect(invoice).toMatchObject({ total: 10000, amountDue: 10000 });
      const first = await pay(invoice, 4000, "pi_1");
      expect(first.status, JSON.stringify(first.body)).toBe(201);
      expect(first.body).toMatchObject({
        processor: "stripe",
        reference: "pi_1",
        amount: 4000,
        applied: 4000,
        overpaid: 0,
        invoice: { status: "finalized", amountPaid: 4000, amountDue: 6000 },
      });
      expect(first.body.id).toMatch(/^pay_/);
      // The processor's webhook again: the same payment, counted once.
      const replay = await pay(invoice, 4000, "pi_1");
      expect(replay.body).toMatchObject({ id: first.body.id, invoice: { amountPaid: 4000, amountDue: 6000 } });
      // The same reference with another amount, or for another invoice, is refused.
      expect((await pay(invoice, 4001, "pi_1")).body.code).toBe("payment_reference_conflict");
      expect((await pay(await invoiceOf("pro"), 4000, "pi_1")).status).toBe(409);
      // Another processor may use the same reference.
      expect((await pay(invoice, 1000, "pi_1", { processor: "paddle" })).status).toBe(201);
      expect((await pay(invoice, 1000, "pi_x", { currency: "EUR" })).body.code).toBe("currency_mismatch");
      const last = await pay(invoice, 5000, "pi_2");
      expect(last.body).toMatchObject({ applied: 5000, overpaid: 0, invoice: { status: "paid", amountDue: 0 } });
      const got = await call(sk(), "GET", `/v1/billing/invoices/${invoice.id}`);
      expect(got.body).toMatchObject({
        status: "paid",
        amountPaid: 10000,
        amountDue: 0,
        paidAt: new Date(clock.now()).toISOString(),
      });
      const tenant = invoice.tenantId as string;
      expect(await actions(tenant, "payment.")).toEqual(["payment.recorded", "payment.recorded", "payment.recorded"]);
      expect(await actions(tenant, "invoice.")).toEqual(["invoice.finalized", "invoice.paid"]);
      const list = await call(sk(), "GET", `/v1/billing/invoices/${invoice.id}/payments`);
      expect((list.body.data as Json[]).map((x) => [x.processor, x.reference, x.applied])).toEqual([
        ["stripe", "pi_1", 4000],
        ["paddle", "pi_1", 1000],
        ["stripe", "pi_2", 5000],
      ]);
    });

    it("an overpayment is applied up to the amount due; the excess is kept on the payment and reported", async () => {
      const invoice = await invoiceOf("pro");
      const res = await pay(invoice, 12_500, "pi_over");
      expect(res.body).toMatchObject({ applied: 10_000, overpaid: 2500, invoice: { status: "paid", amountDue: 0 } });
      // A late payment of a paid invoice is recorded, all of it overpaid.
      const late = await pay(invoice, 300, "pi_late");
      expect(late.body).toMatchObject({ applied: 0, overpaid: 300, invoice: { status: "paid", amountPaid: 10_000 } });
      const recorded = (await events("payment.recorded")).filter((d) => d.invoiceId === invoice.id);
      expect(recorded.map((d) => [d.applied, d.overpaid])).toEqual([
        [10_000, 2500],
        [0, 300],
      ]);
    });

    it("honours Idempotency-Key: the same key answers the stored response", async () => {
      const invoice = await invoiceOf("pro");
      const headers = { "idempotency-key": "pay-once" };
      const body = { processor: "stripe", reference: "pi_idem", amount: 2500, currency: "USD" };
      const url = `/v1/billing/invoices/${invoice.id}/payments`;
      const a = await call(sk(), "POST", url, body, headers);
      const b = await call(sk(), "POST", url, body, headers);
      expect(a.status).toBe(201);
      expect(b.body).toEqual(a.body);
      expect((await call(sk(), "POST", url, { ...body, amount: 1 }, headers)).status).toBe(422);
      expect((await call(sk(), "GET", `/v1/billing/invoices/${invoice.id}`)).body.amountPaid).toBe(2500);
    });

    it("another tenant's or environment's invoice answers 404; tenant keys do not record payments", async () => {
      const invoice = await invoiceOf("pro", tenantB);
      const url = `/v1/billing/invoices/${invoice.id}/payments`;
      const body = { processor: "stripe", reference: "pi_iso", amount: 1, currency: "USD" };
      expect((await call(p.b.secretKey, "POST", url, body)).status).toBe(404);
      expect((await call(p.b.secretKey, "GET", url)).status).toBe(404);
      expect((await call(keyA, "GET", url)).status).toBe(404);
      expect((await call(keyB, "GET", url)).status).toBe(200);
      expect((await call(keyB, "POST", url, body)).status).toBe(403);
      expect((await call(sk(), "GET", `/v1/billing/invoices/in_nope/payments`)).status).toBe(404);
      expect((await call(sk(), "GET", `/v1/billing/invoices/${invoice.id}`)).body.amountPaid).toBe(0);
      await call(sk(), "POST", `/v1/billing/invoices/${invoice.id}/void`);
    });

    it("50 racing payments against one invoice: applied exactly up to the total, never counted twice", async () => {
      const invoice = await invoiceOf("pro");
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => pay(invoice, 300, `pi_race_${i}`)));
      expect(results.map((r) => r.status)).toEqual(Array(50).fill(201));
      const applied = results.reduce((sum, r) => sum + (r.body.applied as number), 0);
      const overpaid = results.reduce((sum, r) => sum + (r.body.overpaid as number), 0);
      expect(applied).toBe(10_000);
      expect(overpaid).toBe(50 * 300 - 10_000);
      const got = await call(sk(), "GET", `/v1/billing/invoices/${invoice.id}`);
      expect(got.body).toMatchObject({ status: "paid", amountPaid: 10_000, amountDue: 0 });
      const stored = await t.app.db.kysely
        .selectFrom("billing_payment")
        .select(["applied"])
        .where("invoice_id", "=", invoice.id as string)
        .execute();
      expect(stored).toHaveLength(50);
      expect(stored.reduce((s, r) => s + Number(r.applied), 0)).toBe(10_000);
      expect(await actions(invoice.tenantId as string, "invoice.paid")).toEqual(["invoice.paid"]);
      // The same 50 references replayed at once: nothing more is recorded.
      const replays = await Promise.all(Array.from({ length: 50 }, (_, i) => pay(invoice, 300, `pi_race_${i}`)));
      expect(replays.map((r) => r.status)).toEqual(Array(50).fill(201));
      expect(new Set(replays.map((r) => r.body.id))).toEqual(new Set(results.map((r) => r.body.id)));
      expect(
        await t.app.db.kysely
          .selectFrom("billing_payment")
          .select("id")
          .where("invoice_id", "=", invoice.id as string)
          .execute(),
      ).toHaveLength(50);
    });
  });

  describe("void", () => {
    it("voids a finalized unpaid invoice; refuses a paid, partly paid or void one", async () => {
      const invoice = await invoiceOf("pro");
      const res = await call(sk(), "POST", `/v1/billing/invoices/${invoice.id}/void`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toMatchObject({ status: "void", amountDue: 0, voidedAt: new Date(clock.now()).toISOString() });
      expect(await actions(invoice.tenantId as string, "invoice.")).toEqual(["invoice.finalized", "invoice.voided"]);
      expect((await call(sk(), "POST", `/v1/billing/invoices/${invoice.id}/void`)).body.code).toBe(
        "invoice_not_voidable",
      );
      expect((await pay(invoice, 100, "pi_void")).body.code).toBe("invoice_not_payable");
      const paid = await invoiceOf("pro");
      await pay(paid, 10_000, "pi_paid");
      const refused = await call(sk(), "POST", `/v1/billing/invoices/${paid.id}/void`);
      expect(refused.status).toBe(422);
      expect(refused.body.code).toBe("invoice_not_voidable");
      const partly = await invoiceOf("pro");
      await pay(partly, 1, "pi_partly");
      expect((await call(sk(), "POST", `/v1/billing/invoices/${partly.id}/void`)).status).toBe(422);
      expect((await call(keyB, "POST", `/v1/billing/invoices/${partly.id}/void`)).status).toBe(403);
      expect((await call(p.b.secretKey, "POST", `/v1/billing/invoices/${partly.id}/void`)).status).toBe(404);
    });
  });

  describe("credit notes", () => {
    let usageInvoice: Json;

    beforeAll(async () => {
      const tenant = (await call(sk(), "POST", "/v1/tenants", { name: "Credited" })).body.id as string;
      await call(sk(), "PATCH", `/v1/billing/tenants/${tenant}/settings`, { taxRate: "10" });
      const sub = await call(sk(), "POST", "/v1/billing/subscriptions", { tenantId: tenant, plan: "pro" });
      await call(sk(), "POST", "/v1/usage/events/batch", {
        events: Array.from({ length: 10 }, (_, i) => ({
          id: `c${i}`,
          type: "api.call",
          subject: tenant,
          time: new Date(clock.now() - 3_600_000).toISOString(),
        })),
      });
      // Usage received within the cut-off margin before a finalization is billed on the next invoice.
      clock.advance(2 * LATE_CUTOFF_MARGIN_MS);
      await endPeriodNow(sub.body.id as string);
      usageInvoice = (
        (await call(sk(), "GET", `/v1/billing/invoices?subscriptionId=${sub.body.id}`)).body.data as Json[]
      )[0] as Json;
      // Lines: the fixed fee 10000 and 10 calls × 0.50 = 500; tax 10 % = 1050; total 11550.
      expect(usageInvoice).toMatchObject({ subtotal: 10_500, tax: 1050, total: 11_550 });
    });

    it("credits a line up to what is left of it, the tax following; numbered CN-YYYY-NNNNNN", async () => {
      const url = `/v1/billing/invoices/${usageInvoice.id}/credit-notes`;
      const one = await call(sk(), "POST", url, { reason: "outage", lines: [{ line: 1, amount: 200 }] });
      expect(one.status, JSON.stringify(one.body)).toBe(201);
      expect(one.body).toMatchObject({
        number: "CN-2027-000001",
        kind: "lines",
        lines: [{ line: 1, amount: 200 }],
        subtotal: 200,
        tax: 20,
        total: 220,
        creditedToDue: 220,
        refund: 0,
      });
      expect((await call(sk(), "POST", url, { lines: [{ line: 1, amount: 301 }] })).body.code).toBe(
        "credit_exceeds_invoice",
      );
      expect((await call(sk(), "POST", url, { lines: [{ line: 7, amount: 1 }] })).body.code).toBe(
        "invoice_not_creditable",
      );
      expect((await call(sk(), "POST", url, { lines: [{ line: 0, amount: 0 }] })).status).toBe(400);
      const got = await call(sk(), "GET", `/v1/billing/invoices/${usageInvoice.id}`);
      expect(got.body).toMatchObject({ amountCredited: 220, amountDue: 11_330, status: "finalized" });
      // Half paid, then credited in full: what was owed is credited, the rest is a refund.
      await pay(usageInvoice, 5000, "pi_cn");
      const full = await call(sk(), "POST", url, { reason: "goodwill" });
      expect(full.body).toMatchObject({
        number: "CN-2027-000002",
        kind: "full",
        lines: [
          { line: 0, amount: 10_000 },
          { line: 1, amount: 300 },
        ],
        subtotal: 10_300,
        tax: 1030,
        total: 11_330,
        creditedToDue: 6330,
        refund: 5000,
      });
      const after = await call(sk(), "GET", `/v1/billing/invoices/${usageInvoice.id}`);
      expect(after.body).toMatchObject({ status: "paid", amountPaid: 5000, amountCredited: 11_550, amountDue: 0 });
      // Nothing is left to credit.
      expect((await call(sk(), "POST", url, {})).body.code).toBe("credit_exceeds_invoice");
      const tenant = usageInvoice.tenantId as string;
      expect(await actions(tenant, "credit_note.")).toEqual(["credit_note.created", "credit_note.created"]);
      expect(await actions(tenant, "invoice.")).toEqual(["invoice.finalized", "invoice.paid"]);
      const listed = await call(sk(), "GET", `/v1/billing/credit-notes?invoiceId=${usageInvoice.id}`);
      expect((listed.body.data as Json[]).map((n) => n.number)).toEqual(["CN-2027-000002", "CN-2027-000001"]);
      const read = await call(sk(), "GET", `/v1/billing/credit-notes/${one.body.id}`);
      expect(read.body).toEqual(one.body);
      expect((await call(keyA, "GET", `/v1/billing/credit-notes/${one.body.id}`)).status).toBe(404);
      expect((await call(p.b.secretKey, "GET", `/v1/billing/credit-notes/${one.body.id}`)).status).toBe(404);
      expect((await call(p.b.secretKey, "POST", url, {})).status).toBe(404);
    });

    it("a credit note on a paid invoice is a refund; a void invoice is not credited", async () => {
      const paid = await invoiceOf("pro");
      await pay(paid, 10_000, "pi_refund");
      const note = await call(sk(), "POST", `/v1/billing/invoices/${paid.id}/credit-notes`, {
        lines: [{ line: 0, amount: 2500 }],
      });
      expect(note.body).toMatchObject({ total: 2500, creditedToDue: 0, refund: 2500 });
      const v = await invoiceOf("pro");
      await call(sk(), "POST", `/v1/billing/invoices/${v.id}/void`);
      expect((await call(sk(), "POST", `/v1/billing/invoices/${v.id}/credit-notes`, {})).body.code).toBe(
        "invoice_not_creditable",
      );
    });

    it("50 racing credit notes never credit past the invoice's total; numbers stay gap-free", async () => {
      const invoice = await invoiceOf("pro");
      const before = await t.app.db.kysely.selectFrom("billing_credit_note").select("number").execute();
      const results = await Promise.all(
        Array.from({ length: 50 }, () =>
          call(sk(), "POST", `/v1/billing/invoices/${invoice.id}/credit-notes`, { lines: [{ line: 0, amount: 300 }] }),
        ),
      );
      const won = results.filter((r) => r.status === 201);
      expect(won).toHaveLength(33); // 33 × 300 = 9900 ≤ 10000 < 34 × 300
      expect(results.filter((r) => r.status !== 201).map((r) => r.body.code)).toEqual(
        Array(17).fill("credit_exceeds_invoice"),
      );
      const got = await call(sk(), "GET", `/v1/billing/invoices/${invoice.id}`);
      expect(got.body).toMatchObject({ amountCredited: 9900, amountDue: 100, status: "finalized" });
      const numbers = (await t.app.db.kysely.selectFrom("billing_credit_note").select("number").execute())
        .map((n) => n.number as string)
        .sort();
      expect(numbers).toEqual(
        Array.from({ length: before.length + 33 }, (_, i) => `CN-2027-${String(i + 1).padStart(6, "0")}`),
      );
    });
  });
});
