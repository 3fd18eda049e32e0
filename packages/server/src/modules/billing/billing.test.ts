import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { fromJson } from "../../platform/db/db.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { runDueJobs } from "../../testing/webhook-receiver.js";
import { billingModule } from "./index.js";

type Json = Record<string, unknown>;

// The billing module end to end: the catalog (immutable versions, refused prices), subscriptions
// (entitlements applied in the same transaction, one live per tenant under 50 racing requests,
// cancellation, trials), previews priced from usage, and period-end finalization exactly once with
// gap-free numbers, through racing finalizers and through the durable recurring job.

const T0 = Date.parse("2027-01-31T10:00:00Z");
const MIN = 60_000;
const DAY = 86_400_000;

const PRO = {
  key: "pro",
  name: "Pro",
  interval: "month",
  currency: "USD",
  fixedFee: "49.00",
  charges: [
    {
      meter: "tokens",
      model: "graduated",
      tiers: [
        { upTo: "1000000", unitPrice: "0.000002" },
        { upTo: null, unitPrice: "0.0000015" },
      ],
    },
    { meter: "calls", model: "per_unit", unitPrice: "0.01", freeUnits: "100" },
  ],
  entitlements: [{ feature: "tokens", meter: "tokens", limit: 5_000_000, period: "month" }, { feature: "sso" }],
};

