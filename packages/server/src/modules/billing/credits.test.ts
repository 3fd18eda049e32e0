import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { systemContext } from "../../platform/principal.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { newId } from "./ids.js";
import { billingModule } from "./index.js";

type Json = Record<string, unknown>;

// Prepaid credits end to end: grants spent oldest-expiring first (no expiry last), expiry by the
// recurring job, holds (reserve → commit / release / TTL), the low-balance and depleted facts, a
// zero balance blocking through the entitlement check, plan credits each period, credits applied
// to an invoice, 50 concurrent consumers against one balance, and the ledger summing to every
// balance after random operations.

const T0 = Date.parse("2027-03-01T12:00:00Z");
const DAY = 86_400_000;

describeEachEngine("billing credits", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  const clock = new TestClock(T0);

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
  const newTenant = async (name: string) => (await call(sk(), "POST", "/v1/tenants", { name })).body.id as string;
  const grant = async (tenantId: string, amount: number, extra: Json = {}) => {
    const res = await call(sk(), "POST", "/v1/billing/credits/grants", { tenantId, unit: "tokens", amount, ...extra });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  };
  const walletOf = async (tenantId: string, unit = "tokens") => {
    const res = await call(sk(), "GET", `/v1/billing/credits/wallets?tenantId=${tenantId}`);
    return (res.body.data as Json[]).find((w) => w.unit === unit) as Json;
  };
  const facts = async (tenantId: string, prefix: string) => {
    const rows = await t.app.db.kysely
      .selectFrom("audit_entry")
      .select("action")
      .where("tenant_id", "=", tenantId)
      .where("action", "like", `${prefix}%`)
      .orderBy("seq")
      .execute();
    return rows.map((r) => r.action as string);
  };
  /** ledgerMatches checks every wallet and grant of a tenant against the sums of its ledger entries. */
  const ledgerMatches = async (tenantId: string) => {
    const db = t.app.db.kysely;
    const wallets = await db
      .selectFrom("billing_credit_wallet")
      .selectAll()
      .where("tenant_id", "=", tenantId)
      .execute();
    for (const w of wallets) {
      const entries = await db
        .selectFrom("billing_credit_entry")
        .selectAll()
        .where("wallet_id", "=", w.id)
        .orderBy("id")
        .execute();
      const sum = entries.reduce((n, e) => n + Number(e.amount), 0);
      expect(Number(w.balance)).toBe(sum);
      expect(Number(w.balance)).toBeGreaterThanOrEqual(0);
      if (entries.length > 0) expect(Number(entries.at(-1)?.balance_after)).toBe(sum);
      const grants = await db.selectFrom("billing_credit_grant").selectAll().where("wallet_id", "=", w.id).execute();
      for (const g of grants) {
        const ofGrant = entries.filter((e) => e.grant_id === g.id).reduce((n, e) => n + Number(e.amount), 0);
        expect(Number(g.remaining)).toBe(ofGrant);
        expect(Number(g.remaining)).toBeGreaterThanOrEqual(0);
      }
      const holds = await db
        .selectFrom("billing_credit_hold")
        .selectAll()
        .where("wallet_id", "=", w.id)
        .where("status", "=", "open")
        .execute();
      const heldByLedger = entries
        .filter((e) => e.hold_id !== null && holds.some((h) => h.id === e.hold_id))
        .reduce((n, e) => n - Number(e.amount), 0);
      expect(heldByLedger).toBe(holds.reduce((n, h) => n + Number(h.amount), 0));
    }
  };

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
  });
  afterAll(async () => t?.close());

  it("spends grants oldest-expiring first, grants without expiry last", async () => {
    const tenant = await newTenant("Order");
    const a = await grant(tenant, 10, { expiresAt: T0 + 2 * DAY });
    const none = await grant(tenant, 10);
    const b = await grant(tenant, 10, { expiresAt: T0 + DAY });
    const d = await grant(tenant, 10, { expiresAt: T0 + 3 * DAY, source: "top_up" });
    const spent = await call(sk(), "POST", "/v1/billing/credits/consume", {
      tenantId: tenant,
      unit: "tokens",
      amount: 25,
    });
    expect(spent.status, JSON.stringify(spent.body)).toBe(200);
    const entries = spent.body.entries as Json[];
    expect(entries.map((e) => [e.grantId, e.amount])).toEqual([
      [b.id, -10],
      [a.id, -10],
      [d.id, -5],
    ]);
    expect((spent.body.wallet as Json).balance).toBe(15);
    const more = await call(sk(), "POST", "/v1/billing/credits/consume", {
      tenantId: tenant,
      unit: "tokens",
      amount: 10,
    });
    expect((more.body.entries as Json[]).map((e) => [e.grantId, e.amount])).toEqual([
      [d.id, -5],
      [none.id, -5],
    ]);
    // All or nothing: 6 do not fit in 5.
    const short = await call(sk(), "POST", "/v1/billing/credits/consume", {
      tenantId: tenant,
      unit: "tokens",
      amount: 6,
    });
    expect(short.status).toBe(409);
    expect(short.body.code).toBe("insufficient_credits");
    expect((await walletOf(tenant)).balance).toBe(5);
    expect(await facts(tenant, "credits.")).toEqual([
      "credits.granted",
      "credits.granted",
      "credits.granted",
      "credits.granted",
      "credits.consumed",
      "credits.consumed",
    ]);
    await ledgerMatches(tenant);
  });

  it("expires what is left of a grant through the recurring job, and expired credits are never spent", async () => {
    const tenant = await newTenant("Expiry");
    const soon = await grant(tenant, 30, { expiresAt: clock.now() + DAY });
    await grant(tenant, 20, { expiresAt: clock.now() + 5 * DAY });
    await call(sk(), "POST", "/v1/billing/credits/consume", { tenantId: tenant, unit: "tokens", amount: 10 });
    clock.advance(DAY);
    expect(await t.app.service(billingModule).credits.expireDue()).toBeGreaterThanOrEqual(1);
    const wallet = await walletOf(tenant);
    expect(wallet.balance).toBe(20);
    const ledger = await call(sk(), "GET", `/v1/billing/credits/ledger?tenantId=${tenant}`);
    expect((ledger.body.data as Json[])[0]).toMatchObject({
      kind: "expire",
      grantId: soon.id,
      amount: -20,
      balanceAfter: 20,
    });
    const grants = await call(sk(), "GET", `/v1/billing/credits/grants?tenantId=${tenant}`);
    expect((grants.body.data as Json[]).find((g) => g.id === soon.id)).toMatchObject({
      remaining: 0,
      expiredAt: new Date(clock.now()).toISOString(),
    });
    // Nothing is due any more.
    expect(await t.app.service(billingModule).credits.expireDue()).toBe(0);
    expect(await facts(tenant, "credits.expired")).toEqual(["credits.expired"]);
    // A grant past its expiry the job has not reached yet is not spendable either.
    clock.advance(5 * DAY);
    const late = await call(sk(), "POST", "/v1/billing/credits/consume", {
      tenantId: tenant,
      unit: "tokens",
      amount: 1,
    });
    expect(late.status).toBe(409);
    await t.app.service(billingModule).credits.expireDue();
    expect((await walletOf(tenant)).balance).toBe(0);
    await ledgerMatches(tenant);
  });

  it("holds: reserve takes off the balance, commit keeps the actual cost, release and TTL give it back", async () => {
    const tenant = await newTenant("Holds");
    await grant(tenant, 100);
    const reserve = (amount: number, ttlSeconds = 60) =>
      call(sk(), "POST", "/v1/billing/credits/holds", { tenantId: tenant, unit: "tokens", amount, ttlSeconds });
    const h1 = await reserve(60);
    expect(h1.status, JSON.stringify(h1.body)).toBe(201);
    expect(await walletOf(tenant)).toMatchObject({ balance: 40, held: 60 });
    expect((await reserve(41)).body.code).toBe("insufficient_credits");
    const over = await call(sk(), "POST", `/v1/billing/credits/holds/${h1.body.id}/commit`, { amount: 61 });
    expect(over.status).toBe(422);
    const committed = await call(sk(), "POST", `/v1/billing/credits/holds/${h1.body.id}/commit`, { amount: 25 });
    expect(committed.status, JSON.stringify(committed.body)).toBe(200);
    expect(committed.body).toMatchObject({ status: "committed", committedAmount: 25 });
    expect(await walletOf(tenant)).toMatchObject({ balance: 75, held: 0 });
    const again = await call(sk(), "POST", `/v1/billing/credits/holds/${h1.body.id}/release`);
    expect(again.status).toBe(409);
    expect(again.body.code).toBe("credit_hold_not_open");

    const h2 = await reserve(30);
    const released = await call(sk(), "POST", `/v1/billing/credits/holds/${h2.body.id}/release`);
    expect(released.body.status).toBe("released");
    expect((await walletOf(tenant)).balance).toBe(75);

    const h3 = await reserve(70, 30);
    expect((await walletOf(tenant)).balance).toBe(5);
    clock.advance(31_000);
    // Past its TTL the hold cannot be committed, and its credits are back.
    const late = await call(sk(), "POST", `/v1/billing/credits/holds/${h3.body.id}/commit`, { amount: 1 });
    expect(late.status).toBe(409);
    expect(late.body.code).toBe("credit_hold_not_open");
    const h3b = await reserve(75);
    expect(h3b.status).toBe(201);
    expect((await call(sk(), "GET", `/v1/billing/credits/holds/${h3.body.id}`)).body.status).toBe("expired");
    await call(sk(), "POST", `/v1/billing/credits/holds/${h3b.body.id}/release`);
    expect((await walletOf(tenant)).balance).toBe(75);
    // And the job expires an idle wallet's holds.
    const h4 = await reserve(10, 5);
    clock.advance(6_000);
    expect(await t.app.service(billingModule).credits.expireDue()).toBe(1);
    expect((await call(sk(), "GET", `/v1/billing/credits/holds/${h4.body.id}`)).body.status).toBe("expired");
    expect(await walletOf(tenant)).toMatchObject({ balance: 75, held: 0 });
    expect(await facts(tenant, "credit_hold.")).toEqual([
      "credit_hold.reserved",
      "credit_hold.committed",
      "credit_hold.reserved",
      "credit_hold.released",
      "credit_hold.reserved",
      "credit_hold.expired",
      "credit_hold.reserved",
      "credit_hold.released",
      "credit_hold.reserved",
      "credit_hold.expired",
    ]);
    await ledgerMatches(tenant);
  });

  it("a hold's unused part returned to a grant that expired meanwhile expires at once", async () => {
    const tenant = await newTenant("Hold expiry");
    await grant(tenant, 50, { expiresAt: clock.now() + 60_000 });
    const hold = await call(sk(), "POST", "/v1/billing/credits/holds", {
      tenantId: tenant,
      unit: "tokens",
      amount: 40,
      ttlSeconds: 3600,
    });
    clock.advance(61_000);
    await t.app.service(billingModule).credits.expireDue();
    expect((await walletOf(tenant)).balance).toBe(0);
    const committed = await call(sk(), "POST", `/v1/billing/credits/holds/${hold.body.id}/commit`, { amount: 15 });
    expect(committed.status).toBe(200);
    expect(await walletOf(tenant)).toMatchObject({ balance: 0, held: 0 });
    const ledger = (await call(sk(), "GET", `/v1/billing/credits/ledger?tenantId=${tenant}`)).body.data as Json[];
    expect(ledger.slice(0, 2).map((e) => [e.kind, e.amount])).toEqual([
      ["expire", -25],
      ["release", 25],
    ]);
    await ledgerMatches(tenant);
  });

  it("low balance once per crossing, depleted at zero, and a zero balance blocks through the entitlement check", async () => {
    const tenant = await newTenant("Threshold");
    const g = await grant(tenant, 100);
    const patched = await call(sk(), "PATCH", `/v1/billing/credits/wallets/${g.walletId}`, {
      lowBalanceThreshold: 20,
      blockFeature: "ai-credits",
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    const check = async () =>
      (await call(sk(), "POST", "/v1/entitlements/check", { tenantId: tenant, feature: "ai-credits" })).body.allowed;
    expect(await check()).toBe(true);
    const consume = (amount: number) =>
      call(sk(), "POST", "/v1/billing/credits/consume", { tenantId: tenant, unit: "tokens", amount });
    await consume(70);
    expect(await facts(tenant, "credits.low_balance")).toEqual([]);
    await consume(15);
    await consume(5);
    expect(await facts(tenant, "credits.low_balance")).toHaveLength(1);
    await consume(10);
    expect(await facts(tenant, "credits.depleted")).toHaveLength(1);
    expect(await check()).toBe(false);
    // A top-up switches the feature back on and arms the threshold again.
    await grant(tenant, 50, { source: "top_up" });
    expect(await check()).toBe(true);
    await consume(40);
    expect(await facts(tenant, "credits.low_balance")).toHaveLength(2);
    const entitlementFacts = await facts(tenant, "entitlement.set");
    expect(entitlementFacts).toHaveLength(3);
    expect(await facts(tenant, "credit_wallet.updated")).toHaveLength(1);
    await ledgerMatches(tenant);
  });

  it("plan credits are granted when the subscription starts and at each renewal", async () => {
    const PLAN = { key: "credits-plan", name: "Credits", interval: "month", currency: "USD", fixedFee: "10.00" };
    const plan = await call(sk(), "POST", "/v1/billing/plans", {
      ...PLAN,
      credits: [
        { unit: "tokens", amount: 1000, expiresAfterDays: 40 },
        { unit: "USD", amount: 500 },
      ],
    });
    expect(plan.status, JSON.stringify(plan.body)).toBe(201);
    expect((plan.body.currentVersion as Json).credits).toHaveLength(2);
    for (const credits of [[{ unit: "XXX", amount: 1 }], [{ unit: "tokens", amount: 0.5 }], [{ unit: "tokens" }]]) {
      const bad = await call(sk(), "POST", "/v1/billing/plans", { ...PLAN, key: "bad-credits", credits });
      expect(bad.status, JSON.stringify(credits)).toBe(400);
    }
    const tenant = await newTenant("Subscriber");
    const sub = await call(sk(), "POST", "/v1/billing/subscriptions", { tenantId: tenant, plan: "credits-plan" });
    expect(sub.status, JSON.stringify(sub.body)).toBe(201);
    expect((await walletOf(tenant)).balance).toBe(1000);
    expect((await walletOf(tenant, "USD")).balance).toBe(500);
    await call(sk(), "POST", "/v1/billing/credits/consume", { tenantId: tenant, unit: "tokens", amount: 400 });
    clock.set(Date.parse(sub.body.currentPeriodEnd as string));
    expect(await t.app.service(billingModule).subscriptions.advance(sub.body.id as string)).toBe(true);
    // The new period's grant; the last period's 600 expire 40 days after it started. The period's
    // invoice (10.00 USD) was paid from the 5.00 USD of credits first, then the renewal granted 5.00.
    expect((await walletOf(tenant)).balance).toBe(1600);
    expect((await walletOf(tenant, "USD")).balance).toBe(500);
    clock.set(Date.parse(sub.body.currentPeriodStart as string) + 40 * DAY);
    await t.app.service(billingModule).credits.expireDue();
    expect((await walletOf(tenant)).balance).toBe(1000);
    const grants = (await call(sk(), "GET", `/v1/billing/credits/grants?tenantId=${tenant}`)).body.data as Json[];
    expect(grants.every((g) => g.source === "plan" && g.reference === sub.body.id)).toBe(true);
    await ledgerMatches(tenant);
  });

  it("money credits apply to an invoice total in its currency, and an overpayment is granted in a caller's transaction", async () => {
    const tenant = await newTenant("Invoice");
    const credits = t.app.service(billingModule).credits;
    const ctx = systemContext(newId("request"), "billing");
    await t.app.db.transaction((tx) =>
      credits.grantIn(tx, ctx, {
        environmentId: p.a.id,
        tenantId: tenant,
        unit: "EUR",
        amount: 1250,
        source: "overpayment",
        reference: "in_x",
      }),
    );
    expect((await walletOf(tenant, "EUR")).balance).toBe(1250);
    const apply = (amount: number, currency = "EUR") =>
      t.app.db.transaction((tx) => credits.consumeForInvoice(tx, ctx, p.a.id, tenant, currency, amount, "in_1"));
    expect(await apply(1000, "USD")).toBe(0);
    expect(await apply(1000)).toBe(1000);
    expect(await apply(1000)).toBe(250);
    expect(await apply(1000)).toBe(0);
    const ledger = (await call(sk(), "GET", `/v1/billing/credits/ledger?tenantId=${tenant}`)).body.data as Json[];
    expect(ledger.filter((e) => e.kind === "consume").every((e) => e.reference === "in_1")).toBe(true);
    // A rolled-back finalization applies nothing.
    await grant(tenant, 100, { unit: "EUR" });
    await expect(
      t.app.db.transaction(async (tx) => {
        await credits.consumeForInvoice(tx, ctx, p.a.id, tenant, "EUR", 100, "in_2");
        throw new Error("finalization failed");
      }),
    ).rejects.toThrow("finalization failed");
    expect((await walletOf(tenant, "EUR")).balance).toBe(100);
    await ledgerMatches(tenant);
  });

  it("50 concurrent consumers never drive one balance below zero", async () => {
    const tenant = await newTenant("Race");
    await grant(tenant, 60, { expiresAt: clock.now() + DAY });
    await grant(tenant, 40);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        i % 2 === 0
          ? call(sk(), "POST", "/v1/billing/credits/consume", { tenantId: tenant, unit: "tokens", amount: 7 })
          : call(sk(), "POST", "/v1/billing/credits/holds", { tenantId: tenant, unit: "tokens", amount: 7 }),
      ),
    );
    const won = results.filter((r) => r.status === 200 || r.status === 201);
    expect(won).toHaveLength(14);
    expect(results.every((r) => r.status === 200 || r.status === 201 || r.body.code === "insufficient_credits")).toBe(
      true,
    );
    expect((await walletOf(tenant)).balance).toBe(2);
    await ledgerMatches(tenant);
  });

  it("the balance always equals the ledger's sum after random operations", async () => {
    const tenant = await newTenant("Random");
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const open: string[] = [];
    for (let step = 0; step < 120; step++) {
      const op = rand(6);
      if (op === 0) {
        await grant(tenant, 1 + rand(50), rand(2) === 0 ? { expiresAt: clock.now() + (1 + rand(20)) * 60_000 } : {});
      } else if (op === 1) {
        await call(sk(), "POST", "/v1/billing/credits/consume", {
          tenantId: tenant,
          unit: "tokens",
          amount: 1 + rand(30),
        });
      } else if (op === 2) {
        const res = await call(sk(), "POST", "/v1/billing/credits/holds", {
          tenantId: tenant,
          unit: "tokens",
          amount: 1 + rand(30),
          ttlSeconds: 60 + rand(600),
        });
        if (res.status === 201) open.push(res.body.id as string);
      } else if (op === 3 && open.length > 0) {
        const id = open.splice(rand(open.length), 1)[0] as string;
        const hold = (await call(sk(), "GET", `/v1/billing/credits/holds/${id}`)).body;
        await call(sk(), "POST", `/v1/billing/credits/holds/${id}/commit`, {
          amount: rand((hold.amount as number) + 1),
        });
      } else if (op === 4 && open.length > 0) {
        await call(sk(), "POST", `/v1/billing/credits/holds/${open.pop()}/release`);
      } else {
        clock.advance(rand(5) * 60_000);
        if (rand(2) === 0) await t.app.service(billingModule).credits.expireDue();
      }
      if (step % 10 === 0) await ledgerMatches(tenant);
    }
    await ledgerMatches(tenant);
  });

  describe("isolation and idempotency", () => {
    it("another tenant's or environment's wallet and hold answer 404; a tenant reads its own wallets", async () => {
      const a = await newTenant("Own");
      const b = await newTenant("Other");
      const keyOf = async (tenantId: string) =>
        (await call(sk(), "POST", `/v1/tenants/${tenantId}/keys`, { name: "k", permissions: ["*"] })).body
          .token as string;
      const [keyA, keyB] = [await keyOf(a), await keyOf(b)];
      const g = await grant(a, 10);
      const hold = await call(sk(), "POST", "/v1/billing/credits/holds", { tenantId: a, unit: "tokens", amount: 3 });
      expect((await call(keyA, "GET", `/v1/billing/credits/wallets/${g.walletId}`)).status).toBe(200);
      expect((await call(keyB, "GET", `/v1/billing/credits/wallets/${g.walletId}`)).status).toBe(404);
      expect((await call(keyB, "GET", `/v1/billing/credits/holds/${hold.body.id}`)).status).toBe(404);
      expect((await call(p.b.secretKey, "GET", `/v1/billing/credits/wallets/${g.walletId}`)).status).toBe(404);
      expect((await call(p.b.secretKey, "POST", `/v1/billing/credits/holds/${hold.body.id}/release`)).status).toBe(404);
      const own = await call(keyA, "GET", `/v1/tenants/${a}/billing/credits`);
      expect(own.status).toBe(200);
      expect((own.body.data as Json[]).map((w) => w.balance)).toEqual([7]);
      expect((await call(keyB, "GET", `/v1/tenants/${a}/billing/credits`)).status).toBe(404);
      expect(((await call(keyB, "GET", "/v1/billing/credits/ledger")).body.data as Json[]).length).toBe(0);
    });

    it("a grant POSTed twice with one Idempotency-Key is granted once", async () => {
      const tenant = await newTenant("Idem");
      const body = { tenantId: tenant, unit: "tokens", amount: 5, source: "top_up", reference: "order-1" };
      const headers = { "idempotency-key": "topup-order-1" };
      const first = await call(sk(), "POST", "/v1/billing/credits/grants", body, headers);
      const second = await call(sk(), "POST", "/v1/billing/credits/grants", body, headers);
      expect(first.status).toBe(201);
      expect(second.body.id).toBe(first.body.id);
      expect((await walletOf(tenant)).balance).toBe(5);
    });

    it("refuses bad input with a 4xx and changes nothing", async () => {
      const tenant = await newTenant("Bad");
      const bad: Array<[Json, number]> = [
        [{ tenantId: tenant, unit: "tokens", amount: 0 }, 400],
        [{ tenantId: tenant, unit: "tokens", amount: 1.5 }, 400],
        [{ tenantId: tenant, unit: "XXX", amount: 1 }, 400],
        [{ tenantId: tenant, unit: "Tokens", amount: 1 }, 400],
        [{ tenantId: tenant, unit: "tokens", amount: 1, source: "plan" }, 400],
        [{ tenantId: tenant, unit: "tokens", amount: 1, expiresAt: clock.now() - 1 }, 422],
      ];
      for (const [body, status] of bad) {
        expect((await call(sk(), "POST", "/v1/billing/credits/grants", body)).status, JSON.stringify(body)).toBe(
          status,
        );
      }
      expect(await walletOf(tenant)).toBeUndefined();
    });
  });
});
