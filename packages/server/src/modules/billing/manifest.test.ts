import { afterAll, beforeAll, expect, it } from "vitest";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { type Json, type ManifestPlanBody, manifestClient } from "../../testing/manifest.js";

// The `plans` section: an environment's plans with their current price version. A changed price
// list is the plan's next version (live subscriptions stay on theirs); a plan left out is archived.

describeEachEngine("billing manifest: plans", (engine) => {
  let t: TestApp;
  let p: SeededPlane;

  const m = manifestClient(() => ({ t, p }));
  const { call, op, plan, apply, exported, audit } = m;
  const mine = (plan: ManifestPlanBody) => plan.changes.filter((c) => c.section === "plans");
  const byKey = (plan: ManifestPlanBody, key: string) => m.byKey(plan, key, "plans");
  const subscribe = async (key: string, planKey: string) => {
    const tenant = await call(key, "POST", "/v1/tenants", { name: `On ${planKey}` });
    expect(tenant.status, JSON.stringify(tenant.body)).toBe(201);
    const sub = await call(key, "POST", "/v1/billing/subscriptions", { tenantId: tenant.body.id, plan: planKey });
    expect(sub.status, JSON.stringify(sub.body)).toBe(201);
    return sub.body;
  };

  // What environment A's `pro` plan is once its version 2 exists, as the manifest declares it.
  const proItem = {
    key: "pro",
    name: "Pro",
    description: "For teams",
    interval: "month",
    currency: "USD",
    trialDays: 0,
    fixedFee: "49.00",
    charges: [
      {
        model: "graduated",
        meter: "tokens",
        description: "Tokens",
        tiers: [
          { upTo: "1000000", unitPrice: "0" },
          { upTo: null, unitPrice: "0.000002", flatFee: "1.00" },
        ],
      },
      { model: "per_unit", meter: "calls", unitPrice: "0.001", freeUnits: "100", minimum: "2.00" },
    ],
    entitlements: [
      { feature: "sso", enabled: true },
      { feature: "tokens", enabled: true, meter: "tokens", limit: 5000000, period: "month" },
    ],
    credits: [{ unit: "bonus_tokens", amount: 500, expiresAfterDays: 30 }],
  };

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
    const sk = p.a.secretKey;
    const meterIds: Record<string, string> = {};
    for (const meter of [
      { key: "tokens", eventType: "llm.call", aggregation: "sum", valuePath: "tokens" },
      { key: "calls", eventType: "llm.call", aggregation: "count" },
    ]) {
      const res = await call(sk, "POST", "/v1/usage/meters", meter);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      meterIds[meter.key] = res.body.id as string;
    }
    // Version 1 of `pro`, its meters named by id (the manifest names them by key).
    const pro = await call(sk, "POST", "/v1/billing/plans", {
      key: "pro",
      name: "Pro",
      description: "For teams",
      interval: "month",
      currency: "USD",
      fixedFee: "39.00",
      charges: [{ model: "per_unit", meter: meterIds.calls, unitPrice: "0.002" }],
    });
    expect(pro.status, JSON.stringify(pro.body)).toBe(201);
    // Version 2: the current one, what the manifest declares.
    const v2 = await call(sk, "POST", "/v1/billing/plans/pro/versions", {
      ...proItem,
      key: undefined,
      name: undefined,
      description: undefined,
      entitlements: [
        { feature: "tokens", meter: meterIds.tokens, limit: 5000000, period: "month" },
        { feature: "sso" },
      ],
    });
    expect(v2.status, JSON.stringify(v2.body)).toBe(201);
    for (const body of [
      { key: "basic", name: "Basic", interval: "year", currency: "EUR", fixedFee: "100", trialDays: 14 },
      { key: "old", name: "Old", interval: "month", currency: "USD" },
    ]) {
      expect((await call(sk, "POST", "/v1/billing/plans", body)).status).toBe(201);
    }
    expect((await call(sk, "POST", "/v1/billing/plans/old/archive")).status).toBe(200);
  });
  afterAll(async () => t?.close());

  it("exports the live plans, each with its current version, meters by key; archived plans are left out", async () => {
    const manifest = await exported(p.a.id);
    expect(manifest.plans).toEqual([
      {
        key: "basic",
        name: "Basic",
        description: "",
        interval: "year",
        currency: "EUR",
        trialDays: 14,
        fixedFee: "100",
        charges: [],
        entitlements: [],
        credits: [],
      },
      proItem,
    ]);
    // Exported as it is, the manifest plans no change.
    expect(mine(await plan(p.a.id, { plans: manifest.plans }))).toEqual([]);
    const bySecretKey = await call(p.a.secretKey, "GET", "/v1/manifest");
    expect((bySecretKey.body.manifest as Json).plans).toEqual(manifest.plans);
  });

  it("round trip: a plan pricing meters declared in the same manifest is created in one apply", async () => {
    const source = await exported(p.a.id);
    const manifest = { meters: source.meters, plans: source.plans };
    const first = await plan(p.b.id, manifest);
    expect(first.changes.map((c) => `${c.action} ${c.section}:${c.key}`)).toEqual([
      "create meters:calls",
      "create meters:tokens",
      "create plans:basic",
      "create plans:pro",
    ]);
    expect(first.changes.every((c) => c.risk === "additive" && c.blocked === null)).toBe(true);
    expect(byKey(first, "pro").summary).toContain("Adds plan `pro` (monthly, USD, fixed fee 49.00, 2 charges).");
    expect(byKey(first, "pro").summary).toContain("declare them under `meters`");
    const applied = await apply(p.b.id, manifest, first.liveHash);
    expect(applied.status, JSON.stringify(applied.body)).toBe(200);

    const again = await plan(p.b.id, manifest);
    expect(again.changes).toEqual([]);
    const target = await exported(p.b.id);
    expect(target.plans).toEqual(source.plans);
    expect(target.meters).toEqual(source.meters);
    // The plan's charges point at B's own meters.
    const pro = await call(p.b.secretKey, "GET", "/v1/billing/plans/pro");
    const meters = await call(p.b.secretKey, "GET", "/v1/usage/meters/tokens");
    const charges = (pro.body.currentVersion as Json).charges as Json[];
    expect(charges[0]).toMatchObject({ meter: "tokens", meterId: meters.body.id });
    const created = await audit(p.b.secretKey, "billing_plan.created");
    expect(created.map((e) => (e.metadata as Json).key).sort()).toEqual(["basic", "pro"]);
    expect(created.find((e) => (e.metadata as Json).key === "pro")?.metadata).toMatchObject({
      version: 1,
      currency: "USD",
      interval: "month",
    });
  });

  it("classifies changes: a new price version keeps subscriptions on theirs; archiving a plan in use is destructive", async () => {
    const sk = p.b.secretKey;
    const onPro = await subscribe(sk, "pro");
    for (const body of [
      { key: "legacy", name: "Legacy", interval: "month", currency: "USD", fixedFee: "5.00" },
      { key: "spare", name: "Spare", interval: "month", currency: "USD" },
    ]) {
      expect((await call(sk, "POST", "/v1/billing/plans", body)).status).toBe(201);
    }
    await subscribe(sk, "legacy");
    const live = await exported(p.b.id);
    const plans = live.plans as Json[];
    const manifest = {
      plans: [
        ...plans
          .filter((i) => !["legacy", "spare"].includes(i.key as string))
          .map((i) =>
            i.key === "pro"
              ? { ...i, fixedFee: "59.00", entitlements: [...(i.entitlements as Json[])].reverse() }
              : { ...i, name: "Basic (yearly)", description: "Billed once a year" },
          ),
        { key: "team", name: "Team", interval: "month", currency: "USD", fixedFee: "99.00" },
      ],
    };
    const planned = await plan(p.b.id, manifest);
    expect(mine(planned).map((c) => `${c.action}:${c.key}:${c.risk}`)).toEqual([
      "create:team:additive",
      "update:basic:additive",
      "update:pro:behaviour",
      "delete:legacy:destructive",
      "delete:spare:behaviour",
    ]);
    // Limits compare as a set: their order is no change.
    expect(byKey(planned, "pro")).toMatchObject({
      fields: ["fixedFee"],
      affected: [{ count: 1, what: "live subscriptions on plan `pro`" }],
      blocked: null,
    });
    expect(byKey(planned, "pro").summary).toContain("adds price version 2, changing its fixedFee");
    expect(byKey(planned, "pro").summary).toContain("its 1 live subscription stay on the versions they are on");
    expect(byKey(planned, "basic").summary).toBe('Plan `basic`: renames it "Basic (yearly)"; changes its description.');
    expect(byKey(planned, "legacy")).toMatchObject({
      affected: [{ count: 1, what: "live subscriptions on plan `legacy`" }],
      blocked: null,
    });
    expect(byKey(planned, "spare").affected).toEqual([]);

    const refused = await apply(p.b.id, manifest, planned.liveHash);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe("manifest_destructive");
    expect((refused.body.errors as Json[]).map((e) => e.path)).toEqual(["manifest.plans.legacy"]);
    expect(((await call(sk, "GET", "/v1/billing/plans/pro")).body.currentVersion as Json).version).toBe(1);
    expect((await call(sk, "GET", "/v1/billing/plans/team")).status).toBe(404);
    expect((await plan(p.b.id, manifest)).liveHash).toBe(planned.liveHash);

    const done = await apply(p.b.id, manifest, planned.liveHash, true);
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect((await plan(p.b.id, manifest)).changes).toEqual([]);

    const pro = await call(sk, "GET", "/v1/billing/plans/pro");
    expect(pro.body.currentVersion).toMatchObject({ version: 2, fixedFee: "59.00" });
    // The subscription stays on the version it was on.
    const sub = await call(sk, "GET", `/v1/billing/subscriptions/${onPro.id}`);
    expect(sub.body.planVersionId).toBe(onPro.planVersionId);
    expect(sub.body.planVersionId).not.toBe((pro.body.currentVersion as Json).id);
    for (const key of ["legacy", "spare"]) {
      expect((await call(sk, "GET", `/v1/billing/plans/${key}`)).body.archivedAt).not.toBeNull();
    }
    const basic = await call(sk, "GET", "/v1/billing/plans/basic");
    expect(basic.body).toMatchObject({ name: "Basic (yearly)", description: "Billed once a year" });
    expect((basic.body.currentVersion as Json).version).toBe(1);

    // Each change recorded the fact the API records.
    const versions = await audit(sk, "billing_plan.version_created");
    expect(versions.map((e) => e.metadata)).toEqual([{ key: "pro", version: 2, currency: "USD", interval: "month" }]);
    const archived = await audit(sk, "billing_plan.archived");
    expect(archived.map((e) => (e.metadata as Json).key).sort()).toEqual(["legacy", "spare"]);
    const updated = await audit(sk, "billing_plan.updated");
    expect(updated).toHaveLength(1);
    expect(updated[0]?.changes).toEqual({
      before: { name: "Basic", description: "" },
      after: { name: "Basic (yearly)", description: "Billed once a year" },
    });
    const created = await audit(sk, "billing_plan.created");
    expect(created.filter((e) => (e.metadata as Json).key === "team")).toHaveLength(1);
  });

  it("refuses blocked changes (a reused key, prices the API refuses), applying nothing", async () => {
    const sk = p.b.secretKey;
    const maxMeter = await call(sk, "POST", "/v1/usage/meters", {
      key: "seats",
      eventType: "seat.used",
      aggregation: "max",
      valuePath: "n",
    });
    expect(maxMeter.status).toBe(201);
    const live = await exported(p.b.id);
    const plans = live.plans as Json[];
    const manifest = {
      plans: [
        ...plans.map((i) => (i.key === "basic" ? { ...i, fixedFee: "100.005" } : i)), // 3 places in EUR
        { key: "legacy", name: "Legacy again", interval: "month", currency: "USD" }, // archived key
        {
          key: "seated",
          name: "Seated",
          interval: "month",
          currency: "USD",
          charges: [{ model: "per_unit", meter: "seats", unitPrice: "5" }], // a `max` meter
        },
        {
          key: "limited",
          name: "Limited",
          interval: "month",
          currency: "USD",
          entitlements: [{ feature: "seats", meter: "seats", limit: 10, period: "month" }],
        },
        { key: "fine", name: "Fine", interval: "week", currency: "JPY", fixedFee: "500" },
      ],
    };
    const planned = await plan(p.b.id, manifest);
    expect(byKey(planned, "legacy").blocked).toContain("plan keys are never reused");
    expect(byKey(planned, "basic")).toMatchObject({ action: "update", risk: "behaviour" });
    expect(byKey(planned, "basic").blocked).toBe(
      "The price list would be refused (invalid_price): fixedFee: at most 2 decimal places in EUR.",
    );
    expect(byKey(planned, "seated").blocked).toContain("meter_not_billable");
    expect(byKey(planned, "limited").blocked).toContain("meter_not_limitable");
    expect(byKey(planned, "fine").blocked).toBeNull();
    expect(planned.summary.blocked).toBe(4);

    const refused = await apply(p.b.id, manifest, planned.liveHash, true);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe("manifest_blocked");
    expect((refused.body.errors as Json[]).map((e) => e.path).sort()).toEqual([
      "manifest.plans.basic",
      "manifest.plans.legacy",
      "manifest.plans.limited",
      "manifest.plans.seated",
    ]);
    expect((await call(sk, "GET", "/v1/billing/plans/fine")).status).toBe(404);
    expect(((await call(sk, "GET", "/v1/billing/plans/basic")).body.currentVersion as Json).version).toBe(1);
    expect((await plan(p.b.id, manifest)).liveHash).toBe(planned.liveHash);
  });

  it("a plan pricing a meter declared nowhere is refused at apply, and nothing of the apply stays", async () => {
    const live = await exported(p.b.id);
    const manifest = {
      meters: [...(live.meters as Json[]), { key: "minutes", eventType: "call.ended", aggregation: "count" }],
      plans: [
        ...(live.plans as Json[]),
        {
          key: "ghost",
          name: "Ghost",
          interval: "month",
          currency: "USD",
          charges: [{ model: "per_unit", meter: "nowhere", unitPrice: "1" }],
        },
      ],
    };
    const planned = await plan(p.b.id, manifest);
    expect(byKey(planned, "ghost")).toMatchObject({ risk: "additive", blocked: null });
    expect(byKey(planned, "ghost").summary).toContain("`nowhere`");
    const failed = await apply(p.b.id, manifest, planned.liveHash);
    // Refused as a blocked change (the apply's own answer), with the module's reason.
    expect(failed.status).toBe(409);
    expect(failed.body.code).toBe("manifest_blocked");
    expect(failed.body.errors).toEqual([
      { path: "manifest.plans.ghost", message: "No meter nowhere.", code: "meter_not_found" },
    ]);
    expect((await call(p.b.secretKey, "GET", "/v1/usage/meters/minutes")).status).toBe(404);
    expect((await call(p.b.secretKey, "GET", "/v1/billing/plans/ghost")).status).toBe(404);
  });

  it("refuses meters named by id, and publishes the section in the manifest's JSON Schema", async () => {
    const meter = await call(p.b.secretKey, "GET", "/v1/usage/meters/tokens");
    const bad = await op("POST", "/v1/manifest/plan", p.b.id, {
      manifest: {
        plans: [
          {
            key: "byid",
            name: "By id",
            interval: "month",
            currency: "USD",
            charges: [{ model: "per_unit", meter: meter.body.id, unitPrice: "1" }],
            entitlements: [{ feature: "f", meter: meter.body.id, limit: 1, period: "month" }],
          },
          { key: "Bad Key", name: "x", interval: "month", currency: "usd" },
        ],
      },
    });
    expect(bad.status).toBe(400);
    expect((bad.body.errors as Json[]).map((e) => e.path)).toEqual([
      "body.manifest.plans.0.charges.0.meter",
      "body.manifest.plans.0.entitlements.0.meter",
      "body.manifest.plans.1.key",
      "body.manifest.plans.1.currency",
    ]);
    const res = await t.inject({ method: "GET", url: "/v1/manifest/schema" });
    const schema = res.json() as { properties: Record<string, { items?: Json }> };
    expect(schema.properties.plans?.items).toMatchObject({
      type: "object",
      required: expect.arrayContaining(["key", "name", "interval", "currency"]),
    });
  });
});
