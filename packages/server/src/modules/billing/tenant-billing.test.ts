import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, expect, it, vi } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { runDueJobs, WebhookReceiver } from "../../testing/webhook-receiver.js";
import { billingModule } from "./index.js";

type Json = Record<string, unknown>;

// Billing on a tenant's own path (`/v1/tenants/:tenantId/billing/*`): members with `billing:read`
// (admins; owners hold everything) read the preview of the current period and their usage against
// their limits; members with `billing:manage` (owners) cancel at period end and change plan, with
// the operator's rules; every route answers 404 for another tenant's objects. Then the billing facts
// end to end: in the event catalog, and delivered to a webhook endpoint when a period is invoiced.

const T0 = Date.parse("2027-03-01T00:00:00Z");
const DAY = 86_400_000;

describeEachEngine("tenant billing", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  const clock = new TestClock(T0);
  let tenantA: string;
  let tenantB: string;
  let subA: string;
  let subB: string;
  // Sessions are signed in at each use: the test clock moves past their idle timeout.
  const owner = "owner@acme.test";
  const admin = "admin@acme.test";
  const member = "member@acme.test";
  const ownerB = "owner@beta.test";
  let receiver: WebhookReceiver;
  let secret: string;

  async function call(who: string, method: string, url: string, body?: unknown) {
    const token = who.includes("@") ? await signIn(who) : who;
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return { status: res.statusCode, body: (res.body ? res.json() : {}) as Json };
  }
  const ok = async (token: string, method: string, url: string, body?: unknown) => {
    const res = await call(token, method, url, body);
    expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
    return res.body;
  };
  const sk = () => p.a.secretKey;
  const events = (tenantId: string, n: number, tokens: number) =>
    ok(sk(), "POST", "/v1/usage/events/batch", {
      events: Array.from({ length: n }, (_, i) => ({
        id: `${tenantId}-${clock.now()}-${i}`,
        type: "llm.call",
        subject: tenantId,
        time: new Date(clock.now()).toISOString(),
        data: { tokens },
      })),
    });

  async function userIn(tenantId: string, email: string, roles: string[]): Promise<void> {
    const user = await ok(sk(), "POST", "/v1/users", { email, password: TEST_PASSWORD });
    await ok(sk(), "POST", `/v1/tenants/${tenantId}/members`, { userId: user.id, roles });
  }
  async function signIn(email: string): Promise<string> {
    const login = await t.inject({
      method: "POST",
      url: "/v1/auth/login",
      payload: { surfaceId: p.a.surfaceId, email, password: TEST_PASSWORD },
    });
    return login.json().token as string;
  }

  beforeAll(async () => {
    t = await createTestApp(engine, {
      plane: true,
      clock,
      env: { BASEPLATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS: "true" },
    });
    p = await seedPlane(t);
    receiver = new WebhookReceiver();
    await receiver.listen();
    const endpoint = await ok(sk(), "POST", "/v1/webhooks/endpoints", {
      url: `${receiver.url}/hook`,
      eventTypes: ["invoice.*", "subscription.*"],
    });
    secret = endpoint.secret as string;
    tenantA = (await ok(sk(), "POST", "/v1/tenants", { name: "Acme" })).id as string;
    tenantB = (await ok(sk(), "POST", "/v1/tenants", { name: "Beta" })).id as string;
    await ok(sk(), "POST", "/v1/usage/meters", {
      key: "tokens",
      eventType: "llm.call",
      aggregation: "sum",
      valuePath: "tokens",
    });
    await ok(sk(), "POST", "/v1/usage/meters", { key: "calls", eventType: "llm.call", aggregation: "count" });
    const plan = (key: string, fee: string, interval = "month") => ({
      key,
      name: key,
      interval,
      currency: "USD",
      fixedFee: fee,
      charges: [
        { meter: "tokens", model: "per_unit", unitPrice: "0.001" },
        { meter: "calls", model: "per_unit", unitPrice: "0.01", freeUnits: "2" },
      ],
      entitlements: [{ feature: "tokens", meter: "tokens", limit: 1000, period: "month" }, { feature: "sso" }],
    });
    await ok(sk(), "POST", "/v1/billing/plans", plan("basic", "30.00"));
    await ok(sk(), "POST", "/v1/billing/plans", plan("plus", "90.00"));
    await ok(sk(), "POST", "/v1/billing/plans", plan("annual", "900.00", "year"));
    subA = (await ok(sk(), "POST", "/v1/billing/subscriptions", { tenantId: tenantA, plan: "basic" })).id as string;
    subB = (await ok(sk(), "POST", "/v1/billing/subscriptions", { tenantId: tenantB, plan: "basic" })).id as string;
    await userIn(tenantA, owner, ["owner"]);
    await userIn(tenantA, admin, ["admin"]);
    await userIn(tenantA, member, ["member"]);
    await userIn(tenantB, ownerB, ["owner"]);
  });
  afterAll(async () => {
    await receiver?.close();
    await t?.close();
  });

  it("a member with billing:read previews the current period and sees usage against limits", async () => {
    clock.set(T0 + DAY);
    await events(tenantA, 5, 40); // 200 tokens, 5 calls
    await events(tenantB, 1, 999);
    const preview = await ok(admin, "GET", `/v1/tenants/${tenantA}/billing/subscriptions/${subA}/preview`);
    expect(preview).toMatchObject({ subscriptionId: subA, tenantId: tenantA, currency: "USD", total: 3000 + 20 + 3 });
    const operator = await ok(sk(), "GET", `/v1/billing/subscriptions/${subA}/preview`);
    expect(preview).toEqual(operator);

    const usage = await ok(admin, "GET", `/v1/tenants/${tenantA}/billing/usage`);
    expect(usage).toMatchObject({
      subscriptionId: subA,
      currency: "USD",
      periodStart: new Date(T0).toISOString(),
      periodEnd: new Date("2027-04-01T00:00:00Z").toISOString(),
    });
    expect(usage.limits).toEqual([
      expect.objectContaining({ feature: "sso", kind: "boolean", enabled: true, limit: null, used: null }),
      expect.objectContaining({
        feature: "tokens",
        kind: "metered",
        meter: "tokens",
        limit: 1000,
        used: 200,
        held: 0,
        remaining: 800,
        from: new Date(T0).toISOString(),
        resetsAt: new Date("2027-04-01T00:00:00Z").toISOString(),
      }),
    ]);
    expect(usage.charges).toEqual([
      {
        description: "tokens (per-unit)",
        meter: "tokens",
        aggregation: "sum",
        used: "200",
        billableQuantity: "200",
        total: 20,
      },
      {
        description: "calls (per-unit)",
        meter: "calls",
        aggregation: "count",
        used: "5",
        billableQuantity: "3",
        total: 3,
      },
    ]);
  });

  it("refuses members without the permission, and answers 404 for another tenant", async () => {
    for (const path of [`subscriptions/${subA}/preview`, "usage"]) {
      expect((await call(member, "GET", `/v1/tenants/${tenantA}/billing/${path}`)).status).toBe(403);
      expect((await call(admin, "GET", `/v1/tenants/${tenantB}/billing/${path}`)).status).toBe(404);
      expect((await call(p.b.secretKey, "GET", `/v1/tenants/${tenantA}/billing/${path}`)).status).toBe(404);
    }
    // B's subscription previewed through A's path: 404.
    const crossPreview = await call(admin, "GET", `/v1/tenants/${tenantA}/billing/subscriptions/${subB}/preview`);
    expect(crossPreview.status).toBe(404);
    expect(crossPreview.body.code).toBe("subscription_not_found");
    // An admin reads billing but changes nothing (no billing:manage).
    const refused = await call(admin, "POST", `/v1/tenants/${tenantA}/billing/subscriptions/${subA}/cancel`);
    expect(refused.status).toBe(403);
    // B's subscription through A's path, by A's owner: 404, and B's subscription is untouched.
    for (const [url, body] of [
      [`/v1/tenants/${tenantA}/billing/subscriptions/${subB}/cancel`, undefined],
      [`/v1/tenants/${tenantA}/billing/subscriptions/${subB}/change`, { plan: "plus" }],
    ] as const) {
      const res = await call(owner, "POST", url, body);
      expect(res.status).toBe(404);
      expect(res.body.code).toBe("subscription_not_found");
    }
    expect((await call(owner, "POST", `/v1/tenants/${tenantB}/billing/subscriptions/${subB}/cancel`)).status).toBe(404);
    const b = await ok(sk(), "GET", `/v1/billing/subscriptions/${subB}`);
    expect(b).toMatchObject({
      planVersionId: expect.any(String),
      cancelAtPeriodEnd: false,
      pendingPlanVersionId: null,
    });
  });

  it("an owner changes plan with the operator's rules, and cancels at period end", async () => {
    const url = `/v1/tenants/${tenantA}/billing/subscriptions/${subA}`;
    const interval = await call(owner, "POST", `${url}/change`, { plan: "annual" });
    expect(interval.status).toBe(422);
    expect(interval.body.code).toBe("interval_change_at_period_end");
    const scheduled = await ok(owner, "POST", `${url}/change`, { plan: "annual", atPeriodEnd: true });
    expect(scheduled.pendingPlanVersionId).toEqual(expect.any(String));
    const withdrawn = await ok(owner, "POST", `${url}/change`, { plan: "basic", atPeriodEnd: true });
    expect(withdrawn.pendingPlanVersionId).toBeNull();

    clock.set(T0 + 10 * DAY);
    const upgraded = await ok(owner, "POST", `${url}/change`, { plan: "plus" });
    expect(upgraded.currentPeriodStart).toBe(new Date(T0 + 10 * DAY).toISOString());
    // The period so far was invoiced on the old plan: 10 of 31 days of 30.00, plus the usage.
    const invoices = (await ok(owner, "GET", `/v1/tenants/${tenantA}/billing/invoices`)).data as Json[];
    expect(invoices).toHaveLength(1);
    expect(invoices[0]?.total).toBe(Math.round((3000 * 10) / 31) + 20 + 3);

    const canceled = await ok(owner, "POST", `${url}/cancel`);
    expect(canceled).toMatchObject({ cancelAtPeriodEnd: true, status: "active" });
    // Again: answered as it is, nothing recorded twice.
    expect(await ok(owner, "POST", `${url}/cancel`)).toMatchObject({ cancelAtPeriodEnd: true });
    const audit = await t.app.db.kysely
      .selectFrom("audit_entry")
      .select(["action", "actor_type"])
      .where("tenant_id", "=", tenantA)
      .where("action", "like", "subscription.%")
      .orderBy("seq")
      .execute();
    expect(audit.map((a) => a.action)).toEqual([
      "subscription.created",
      "subscription.change_scheduled",
      "subscription.change_scheduled",
      "subscription.plan_changed",
      "subscription.cancel_scheduled",
    ]);
    expect(audit.slice(1).every((a) => a.actor_type === "user")).toBe(true);
  });

  it("another tenant's owner can change nothing of A's", async () => {
    const res = await call(ownerB, "POST", `/v1/tenants/${tenantA}/billing/subscriptions/${subA}/change`, {
      plan: "basic",
    });
    expect(res.status).toBe(404);
  });

  it("billing facts are in the event catalog and reach a webhook endpoint: invoice.finalized at period end", async () => {
    const catalog = await ok(sk(), "GET", "/v1/events/types");
    const types = ((catalog.data ?? []) as Json[]).map((e) => e.name);
    for (const type of [
      "invoice.finalized",
      "subscription.created",
      "subscription.renewed",
      "subscription.plan_changed",
      "subscription.change_scheduled",
      "subscription.cancel_scheduled",
      "subscription.canceled",
      "subscription.trial_ended",
    ]) {
      expect(types, type).toContain(type);
    }
    clock.set(Date.parse("2027-04-01T00:00:00Z") + 60_000);
    // What the recurring job does: A's period ends (invoiced, then canceled), B's renews.
    expect(await t.app.service(billingModule).subscriptions.advanceDue()).toBe(2);
    while ((await runDueJobs(t)) > 0); // the deliveries it queued
    const delivered = receiver.received.map((d) => {
      const spy = vi.spyOn(Date, "now").mockReturnValue(clock.now());
      try {
        return new Webhook(secret).verify(d.body, d.headers as Record<string, string>) as Json;
      } finally {
        spy.mockRestore();
      }
    });
    const finalized = delivered.filter((e) => e.type === "invoice.finalized");
    const ofA = finalized.filter((e) => (e.data as Json).subscriptionId === subA);
    expect(ofA.map((e) => (e.data as Json).periodEnd)).toEqual([
      new Date(T0 + 10 * DAY).toISOString(),
      new Date("2027-04-01T00:00:00Z").toISOString(),
    ]);
    expect(finalized.some((e) => (e.data as Json).subscriptionId === subB)).toBe(true);
    const seen = new Set(delivered.map((e) => e.type));
    for (const type of [
      "subscription.created",
      "subscription.plan_changed",
      "subscription.canceled",
      "subscription.renewed",
    ]) {
      expect(seen, type).toContain(type);
    }
    // Each event delivered once.
    expect(new Set(delivered.map((e) => e.id)).size).toBe(delivered.length);
    // The tenant has no live subscription now: nothing to preview, and usage without a period.
    const ended = await call(owner, "GET", `/v1/tenants/${tenantA}/billing/subscriptions/${subA}/preview`);
    expect(ended.status).toBe(409);
    expect(ended.body.code).toBe("subscription_canceled");
    const usage = await ok(owner, "GET", `/v1/tenants/${tenantA}/billing/usage`);
    expect(usage).toMatchObject({ subscriptionId: null, periodStart: null, charges: [] });
  });
});
