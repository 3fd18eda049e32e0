import { afterAll, beforeAll, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import type { SignedReview } from "../review/schemas.js";
import { billingModule } from "./index.js";

type Json = Record<string, unknown>;
type Part = SignedReview["report"]["topics"][number]["parts"][number];

// The billing module's parts of the review report: the plans and subscriptions (a tenant's report:
// its own subscriptions only), the period's invoices by status and currency with the same figures
// the API answers, the reconciliation checks (which fail on an invoice that does not add up or
// does not match its payments), and the past-due path.

const T0 = Date.parse("2027-03-10T12:00:00Z");
const MIN = 60_000;
const DAY = 86_400_000;

describeEachEngine("billing review parts", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  const clock = new TestClock(T0);
  let tenantA: string;
  let tenantB: string;
  let tenantC: string;
  let keyA: string;
  const subs = {} as Record<"a" | "b" | "c", string>;
  const invoices = {} as Record<"a" | "b" | "c", Json>;

  async function call(token: string, method: string, url: string, body?: unknown) {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300);
    return res.json() as Json;
  }
  const sk = () => p.a.secretKey;
  const list = async (token: string, url: string) =>
    (await call(token, "GET", `${url}${url.includes("?") ? "&" : "?"}limit=100`)).data as Json[];
  async function part(name: string, token = sk(), url = "/v1/review"): Promise<Part> {
    const signed = (await call(token, "GET", url)) as unknown as SignedReview;
    const found = signed.report.topics.flatMap((x) => x.parts).find((x) => x.name === name);
    expect(found, name).toBeDefined();
    expect(signed.report.topics.find((x) => x.parts.includes(found as Part))?.topic).toBe("usageBilling");
    return found as Part;
  }
  /** invoiceFigures computes the part's invoice figures from the API's invoices, written in [since, now]. */
  function invoiceFigures(all: Json[], periodDays: number): Json {
    const now = clock.now();
    const inPeriod = all.filter((i) => {
      const created = Date.parse(i.createdAt as string);
      return created >= now - periodDays * DAY && created <= now;
    });
    const out: Json = {
      "invoices.issued": inPeriod.length,
      "invoices.open": inPeriod.filter((i) => i.status === "finalized").length,
      "invoices.paid": inPeriod.filter((i) => i.status === "paid").length,
      "invoices.void": inPeriod.filter((i) => i.status === "void").length,
    };
    for (const i of inPeriod) {
      const code = i.currency as string;
      out[`invoices.total.${code}`] =
        ((out[`invoices.total.${code}`] as number) ?? 0) + (i.status === "void" ? 0 : (i.total as number));
      out[`invoices.due.${code}`] = ((out[`invoices.due.${code}`] as number) ?? 0) + (i.amountDue as number);
    }
    out["invoices.overdue"] = all.filter(
      (i) => i.status === "finalized" && (i.amountDue as number) > 0 && Date.parse(i.dueAt as string) <= now,
    ).length;
    return out;
  }
  const subscriptionFigures = async (url: string) => ({
    "subscriptions.trialing": (await list(sk(), `${url}?status=trialing`)).length,
    "subscriptions.active": (await list(sk(), `${url}?status=active`)).length,
    "subscriptions.pastDue": (await list(sk(), `${url}?status=past_due`)).length,
    "subscriptions.canceled": (await list(sk(), `${url}?status=canceled`)).length,
  });
  /** endPeriod makes a subscription's period [a month ago, now) due, then ends it as the recurring job does. */
  async function endPeriod(sub: string) {
    const now = new Date(clock.now());
    const anchor = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, now.getUTCDate(), now.getUTCHours());
    await t.app.db.kysely
      .updateTable("billing_subscription")
      .set({ anchor, period_index: 0, current_period_start: anchor, current_period_end: clock.now() })
      .where("id", "=", sub)
      .execute();
    expect(await t.app.service(billingModule).subscriptions.advance(sub)).toBe(true);
    return (await list(sk(), `/v1/billing/invoices?subscriptionId=${sub}`))[0] as Json;
  }

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
    tenantA = (await call(sk(), "POST", "/v1/tenants", { name: "Acme" })).id as string;
    tenantB = (await call(sk(), "POST", "/v1/tenants", { name: "Beta" })).id as string;
    tenantC = (await call(sk(), "POST", "/v1/tenants", { name: "Gamma" })).id as string;
    keyA = (await call(sk(), "POST", `/v1/tenants/${tenantA}/keys`, { name: "reviewer", permissions: ["*"] }))
      .token as string;
    await call(sk(), "POST", "/v1/usage/meters", { key: "calls", eventType: "api.call", aggregation: "count" });
    const pro = { interval: "month", currency: "USD", fixedFee: "100.00" };
    const charges = [{ meter: "calls", model: "per_unit", unitPrice: "0.50" }];
    await call(sk(), "POST", "/v1/billing/plans", { key: "pro", name: "Pro", ...pro });
    await call(sk(), "POST", "/v1/billing/plans/pro/versions", { ...pro, fixedFee: "120.00", charges });
    await call(sk(), "POST", "/v1/billing/plans", {
      key: "eu",
      name: "Europe",
      interval: "month",
      currency: "EUR",
      fixedFee: "20.00",
      charges: [
        {
          meter: "calls",
          model: "graduated",
          tiers: [
            { upTo: "1000", unitPrice: "0" },
            { upTo: null, unitPrice: "0.01" },
          ],
        },
      ],
    });
    await call(sk(), "POST", "/v1/billing/plans", { key: "old", name: "Old", interval: "year", currency: "USD" });
    await call(sk(), "POST", "/v1/billing/plans/old/archive");
    const v1 = ((await call(sk(), "GET", "/v1/billing/plans/pro/versions")).data as Json[])[0] as Json;
    subs.a = (await call(sk(), "POST", "/v1/billing/subscriptions", { tenantId: tenantA, plan: "pro" })).id as string;
    subs.b = (await call(sk(), "POST", "/v1/billing/subscriptions", { tenantId: tenantB, plan: "eu" })).id as string;
    subs.c = (
      await call(sk(), "POST", "/v1/billing/subscriptions", { tenantId: tenantC, plan: "pro", planVersionId: v1.id })
    ).id as string;
    await call(sk(), "POST", "/v1/usage/events/batch", {
      events: [1, 2, 3].map((n) => ({
        id: `call-${n}`,
        type: "api.call",
        subject: tenantA,
        time: new Date(clock.now()).toISOString(),
      })),
    });
    // Five minutes on: the events are before the invoices' received-time cut-off.
    clock.set(T0 + 5 * MIN);
    invoices.a = await endPeriod(subs.a);
    invoices.b = await endPeriod(subs.b);
    await call(sk(), "POST", `/v1/billing/subscriptions/${subs.c}/cancel`, { atPeriodEnd: false });
    invoices.c = (await list(sk(), `/v1/billing/invoices?subscriptionId=${subs.c}`))[0] as Json;
    // A: open, part credited; B: paid; C: void.
    await call(sk(), "POST", `/v1/billing/invoices/${invoices.a.id}/credit-notes`, {
      reason: "goodwill",
      lines: [{ line: 0, amount: 1000 }],
    });
    await call(sk(), "POST", `/v1/billing/invoices/${invoices.b.id}/payments`, {
      processor: "stripe",
      reference: "pi_b",
      amount: invoices.b.total,
      currency: "EUR",
    });
    await call(sk(), "POST", `/v1/billing/invoices/${invoices.c.id}/void`);
  });
  afterAll(async () => t?.close());

  it("billing.plans: the live plans' current versions and the subscriptions by status, as the API answers", async () => {
    const plans = await part("billing.plans");
    const live = await list(sk(), "/v1/billing/plans");
    const archived = await list(sk(), "/v1/billing/plans?archived=true");
    const figures = {
      "plans.live": live.length,
      "plans.archived": archived.length,
      "plans.meteredCharges": live.reduce(
        (n, plan) => n + ((plan.currentVersion as Json).charges as unknown[]).length,
        0,
      ),
      ...(await subscriptionFigures("/v1/billing/subscriptions")),
    };
    expect(plans.figures).toEqual(figures);
    expect(figures).toMatchObject({
      "plans.live": 2,
      "plans.archived": 1,
      "plans.meteredCharges": 2,
      "subscriptions.active": 2,
      "subscriptions.canceled": 1,
    });
    const table = plans.blocks.find((b) => b.kind === "table");
    expect(table).toMatchObject({
      rows: [
        ["eu", "Europe", "EUR", "month", 1, "20.00", 1, "calls", "graduated", 1],
        ["pro", "Pro", "USD", "month", 2, "120.00", 1, "calls", "per_unit", 1],
      ],
      more: 0,
    });
  });

  it("billing.invoices: the period's invoices by status and currency, as the API answers, reconciled", async () => {
    const part1 = await part("billing.invoices");
    const all = await list(sk(), "/v1/billing/invoices");
    expect(all).toHaveLength(3);
    expect(invoices.a).toMatchObject({ total: 12_150 });
    expect(part1.figures).toEqual({
      ...invoiceFigures(all, 30),
      "invoices.unbalanced": 0,
      "invoices.unreconciled": 0,
      "dunning.suspendedTenants": 0,
    });
    expect(part1.figures).toMatchObject({
      "invoices.issued": 3,
      "invoices.open": 1,
      "invoices.paid": 1,
      "invoices.void": 1,
      // C's invoice is void: not invoiced. A's is credited 10.00 of its 121.50.
      "invoices.total.USD": 12_150,
      "invoices.due.USD": 11_150,
      "invoices.total.EUR": 2_000,
      "invoices.due.EUR": 0,
      "invoices.overdue": 0,
    });
    const checks = part1.blocks.filter((b) => b.kind === "check");
    expect(checks.map((c) => c.ok)).toEqual([true, true]);
    expect(part1.blocks.find((b) => b.kind === "table")).toMatchObject({
      rows: [
        ["EUR", 1, "20.00", "20.00", "0.00", "0.00"],
        ["USD", 2, "121.50", "0.00", "10.00", "111.50"],
      ],
    });
  });

  it("the checks fail on an invoice that does not add up, or that its payments do not match", async () => {
    await t.app.db.kysely
      .updateTable("billing_invoice")
      .set({ subtotal: 12_100, total: 12_100 })
      .where("id", "=", invoices.a.id as string)
      .execute();
    await t.app.db.kysely
      .updateTable("billing_invoice")
      .set({ amount_paid: 1_999 })
      .where("id", "=", invoices.b.id as string)
      .execute();
    try {
      const broken = await part("billing.invoices");
      expect(broken.figures).toMatchObject({ "invoices.unbalanced": 1, "invoices.unreconciled": 1 });
      const [sums, settlements] = broken.blocks.filter((b) => b.kind === "check") as Array<{
        ok: boolean;
        detail: string;
      }>;
      expect(sums?.ok).toBe(false);
      expect(sums?.detail).toContain(invoices.a.number as string);
      expect(sums?.detail).not.toContain(invoices.b.number as string);
      // B: marked paid with 19.99 of its 20.00 payment. A's payments and credit notes still agree.
      expect(settlements?.ok).toBe(false);
      expect(settlements?.detail).toContain(invoices.b.number as string);
      expect(settlements?.detail).not.toContain(invoices.a.number as string);
    } finally {
      await t.app.db.kysely
        .updateTable("billing_invoice")
        .set({ subtotal: invoices.a.subtotal as number, total: invoices.a.total as number })
        .where("id", "=", invoices.a.id as string)
        .execute();
      await t.app.db.kysely
        .updateTable("billing_invoice")
        .set({ amount_paid: invoices.b.total as number })
        .where("id", "=", invoices.b.id as string)
        .execute();
    }
    expect((await part("billing.invoices")).figures).toMatchObject({
      "invoices.unbalanced": 0,
      "invoices.unreconciled": 0,
    });
  });

  it("a tenant's report shows only its own subscriptions and invoices", async () => {
    const url = `/v1/tenants/${tenantA}/review`;
    const plans = await part("billing.plans", keyA, url);
    expect(plans.figures).toEqual(await subscriptionFigures(`/v1/tenants/${tenantA}/billing/subscriptions`));
    expect(plans.figures).toMatchObject({ "subscriptions.active": 1, "subscriptions.canceled": 0 });
    const rows = (plans.blocks.find((b) => b.kind === "table") as { rows: unknown[][] }).rows;
    expect(rows.map((r) => r.slice(0, 5))).toEqual([[subs.a, "pro", 2, "USD", "active"]]);
    const own = await part("billing.invoices", keyA, url);
    expect(own.figures).toEqual({
      ...invoiceFigures(await list(keyA, `/v1/tenants/${tenantA}/billing/invoices`), 30),
      "invoices.unbalanced": 0,
      "invoices.unreconciled": 0,
      "dunning.suspendedTenants": 0,
    });
    expect(own.figures).toMatchObject({ "invoices.issued": 1, "invoices.total.USD": 12_150 });
    expect(own.figures["invoices.total.EUR"]).toBeUndefined();
    const text = JSON.stringify([plans, own]);
    for (const other of [tenantB, tenantC, subs.b, subs.c, invoices.b.number, invoices.c.number, "eu"]) {
      expect(text).not.toContain(`"${other}"`);
    }
    expect(text).not.toContain(invoices.b.number as string);
  });

  it("past the due date and the grace: the overdue invoice, the past-due subscription, the suspended tenant", async () => {
    const due = Date.parse(invoices.a.dueAt as string);
    clock.set(due + 7 * DAY + MIN);
    const pass = await t.app.service(billingModule).dunning.runDue();
    expect(pass).toMatchObject({ pastDue: 1, suspended: 1 });
    expect(await call(sk(), "GET", `/v1/tenants/${tenantA}`)).toMatchObject({
      state: "suspended",
      stateCategory: "billing",
    });
    // The invoices were written more than 30 days ago: out of the default period, in a 60-day one.
    const recent = await part("billing.invoices");
    const all = await list(sk(), "/v1/billing/invoices");
    expect(recent.figures).toEqual({
      ...invoiceFigures(all, 30),
      "invoices.unbalanced": 0,
      "invoices.unreconciled": 0,
      "dunning.suspendedTenants": 1,
    });
    expect(recent.figures).toMatchObject({ "invoices.issued": 0, "invoices.overdue": 1 });
    const longer = await part("billing.invoices", sk(), "/v1/review?periodDays=60");
    expect(longer.figures).toEqual({
      ...invoiceFigures(all, 60),
      "invoices.unbalanced": 0,
      "invoices.unreconciled": 0,
      "dunning.suspendedTenants": 1,
    });
    expect(longer.figures).toMatchObject({ "invoices.issued": 3, "invoices.overdue": 1 });
    const plans = await part("billing.plans");
    expect(plans.figures).toMatchObject({
      ...(await subscriptionFigures("/v1/billing/subscriptions")),
      "subscriptions.pastDue": 1,
    });
    // The suspended tenant's own key still reads its report (reads stay open): its invoice is overdue.
    const own = await part("billing.invoices", keyA, `/v1/tenants/${tenantA}/review?periodDays=60`);
    expect(own.figures).toMatchObject({ "invoices.issued": 1, "invoices.overdue": 1, "dunning.suspendedTenants": 1 });
    const other = await part("billing.invoices", sk(), `/v1/tenants/${tenantB}/review?periodDays=60`);
    expect(other.figures).toMatchObject({ "invoices.issued": 1, "invoices.overdue": 0, "dunning.suspendedTenants": 0 });
  });
});