describeEachEngine("billing", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  const clock = new TestClock(T0);
  let tenantA: string;
  let tenantB: string;
  let keyA: string;
  let keyB: string;

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
  const actions = async (tenantId: string | null, prefix: string) => {
    const rows = await t.app.db.kysely
      .selectFrom("audit_entry")
      .select("action")
      .where("environment_id", "=", p.a.id)
      .where("action", "like", `${prefix}%`)
      .$if(tenantId !== null, (qb) => qb.where("tenant_id", "=", tenantId as string))
      .orderBy("seq")
      .execute();
    return rows.map((r) => r.action as string);
  };
  const report = async (tenantId: string, events: Array<{ id: string; type: string; data: Json }>) => {
    const res = await call(sk(), "POST", "/v1/usage/events/batch", {
      events: events.map((e) => ({ ...e, subject: tenantId, time: new Date(clock.now()).toISOString() })),
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  };

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
    tenantA = (await call(sk(), "POST", "/v1/tenants", { name: "Acme" })).body.id as string;
    tenantB = (await call(sk(), "POST", "/v1/tenants", { name: "Beta" })).body.id as string;
    keyA = (await call(sk(), "POST", `/v1/tenants/${tenantA}/keys`, { name: "k", permissions: ["*"] })).body
      .token as string;
    keyB = (await call(sk(), "POST", `/v1/tenants/${tenantB}/keys`, { name: "k", permissions: ["*"] })).body
      .token as string;
    for (const meter of [
      { key: "tokens", eventType: "llm.call", aggregation: "sum", valuePath: "tokens" },
      { key: "calls", eventType: "llm.call", aggregation: "count" },
      { key: "peak", eventType: "llm.call", aggregation: "max", valuePath: "tokens" },
    ]) {
      expect((await call(sk(), "POST", "/v1/usage/meters", meter)).status).toBe(201);
    }
  });
  afterAll(async () => t?.close());

  describe("catalog", () => {
    it("creates a plan with its version 1, recorded as a fact", async () => {
      const res = await call(sk(), "POST", "/v1/billing/plans", PRO);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.body).toMatchObject({
        key: "pro",
        currentVersion: { version: 1, fixedFee: "49.00", currency: "USD" },
      });
      const version = res.body.currentVersion as { charges: Json[] };
      expect(version.charges[0]).toMatchObject({ meter: "tokens", model: "graduated" });
      expect(version.charges[0]?.meterId).toMatch(/^mtr_/);
      expect(await actions(null, "billing_plan.")).toEqual(["billing_plan.created"]);
      const got = await call(sk(), "GET", "/v1/billing/plans/pro");
      expect(got.body.id).toBe(res.body.id);
    });

    it("refuses unusable prices with a 4xx and creates nothing", async () => {
      const bad: Array<[Json, number, string?]> = [
        [
          {
            ...PRO,
            key: "b1",
            charges: [{ meter: "tokens", model: "graduated", tiers: [{ upTo: "5", unitPrice: "1" }] }],
          },
          400,
        ],
        [{ ...PRO, key: "b2", charges: [{ meter: "tokens", model: "per_unit", unitPrice: 0.1 }] }, 400],
        [{ ...PRO, key: "b3", charges: [{ meter: "tokens", model: "per_unit", unitPrice: "0.0000000000001" }] }, 400],
        [{ ...PRO, key: "b4", currency: "XXX" }, 400],
        [{ ...PRO, key: "b5", fixedFee: "1.001" }, 422, "invalid_price"],
        [
          { ...PRO, key: "b6", charges: [{ meter: "nope", model: "per_unit", unitPrice: "1" }] },
          404,
          "meter_not_found",
        ],
        [
          { ...PRO, key: "b7", charges: [{ meter: "peak", model: "per_unit", unitPrice: "1" }] },
          422,
          "meter_not_billable",
        ],
        [{ ...PRO, key: "b8", entitlements: [{ feature: "x" }, { feature: "x" }] }, 400],
        [
          { ...PRO, key: "b9", charges: [{ meter: "calls", model: "package", packageSize: "0", packagePrice: "1" }] },
          400,
        ],
        [PRO, 409, "plan_key_taken"],
      ];
      for (const [body, status, code] of bad) {
        const res = await call(sk(), "POST", "/v1/billing/plans", body);
        expect(res.status, JSON.stringify(res.body)).toBe(status);
        if (code) expect(res.body.code).toBe(code);
      }
      const list = await call(sk(), "GET", "/v1/billing/plans");
      expect((list.body.data as Json[]).map((x) => x.key)).toEqual(["pro"]);
    });

    it("a price change is a new version; the plan's name changes in place", async () => {
      const v2 = await call(sk(), "POST", "/v1/billing/plans/pro/versions", { ...PRO, fixedFee: "59.00" });
      expect(v2.status).toBe(400); // key and name are not version fields
      const { key: _k, name: _n, ...fields } = PRO;
      const ok = await call(sk(), "POST", "/v1/billing/plans/pro/versions", { ...fields, fixedFee: "59.00" });
      expect(ok.status, JSON.stringify(ok.body)).toBe(201);
      expect(ok.body).toMatchObject({ version: 2, fixedFee: "59.00" });
      const versions = await call(sk(), "GET", "/v1/billing/plans/pro/versions");
      expect((versions.body.data as Json[]).map((v) => [v.version, v.fixedFee])).toEqual([
        [1, "49.00"],
        [2, "59.00"],
      ]);
      const renamed = await call(sk(), "PATCH", "/v1/billing/plans/pro", { name: "Pro 2027" });
      expect(renamed.body).toMatchObject({ name: "Pro 2027", currentVersion: { version: 2 } });
      expect(await actions(null, "billing_plan.")).toEqual([
        "billing_plan.created",
        "billing_plan.version_created",
        "billing_plan.updated",
      ]);
    });
  });

  describe("subscriptions and invoices", () => {
    let subA: string;
    let v1: string;

    it("subscribes a tenant and applies the plan's entitlements in the same transaction", async () => {
      const versions = await call(sk(), "GET", "/v1/billing/plans/pro/versions");
      v1 = (versions.body.data as Json[])[0]?.id as string;
      const res = await call(sk(), "POST", "/v1/billing/subscriptions", {
        tenantId: tenantA,
        plan: "pro",
        planVersionId: v1,
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      subA = res.body.id as string;
      expect(res.body).toMatchObject({
        status: "active",
        planVersionId: v1,
        currentPeriodStart: new Date(T0).toISOString(),
        currentPeriodEnd: new Date("2027-02-28T10:00:00Z").toISOString(),
      });
      const ents = await call(sk(), "GET", `/v1/tenants/${tenantA}/entitlements`);
      expect((ents.body.data as Json[]).map((e) => [e.feature, e.kind, e.enabled, e.limit])).toEqual([
        ["sso", "boolean", true, null],
        ["tokens", "metered", true, 5_000_000],
      ]);
      const facts = await t.app.db.kysely
        .selectFrom("audit_entry")
        .select(["action", "context"])
        .where("tenant_id", "=", tenantA)
        .where("action", "in", ["subscription.created", "entitlement.set"])
        .execute();
      expect(facts.map((f) => f.action).sort()).toEqual(["entitlement.set", "entitlement.set", "subscription.created"]);
      const requestIds = facts.map((f) => fromJson<{ requestId: string }>(f.context).requestId);
      expect(new Set(requestIds).size).toBe(1);
    });

    it("a tenant has one live subscription: 50 racing requests, one wins", async () => {
      const tenant = (await call(sk(), "POST", "/v1/tenants", { name: "Race" })).body.id as string;
      const results = await Promise.all(
        Array.from({ length: 50 }, () =>
          call(sk(), "POST", "/v1/billing/subscriptions", { tenantId: tenant, plan: "pro" }),
        ),
      );
      const statuses = results.map((r) => r.status).sort();
      expect(statuses.filter((s) => s === 201)).toHaveLength(1);
      expect(statuses.filter((s) => s === 409)).toHaveLength(49);
      expect(results.find((r) => r.status === 409)?.body.code).toBe("subscription_exists");
      const subs = await call(sk(), "GET", `/v1/billing/subscriptions?tenantId=${tenant}`);
      expect(subs.body.data).toHaveLength(1);
      expect(await actions(tenant, "subscription.")).toEqual(["subscription.created"]);
      // On the current version (2): 59.00.
      expect((subs.body.data as Json[])[0]?.planVersionId).not.toBe(v1);
    });

    it("previews the period from usage: fixed fee, tiers, free units, each line with its usage query", async () => {
      clock.advance(MIN);
      await report(tenantA, [
        { id: "a1", type: "llm.call", data: { tokens: 1_000_000 } },
        { id: "a2", type: "llm.call", data: { tokens: 600_000 } },
        ...Array.from({ length: 148 }, (_, i) => ({ id: `c${i}`, type: "llm.call", data: { tokens: 0 } })),
      ]);
      await report(tenantB, [{ id: "b1", type: "llm.call", data: { tokens: 999 } }]);
      const res = await call(sk(), "GET", `/v1/billing/subscriptions/${subA}/preview`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const lines = res.body.lines as Json[];
      expect(lines.map((l) => [l.type, l.quantity, l.total])).toEqual([
        ["fixed_fee", "1", 4900],
        ["charge", "1600000", 290], // 1M × 0.000002 + 600k × 0.0000015
        ["charge", "150", 50], // (150 − 100 free) × 0.01
      ]);
      expect(lines[1]?.usage).toMatchObject({
        meter: "tokens",
        aggregation: "sum",
        from: new Date(T0).toISOString(),
        value: "1600000",
      });
      expect(((lines[1] as Json).tiers as Json[]).map((x) => x.amount)).toEqual(["2", "0.9"]);
      expect(res.body).toMatchObject({ currency: "USD", subtotal: 5240, total: 5240, planVersionId: v1 });
      // The tenant's own key previews it too; another tenant's key and another environment find nothing.
      expect((await call(keyA, "GET", `/v1/billing/subscriptions/${subA}/preview`)).status).toBe(200);
      expect((await call(keyB, "GET", `/v1/billing/subscriptions/${subA}/preview`)).status).toBe(404);
      expect((await call(p.b.secretKey, "GET", `/v1/billing/subscriptions/${subA}`)).status).toBe(404);
      const own = await call(keyA, "GET", `/v1/tenants/${tenantA}/billing/subscriptions`);
      expect((own.body.data as Json[]).map((x) => x.id)).toEqual([subA]);
      expect((await call(keyB, "GET", `/v1/tenants/${tenantA}/billing/subscriptions`)).status).toBe(404);
    });

    it("finalizes a period exactly once under racing finalizers, with a gap-free number", async () => {
      clock.set(Date.parse("2027-02-28T10:00:00Z") + 30_000);
      const billing = t.app.service(billingModule);
      const ended = await Promise.all(Array.from({ length: 10 }, () => billing.subscriptions.advanceDue()));
      const invoices = await call(sk(), "GET", `/v1/billing/invoices?subscriptionId=${subA}`);
      expect(invoices.body.data).toHaveLength(1);
      const invoice = (invoices.body.data as Json[])[0] as Json;
      // The two due periods end at once: numbered in the order their transactions take the counter.
      expect(["INV-2027-000001", "INV-2027-000002"]).toContain(invoice.number);
      expect(invoice).toMatchObject({
        status: "finalized",
        total: 5240,
        periodStart: new Date(T0).toISOString(),
        periodEnd: new Date("2027-02-28T10:00:00Z").toISOString(),
      });
      // Both live subscriptions (A's and the race's tenant's) ended one period each, once.
      expect(ended.reduce((a, b) => a + b, 0)).toBe(2);
      const numbers = await t.app.db.kysely.selectFrom("billing_invoice").select("number").orderBy("number").execute();
      expect(numbers.map((n) => n.number)).toEqual(["INV-2027-000001", "INV-2027-000002"]);
      const sub = await call(sk(), "GET", `/v1/billing/subscriptions/${subA}`);
      // Anchored on Jan 31: Feb 28 → Mar 31.
      expect(sub.body).toMatchObject({
        currentPeriodStart: new Date("2027-02-28T10:00:00Z").toISOString(),
        currentPeriodEnd: new Date("2027-03-31T10:00:00Z").toISOString(),
      });
      expect(await actions(tenantA, "subscription.")).toEqual(["subscription.created", "subscription.renewed"]);
      expect(await actions(tenantA, "invoice.")).toEqual(["invoice.finalized"]);
      const event = await t.app.db.kysely
        .selectFrom("event")
        .select("type")
        .where("type", "=", "invoice.finalized")
        .execute();
      expect(event).toHaveLength(2);
      // The invoice is the tenant's: its key reads it, another tenant's key does not.
      expect((await call(keyA, "GET", `/v1/billing/invoices/${invoice.id}`)).status).toBe(200);
      expect((await call(keyB, "GET", `/v1/billing/invoices/${invoice.id}`)).status).toBe(404);
      expect((await call(p.b.secretKey, "GET", `/v1/billing/invoices/${invoice.id}`)).status).toBe(404);
      expect((await call(keyA, "GET", `/v1/tenants/${tenantA}/billing/invoices`)).body.data).toHaveLength(1);
      const path = `/v1/tenants/${tenantA}/billing/invoices/${invoice.id}`;
      expect((await call(keyA, "GET", path)).body.number).toBe(invoice.number);
      expect((await call(keyB, "GET", path)).status).toBe(404);
      expect((await call(keyB, "GET", `/v1/tenants/${tenantA}/billing/invoices`)).status).toBe(404);
    });

    it("a late event for a finalized period never changes its invoice", async () => {
      clock.advance(MIN);
      const before = await call(sk(), "GET", `/v1/billing/invoices?subscriptionId=${subA}`);
      await call(sk(), "POST", "/v1/usage/events", {
        id: "late",
        type: "llm.call",
        subject: tenantA,
        time: new Date(T0 + 5 * MIN).toISOString(),
        data: { tokens: 1000 },
      });
      const after = await call(sk(), "GET", `/v1/billing/invoices?subscriptionId=${subA}`);
      expect(after.body).toEqual(before.body);
    });

    it("cancels at period end: the period is invoiced by the recurring job, then the plan's entitlements go off", async () => {
      const res = await call(sk(), "POST", `/v1/billing/subscriptions/${subA}/cancel`, {});
      expect(res.body).toMatchObject({ status: "active", cancelAtPeriodEnd: true });
      await t.app.jobs.enqueueDueSchedules(); // the schedule's first slot
      clock.set(Date.parse("2027-03-31T10:00:00Z") + MIN);
      await t.app.jobs.enqueueDueSchedules();
      while ((await runDueJobs(t)) > 0) {}
      const sub = await call(sk(), "GET", `/v1/billing/subscriptions/${subA}`);
      expect(sub.body).toMatchObject({
        status: "canceled",
        canceledAt: new Date("2027-03-31T10:00:00Z").toISOString(),
      });
      const invoices = await call(sk(), "GET", `/v1/billing/invoices?subscriptionId=${subA}`);
      // The late event (1,000 tokens, one call, timestamped in the first period) is on the second
      // invoice, priced on top of what the first billed: 0.0015 of tokens (0 cents), one call past
      // the free 100 (1 cent).
      expect((invoices.body.data as Json[]).map((i) => i.total)).toEqual([4901, 5240]);
      const lateLines = (((invoices.body.data as Json[])[0] as Json).lines as Json[]).filter(
        (l) => l.type === "late_usage",
      );
      expect(lateLines.map((l) => [l.quantity, l.amount, l.total])).toEqual([
        ["1000", "0.0015", 0],
        ["1", "0.01", 1],
      ]);
      expect(lateLines[0]?.usage).toMatchObject({
        meter: "tokens",
        from: new Date(T0).toISOString(),
        to: new Date("2027-02-28T10:00:00Z").toISOString(),
      });
      // The race's tenant renewed at the same instant: numbers 3 and 4 went to the two, in either order.
      const numbers = await t.app.db.kysely.selectFrom("billing_invoice").select("number").orderBy("number").execute();
      expect(numbers.map((n) => n.number)).toEqual([1, 2, 3, 4].map((n) => `INV-2027-00000${n}`));
      const ents = await call(sk(), "GET", `/v1/tenants/${tenantA}/entitlements`);
      expect((ents.body.data as Json[]).map((e) => e.enabled)).toEqual([false, false]);
      expect(await actions(tenantA, "subscription.")).toEqual([
        "subscription.created",
        "subscription.renewed",
        "subscription.cancel_scheduled",
        "subscription.canceled",
      ]);
      const again = await call(sk(), "POST", `/v1/billing/subscriptions/${subA}/cancel`, { atPeriodEnd: false });
      expect(again.body.code).toBe("subscription_canceled");
      // A canceled subscription frees the tenant for a new one.
      const next = await call(sk(), "POST", "/v1/billing/subscriptions", { tenantId: tenantA, plan: "pro" });
      expect(next.status).toBe(201);
      expect(
        (await call(sk(), "POST", `/v1/billing/subscriptions/${next.body.id}/cancel`, { atPeriodEnd: false })).body,
      ).toMatchObject({ status: "canceled" });
    });

    it("a trial is a free first period; the paid periods are anchored on its end", async () => {
      const { key: _k, name: _n, ...fields } = PRO;
      const plan = await call(sk(), "POST", "/v1/billing/plans", {
        ...fields,
        key: "trial",
        name: "Trial",
        trialDays: 14,
        interval: "week",
        entitlements: [],
      });
      expect(plan.status, JSON.stringify(plan.body)).toBe(201);
      const start = Math.floor(clock.now() / MIN) * MIN;
      const sub = await call(sk(), "POST", "/v1/billing/subscriptions", { tenantId: tenantB, plan: "trial" });
      expect(sub.body).toMatchObject({
        status: "trialing",
        trialEnd: new Date(start + 14 * DAY).toISOString(),
        currentPeriodEnd: new Date(start + 14 * DAY).toISOString(),
      });
      const preview = await call(sk(), "GET", `/v1/billing/subscriptions/${sub.body.id}/preview`);
      expect(preview.body).toMatchObject({ lines: [], total: 0 });
      clock.set(start + 14 * DAY + MIN);
      await t.app.service(billingModule).subscriptions.advanceDue();
      const active = await call(sk(), "GET", `/v1/billing/subscriptions/${sub.body.id}`);
      expect(active.body).toMatchObject({
        status: "active",
        currentPeriodStart: new Date(start + 14 * DAY).toISOString(),
        currentPeriodEnd: new Date(start + 21 * DAY).toISOString(),
      });
      const invoices = await call(sk(), "GET", `/v1/billing/invoices?subscriptionId=${sub.body.id}`);
      expect(invoices.body.data).toHaveLength(0);
      expect(await actions(tenantB, "subscription.")).toEqual(["subscription.created", "subscription.trial_ended"]);
    });

    it("a total beyond 2^53 - 1 minor units is a 422, never a 500", async () => {
      const { key: _k, name: _n, ...fields } = PRO;
      const huge = {
        ...fields,
        key: "huge",
        name: "Huge",
        entitlements: [],
        charges: [{ meter: "tokens", model: "per_unit", unitPrice: "999999999999" }],
      };
      expect((await call(sk(), "POST", "/v1/billing/plans", huge)).status).toBe(201);
      const tenant = (await call(sk(), "POST", "/v1/tenants", { name: "Huge" })).body.id as string;
      const sub = await call(sk(), "POST", "/v1/billing/subscriptions", { tenantId: tenant, plan: "huge" });
      await report(tenant, [{ id: "huge1", type: "llm.call", data: { tokens: 1_000_000 } }]);
      const res = await call(sk(), "GET", `/v1/billing/subscriptions/${sub.body.id}/preview`);
      expect(res.status).toBe(422);
      expect(res.body.code).toBe("amount_out_of_range");
    });

    it("environment-wide writes need the environment's secret key", async () => {
      expect((await call(keyA, "POST", "/v1/billing/plans", { ...PRO, key: "k2" })).status).toBe(403);
      expect((await call(keyA, "POST", "/v1/billing/subscriptions", { tenantId: tenantA, plan: "pro" })).status).toBe(
        403,
      );
      expect((await call(p.b.secretKey, "GET", "/v1/billing/plans/pro")).status).toBe(404);
      // Plans page by id, each with its current version.
      const first = await call(sk(), "GET", "/v1/billing/plans?limit=1");
      const second = await call(sk(), "GET", `/v1/billing/plans?limit=1&cursor=${first.body.nextCursor}`);
      expect([...(first.body.data as Json[]), ...(second.body.data as Json[])].map((x) => x.key)).toEqual([
        "pro",
        "trial",
      ]);
      expect(second.body.nextCursor).not.toBeNull();
      expect((second.body.data as Json[])[0]?.currentVersion).toMatchObject({ version: 1, trialDays: 14 });
    });
  });
});
