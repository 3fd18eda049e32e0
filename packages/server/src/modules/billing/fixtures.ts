import {
  created,
  defineModuleFixtures,
  type EnvActors,
  expectJson,
  expectStatus,
  type IsolationWorld,
  readBack,
} from "../../testing/isolation.js";
import { billingModule } from "./index.js";

/**
 * The billing module's fixtures for the plane-wide suites: plans (environment configuration),
 * subscriptions (of a fresh tenant each: a tenant has one live subscription) and invoices (a
 * subscription whose period is made due, then ended by the same service call the recurring job
 * makes), credit notes (of such an invoice), the bodies a schema cannot generate, and one
 * successful call per mutating route.
 */
export const fixtures = defineModuleFixtures({
  module: "billing",
  params: {
    planId: async (w, env) => {
      const id = await planIn(w, env);
      return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/billing/plans/${id}`) };
    },
    subscriptionId: async (w, env, parents) => {
      const id = await subscriptionIn(w, env, parents.tenantId?.id ?? env.tenantId);
      return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/billing/subscriptions/${id}`) };
    },
    invoiceId: async (w, env, parents) => {
      const id = await invoiceIn(w, env, parents.tenantId?.id ?? env.tenantId);
      return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/billing/invoices/${id}`) };
    },
    testClockId: async (w, env) => {
      const id = await clockIn(w, env);
      return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/billing/test-clocks/${id}`) };
    },
    creditNoteId: async (w, env) => {
      const invoice = await invoiceIn(w, env, env.tenantId);
      const note = await created(
        await w.call(env.key, "POST", `/v1/billing/invoices/${invoice}/credit-notes`, {
          body: { lines: [{ line: 0, amount: 100 }] },
        }),
        "crediting an invoice",
      );
      const id = note.id as string;
      return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/billing/credit-notes/${id}`) };
    },
    walletId: async (w, env) => {
      const id = await walletIn(w, env);
      return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/billing/credits/wallets/${id}`) };
    },
    creditHoldId: async (w, env) => {
      const id = await holdIn(w, env);
      return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/billing/credits/holds/${id}`) };
    },
  },
  bodies: {
    "POST /v1/billing/test-clocks": () => ({ name: "Clock" }),
    "POST /v1/billing/test-clocks/:testClockId/advance": (w) => ({ frozenTime: w.t.app.clock.now() + 30 * 86_400_000 }),
    "POST /v1/billing/test-clocks/:testClockId/tenants": (_w, ids) => ({
      tenantId: clockTenants.get(ids.testClockId ?? ""),
    }),
    "POST /v1/billing/test-clocks/:testClockId/detach": (_w, ids) => ({
      tenantId: clockTenants.get(ids.testClockId ?? ""),
    }),
    "POST /v1/billing/plans": (w) => ({ key: `p${w.unique()}`, name: "Plan", interval: "month", currency: "USD" }),
    "POST /v1/billing/plans/:planId/versions": () => ({ interval: "month", currency: "EUR", fixedFee: "9.00" }),
    "POST /v1/billing/subscriptions": () => ({ tenantId: "ten_iso", plan: "iso" }),
    "POST /v1/billing/subscriptions/:subscriptionId/cancel": () => ({ atPeriodEnd: false }),
    "POST /v1/billing/subscriptions/:subscriptionId/change": () => ({ plan: "iso", atPeriodEnd: true }),
    "POST /v1/billing/invoices/:invoiceId/payments": (w) => ({
      processor: "stripe",
      reference: `pi_${w.unique()}`,
      amount: 100,
      currency: "USD",
    }),
    "POST /v1/billing/invoices/:invoiceId/credit-notes": () => ({ lines: [{ line: 0, amount: 100 }] }),
    "PATCH /v1/billing/tenants/:tenantId/settings": () => ({ taxRate: "8.25" }),
    "POST /v1/tenants/:tenantId/billing/subscriptions/:subscriptionId/change": () => ({
      plan: "iso",
      atPeriodEnd: true,
    }),
    "POST /v1/billing/credits/grants": () => ({ tenantId: "ten_iso", unit: "tokens", amount: 1 }),
    "POST /v1/billing/credits/consume": () => ({ tenantId: "ten_iso", unit: "tokens", amount: 1 }),
    "POST /v1/billing/credits/holds": () => ({ tenantId: "ten_iso", unit: "tokens", amount: 1 }),
    "POST /v1/billing/credits/holds/:creditHoldId/commit": () => ({ amount: 1 }),
    "PATCH /v1/billing/credits/wallets/:walletId": () => ({ lowBalanceThreshold: 5 }),
  },
  facts: {
    "POST /v1/billing/plans": async (w) => ({
      caller: w.a.key,
      body: { key: `facts-${w.unique()}`, name: "Facts", interval: "month", currency: "USD", fixedFee: "10.00" },
      expect: () => ({ types: ["billing_plan.created"], environmentId: w.a.environmentId }),
    }),
    "PATCH /v1/billing/plans/:planId": async (w) => ({
      caller: w.a.key,
      ids: { planId: await planIn(w, w.a) },
      body: { name: "Renamed" },
      expect: () => ({ types: ["billing_plan.updated"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/billing/plans/:planId/archive": async (w) => ({
      caller: w.a.key,
      ids: { planId: await planIn(w, w.a) },
      expect: () => ({ types: ["billing_plan.archived"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/billing/plans/:planId/versions": async (w) => ({
      caller: w.a.key,
      ids: { planId: await planIn(w, w.a) },
      body: { interval: "year", currency: "USD", fixedFee: "100.00" },
      expect: () => ({ types: ["billing_plan.version_created"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/billing/subscriptions": async (w) => {
      const tenant = await w.param("tenantId", w.a);
      const plan = await planIn(w, w.a, [{ feature: "sso" }]);
      return {
        caller: w.a.key,
        body: { tenantId: tenant.id, plan },
        expect: () => ({ types: ["entitlement.set", "subscription.created"], environmentId: w.a.environmentId }),
      };
    },
    "POST /v1/billing/subscriptions/:subscriptionId/cancel": async (w) => ({
      caller: w.a.key,
      ids: { subscriptionId: await subscriptionIn(w, w.a) },
      body: { atPeriodEnd: true },
      expect: () => ({ types: ["subscription.cancel_scheduled"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/billing/subscriptions/:subscriptionId/change": async (w) => ({
      caller: w.a.key,
      ids: { subscriptionId: await subscriptionIn(w, w.a) },
      body: { plan: await planIn(w, w.a), atPeriodEnd: true },
      expect: () => ({ types: ["subscription.change_scheduled"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/billing/test-clocks": async (w) => ({
      caller: w.a.key,
      body: { name: "Facts" },
      expect: () => ({ types: ["test_clock.created"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/billing/test-clocks/:testClockId/advance": async (w) => ({
      caller: w.a.key,
      ids: { testClockId: await clockIn(w, w.a) },
      body: { frozenTime: w.t.app.clock.now() + 86_400_000 },
      expect: () => ({ types: ["test_clock.advanced"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/billing/test-clocks/:testClockId/tenants": async (w) => ({
      caller: w.a.key,
      ids: { testClockId: await clockIn(w, w.a) },
      body: { tenantId: (await w.param("tenantId", w.a)).id },
      expect: () => ({ types: ["test_clock.tenant_attached"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/billing/test-clocks/:testClockId/detach": async (w) => {
      const clock = await clockIn(w, w.a);
      const tenant = (await w.param("tenantId", w.a)).id;
      await expectJson(
        await w.call(w.a.key, "POST", `/v1/billing/test-clocks/${clock}/tenants`, { body: { tenantId: tenant } }),
        200,
        "attaching a tenant",
      );
      return {
        caller: w.a.key,
        ids: { testClockId: clock },
        body: { tenantId: tenant },
        expect: () => ({ types: ["test_clock.tenant_detached"], environmentId: w.a.environmentId }),
      };
    },
    "DELETE /v1/billing/test-clocks/:testClockId": async (w) => ({
      caller: w.a.key,
      ids: { testClockId: await clockIn(w, w.a) },
      expect: () => ({ types: ["test_clock.deleted"], environmentId: w.a.environmentId }),
    }),
    "PATCH /v1/billing/tenants/:tenantId/settings": async (w) => ({
      caller: w.a.key,
      ids: { tenantId: w.a.tenantId },
      body: { taxRate: "20", billingName: "Acme Ltd" },
      expect: () => ({ types: ["billing_settings.updated"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/billing/invoices/:invoiceId/payments": async (w) => ({
      caller: w.a.key,
      ids: { invoiceId: await invoiceIn(w, w.a, w.a.tenantId) },
      body: { processor: "stripe", reference: `pi_${w.unique()}`, amount: 100, currency: "USD" },
      expect: () => ({ types: ["payment.recorded"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/billing/invoices/:invoiceId/void": async (w) => ({
      caller: w.a.key,
      ids: { invoiceId: await invoiceIn(w, w.a, w.a.tenantId) },
      expect: () => ({ types: ["invoice.voided"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/billing/invoices/:invoiceId/credit-notes": async (w) => ({
      caller: w.a.key,
      ids: { invoiceId: await invoiceIn(w, w.a, w.a.tenantId) },
      body: { reason: "goodwill" },
      expect: () => ({ types: ["credit_note.created", "invoice.paid"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/tenants/:tenantId/billing/subscriptions/:subscriptionId/cancel": async (w) => {
      const tenant = await w.param("tenantId", w.a);
      return {
        caller: w.a.key,
        ids: { tenantId: tenant.id, subscriptionId: await subscriptionIn(w, w.a, tenant.id) },
        expect: () => ({ types: ["subscription.cancel_scheduled"], environmentId: w.a.environmentId }),
      };
    },
    "POST /v1/tenants/:tenantId/billing/subscriptions/:subscriptionId/change": async (w) => {
      const tenant = await w.param("tenantId", w.a);
      return {
        caller: w.a.key,
        ids: { tenantId: tenant.id, subscriptionId: await subscriptionIn(w, w.a, tenant.id) },
        body: { plan: await planIn(w, w.a), atPeriodEnd: true },
        expect: () => ({ types: ["subscription.change_scheduled"], environmentId: w.a.environmentId }),
      };
    },
    "POST /v1/billing/credits/grants": async (w) => ({
      caller: w.a.key,
      body: { tenantId: (await w.param("tenantId", w.a)).id, unit: "tokens", amount: 10, source: "top_up" },
      expect: () => ({ types: ["credits.granted"], environmentId: w.a.environmentId }),
    }),
    "PATCH /v1/billing/credits/wallets/:walletId": async (w) => ({
      caller: w.a.key,
      ids: { walletId: await walletIn(w, w.a, (await w.param("tenantId", w.a)).id) },
      body: { lowBalanceThreshold: 5 },
      expect: () => ({ types: ["credit_wallet.updated"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/billing/credits/consume": async (w) => {
      const tenant = (await w.param("tenantId", w.a)).id;
      await walletIn(w, w.a, tenant);
      return {
        caller: w.a.key,
        body: { tenantId: tenant, unit: "tokens", amount: 10 },
        expect: () => ({ types: ["credits.consumed"], environmentId: w.a.environmentId }),
      };
    },
    "POST /v1/billing/credits/holds": async (w) => {
      const tenant = (await w.param("tenantId", w.a)).id;
      await walletIn(w, w.a, tenant);
      return {
        caller: w.a.key,
        body: { tenantId: tenant, unit: "tokens", amount: 10 },
        expect: () => ({ types: ["credit_hold.reserved"], environmentId: w.a.environmentId }),
      };
    },
    "POST /v1/billing/credits/holds/:creditHoldId/commit": async (w) => ({
      caller: w.a.key,
      ids: { creditHoldId: await holdIn(w, w.a) },
      body: { amount: 3 },
      expect: () => ({ types: ["credit_hold.committed"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/billing/credits/holds/:creditHoldId/release": async (w) => ({
      caller: w.a.key,
      ids: { creditHoldId: await holdIn(w, w.a) },
      expect: () => ({ types: ["credit_hold.released"], environmentId: w.a.environmentId }),
    }),
  },
});

/** clockTenants: the tenant each fixture clock was given (attach and detach bodies name it). */
const clockTenants = new Map<string, string>();

/**
 * clockIn creates a test clock in the environment (at the plane's time) and a fresh tenant for it
 * (remembered in `clockTenants`: the attach and detach bodies name it), and returns its id.
 */
async function clockIn(w: IsolationWorld, env: EnvActors): Promise<string> {
  const body = await created(
    await w.call(env.key, "POST", "/v1/billing/test-clocks", { body: { name: env.marker } }),
    "creating a test clock",
  );
  const id = body.id as string;
  const tenant = await created(
    await w.call(env.key, "POST", "/v1/tenants", { body: { name: `${env.marker} clock ${w.unique()}` } }),
    "creating a clock's tenant",
  );
  clockTenants.set(id, tenant.id as string);
  return id;
}

/**
 * invoiceIn subscribes a tenant (see `subscriptionIn`), makes its subscription's whole first month
 * end now and ends it by the same service call the recurring job makes: an invoice of the plan's
 * 5.00 fixed fee. Returns the invoice's id.
 */
async function invoiceIn(w: IsolationWorld, env: EnvActors, tenantId: string): Promise<string> {
  const subscription = await subscriptionIn(w, env, tenantId);
  const now = new Date(w.t.app.clock.now());
  const anchor = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, now.getUTCDate(), now.getUTCHours());
  await w.t.app.db.kysely
    .updateTable("billing_subscription")
    .set({ anchor, period_index: 0, current_period_start: anchor, current_period_end: now.getTime() })
    .where("id", "=", subscription)
    .execute();
  await w.t.app.service(billingModule).subscriptions.advance(subscription);
  const invoice = await w.t.app.db.kysely
    .selectFrom("billing_invoice")
    .select("id")
    .where("subscription_id", "=", subscription)
    .executeTakeFirstOrThrow();
  return invoice.id as string;
}

/** planIn creates a monthly USD plan in the environment and returns its id. */
async function planIn(w: IsolationWorld, env: EnvActors, entitlements: unknown[] = []): Promise<string> {
  const body = await created(
    await w.call(env.key, "POST", "/v1/billing/plans", {
      body: {
        key: `plan-${w.unique()}`,
        name: env.marker,
        interval: "month",
        currency: "USD",
        fixedFee: "5.00",
        entitlements,
      },
    }),
    "creating a plan",
  );
  return body.id as string;
}

/**
 * subscriptionIn subscribes a tenant of the environment (default: a fresh one) to a new plan and
 * returns the subscription's id. A tenant has one live subscription: its live one is canceled at
 * once first (the home tenant's, so its own keys list the new one). The environment also gets the
 * plan `iso` the body fixtures name.
 */
async function subscriptionIn(w: IsolationWorld, env: EnvActors, tenantId?: string): Promise<string> {
  const tenant = tenantId ?? (await w.param("tenantId", env)).id;
  const iso = await w.call(env.key, "POST", "/v1/billing/plans", {
    body: { key: "iso", name: "Isolation", interval: "month", currency: "USD" },
  });
  if (iso.status !== 201) expectStatus(iso, 409, "creating the plan `iso`");
  const plan = await planIn(w, env);
  const subscribe = () => w.call(env.key, "POST", "/v1/billing/subscriptions", { body: { tenantId: tenant, plan } });
  let res = await subscribe();
  if (res.status === 409) {
    const live = await expectJson(
      await w.call(env.key, "GET", "/v1/billing/subscriptions", { query: { tenantId: tenant, limit: "100" } }),
      200,
      "listing subscriptions",
    );
    for (const s of live.data as Array<{ id: string; status: string }>) {
      if (s.status === "canceled") continue;
      await expectJson(
        await w.call(env.key, "POST", `/v1/billing/subscriptions/${s.id}/cancel`, { body: { atPeriodEnd: false } }),
        200,
        "canceling the live subscription",
      );
    }
    res = await subscribe();
  }
  return (await created(res, "subscribing")).id as string;
}

/**
 * walletIn grants 100 `tokens` to a tenant of the environment (default: its home tenant, whose
 * keys list it) and returns the id of its wallet.
 */
async function walletIn(w: IsolationWorld, env: EnvActors, tenantId?: string): Promise<string> {
  const tenant = tenantId ?? env.tenantId;
  const grant = await created(
    await w.call(env.key, "POST", "/v1/billing/credits/grants", {
      body: { tenantId: tenant, unit: "tokens", amount: 100, description: env.marker },
    }),
    "granting credits",
  );
  return grant.walletId as string;
}

/** holdIn reserves 5 credits of the home tenant's wallet for an hour and returns the hold's id. */
async function holdIn(w: IsolationWorld, env: EnvActors): Promise<string> {
  const tenant = env.tenantId;
  await walletIn(w, env, tenant);
  const hold = await created(
    await w.call(env.key, "POST", "/v1/billing/credits/holds", {
      body: { tenantId: tenant, unit: "tokens", amount: 5, ttlSeconds: 3600, reference: env.marker },
    }),
    "reserving credits",
  );
  return hold.id as string;
}
