import { afterAll, beforeAll, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { type Json, manifestClient } from "../../testing/manifest.js";

// The events module's manifest sections: `eventTypes` (the types an environment registers, with
// their data schemas; left out: deprecated) and `eventSettings` (one item: the log's retention).
// Each change is made through the catalog's own write path, so it records the catalog's own facts.

const DAY = 86_400_000;
const SHIPMENT_SCHEMA = {
  type: "object",
  properties: { amount: { type: "integer", minimum: 0 }, currency: { type: "string" } },
  required: ["amount"],
};

describeEachEngine("events manifest sections", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  const clock = new TestClock(Date.parse("2026-12-01T09:00:00.000Z"));

  const { call, op, plan, apply, exported, byKey, audit } = manifestClient(() => ({ t, p }));
  const ours = (manifest: Record<string, Json[]>) => ({
    eventTypes: manifest.eventTypes as Json[],
    eventSettings: manifest.eventSettings as Json[],
  });
  const types = async (secretKey: string) => (await call(secretKey, "GET", "/v1/events/types")).body.data as Json[];
  const typeNamed = async (secretKey: string, name: string) =>
    (await types(secretKey)).find((x) => x.name === name) as Json;

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
    const sk = p.a.secretKey;
    for (const type of [
      { name: "shipment.paid", description: "A shipment was paid", schema: SHIPMENT_SCHEMA },
      { name: "order.shipped", description: "An order left the warehouse" },
      { name: "legacy.thing", description: "Old" },
    ]) {
      const res = await call(sk, "POST", "/v1/events/types", type);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }
    const legacy = await typeNamed(sk, "legacy.thing");
    expect((await call(sk, "PATCH", `/v1/events/types/${legacy.id}`, { deprecated: true })).status).toBe(200);
    expect((await call(sk, "PATCH", "/v1/events/settings", { retentionDays: 90 })).status).toBe(200);
  });
  afterAll(async () => t?.close());

  it("exports the environment's registered types (not the plane's, not deprecated ones) and its retention", async () => {
    const manifest = await exported(p.a.id);
    expect(ours(manifest)).toEqual({
      eventTypes: [
        { name: "order.shipped", description: "An order left the warehouse", schema: null },
        { name: "shipment.paid", description: "A shipment was paid", schema: SHIPMENT_SCHEMA },
      ],
      eventSettings: [{ key: "environment", retentionDays: 90 }],
    });
    // An environment that never set its retention exports the plane's default.
    expect((await exported(p.b.id)).eventSettings).toEqual([{ key: "environment", retentionDays: 30 }]);
    expect((await exported(p.b.id)).eventTypes).toEqual([]);
  });

  it("round trip: export A → plan on B → apply → no difference left, the catalog's facts recorded", async () => {
    const source = ours(await exported(p.a.id));
    const first = await plan(p.b.id, source);
    expect(first.changes.map((c) => `${c.action} ${c.section}:${c.key} ${c.risk}`)).toEqual([
      "create eventTypes:order.shipped additive",
      "create eventTypes:shipment.paid additive",
      "update eventSettings:environment behaviour",
    ]);
    expect(byKey(first, "environment").summary).toBe("Keeps events for 90 days instead of 30.");
    const applied = await apply(p.b.id, source, first.liveHash);
    expect(applied.status, JSON.stringify(applied.body)).toBe(200);
    expect((await plan(p.b.id, source)).changes).toEqual([]);
    expect(ours(await exported(p.b.id))).toEqual(source);

    const created = await audit(p.b.secretKey, "event_type.created");
    expect(
      created
        .map((e) => e.metadata)
        .sort((a, b) => ((a as Json).name as string).localeCompare((b as Json).name as string)),
    ).toEqual([
      { name: "order.shipped", version: 1 },
      { name: "shipment.paid", version: 1 },
    ]);
    const settings = await audit(p.b.secretKey, "event_settings.updated");
    expect(settings).toHaveLength(1);
    expect(settings[0]?.changes).toEqual({ before: { retentionDays: 30 }, after: { retentionDays: 90 } });
    // The schema is in force on B: data that does not match it is refused.
    const bad = await call(p.b.secretKey, "POST", "/v1/events", { type: "shipment.paid", data: { amount: -1 } });
    expect(bad.status).toBe(422);
    const good = await call(p.b.secretKey, "POST", "/v1/events", { type: "shipment.paid", data: { amount: 5 } });
    expect(good.status, JSON.stringify(good.body)).toBe(201);
  });

  it("classifies type changes: descriptions additive, schemas behaviour, a left-out type deprecated", async () => {
    const sk = p.b.secretKey;
    const manifest = {
      eventTypes: [
        // A stricter schema: behaviour (and a new version).
        {
          name: "shipment.paid",
          description: "A shipment was paid",
          schema: { ...SHIPMENT_SCHEMA, required: ["amount", "currency"] },
        },
        // `order.shipped` left out: deprecated.
        { name: "refund.issued", description: "A refund was issued" },
      ],
    };
    const planned = await plan(p.b.id, manifest);
    expect(byKey(planned, "shipment.paid")).toMatchObject({ action: "update", risk: "behaviour", blocked: null });
    expect(byKey(planned, "shipment.paid").summary).toContain("changes its data schema");
    expect(byKey(planned, "refund.issued")).toMatchObject({ action: "create", risk: "additive", blocked: null });
    expect(byKey(planned, "order.shipped")).toMatchObject({ action: "delete", risk: "behaviour", blocked: null });
    expect(byKey(planned, "order.shipped").summary).toContain("Deprecates event type `order.shipped`");
    expect(planned.summary).toMatchObject({ changes: 3, additive: 1, behaviour: 2, destructive: 0 });

    const applied = await apply(p.b.id, manifest, planned.liveHash);
    expect(applied.status, JSON.stringify(applied.body)).toBe(200);
    expect(await typeNamed(sk, "shipment.paid")).toMatchObject({ version: 2, deprecatedAt: null });
    expect((await typeNamed(sk, "order.shipped")).deprecatedAt).not.toBeNull();
    const missingCurrency = await call(sk, "POST", "/v1/events", { type: "shipment.paid", data: { amount: 5 } });
    expect(missingCurrency.status).toBe(422);
    const updated = await audit(sk, "event_type.updated");
    expect(updated.map((e) => (e.changes as { after: Json }).after)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ version: 2, deprecatedAt: null }),
        expect.objectContaining({ version: 1, deprecatedAt: expect.any(String) }),
      ]),
    );

    // A description-only change is additive; declaring the deprecated type again restores it.
    const next = {
      eventTypes: [
        ...manifest.eventTypes.filter((x) => x.name !== "refund.issued"),
        { name: "refund.issued", description: "Money went back" },
        { name: "order.shipped", description: "An order left the warehouse" },
      ],
    };
    const again = await plan(p.b.id, next);
    expect(byKey(again, "refund.issued")).toMatchObject({ action: "update", risk: "additive" });
    expect(byKey(again, "order.shipped")).toMatchObject({ action: "create", risk: "additive", blocked: null });
    expect(byKey(again, "order.shipped").summary).toBe("Restores deprecated event type `order.shipped`.");
    expect((await apply(p.b.id, next, again.liveHash)).status).toBe(200);
    expect(await typeNamed(sk, "order.shipped")).toMatchObject({ deprecatedAt: null, version: 1 });
    expect((await plan(p.b.id, next)).changes).toEqual([]);
  });

  it("refuses blocked changes (a plane type, removing the settings), applying nothing", async () => {
    const live = ours(await exported(p.b.id));
    const manifest = {
      eventTypes: [
        ...live.eventTypes,
        { name: "tenant.created", description: "Mine" },
        { name: "coupon.redeemed", description: "A coupon was redeemed" },
      ],
      eventSettings: [],
    };
    const planned = await plan(p.b.id, manifest);
    expect(byKey(planned, "tenant.created").blocked).toContain("one of the plane's own event types");
    expect(byKey(planned, "coupon.redeemed")).toMatchObject({ risk: "additive", blocked: null });
    expect(byKey(planned, "environment")).toMatchObject({ action: "delete" });
    expect(byKey(planned, "environment").blocked).toContain("cannot be removed, only changed");
    const refused = await apply(p.b.id, manifest, planned.liveHash, true);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe("manifest_blocked");
    expect((refused.body.errors as Json[]).map((e) => e.path).sort()).toEqual([
      "manifest.eventSettings.environment",
      "manifest.eventTypes.tenant.created",
    ]);
    expect(await typeNamed(p.b.secretKey, "coupon.redeemed")).toBeUndefined();
    expect(ours(await exported(p.b.id))).toEqual(live);

    // A key other than `environment` is not a settings item.
    const bad = await op("POST", "/v1/manifest/plan", p.b.id, {
      manifest: { eventSettings: [{ key: "tenant", retentionDays: 7 }] },
    });
    expect(bad.status).toBe(400);
    expect((bad.body.errors as Json[]).map((e) => e.path)).toEqual(["body.manifest.eventSettings.0.key"]);
  });

  it("a support operator reads event types but not the settings, and cannot apply", async () => {
    const res = await call(p.supportToken, "GET", "/v1/manifest", undefined, p.b.id);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body.manifest as Json)).toContain("eventTypes");
    expect(res.body.omitted).toEqual(
      expect.arrayContaining([{ section: "eventSettings", reason: expect.any(String) }]),
    );
    const planned = await call(p.supportToken, "POST", "/v1/manifest/plan", { manifest: { eventTypes: [] } }, p.b.id);
    expect(planned.status).toBe(200);
    const applied = await call(
      p.supportToken,
      "POST",
      "/v1/manifest/apply",
      { manifest: { eventTypes: [] }, liveHash: planned.body.liveHash },
      p.b.id,
    );
    expect(applied.status).toBe(403);
    expect((await exported(p.b.id)).eventTypes?.length).toBeGreaterThan(0);
  });

  it("shortening the retention is destructive and counts the events the prune will delete", async () => {
    const sk = p.b.secretKey;
    const live = ours(await exported(p.b.id));
    // Everything in B's log so far happened now; ten days later it is ten days old.
    const before = (await call(sk, "GET", "/v1/events?limit=100")).body.data as Json[];
    expect(before.length).toBeGreaterThan(0);
    clock.advance(10 * DAY);
    const recent = await call(sk, "POST", "/v1/events", { type: "refund.issued", data: {} });
    expect(recent.status, JSON.stringify(recent.body)).toBe(201);

    const shorter = { ...live, eventSettings: [{ key: "environment", retentionDays: 7 }] };
    const planned = await plan(p.b.id, shorter);
    expect(byKey(planned, "environment")).toMatchObject({
      action: "update",
      risk: "destructive",
      affected: [{ count: before.length, what: "events older than 7 days, deleted at the next prune" }],
      blocked: null,
    });
    // A retention that still covers them all deletes nothing: destructive, nothing counted.
    const covering = await plan(p.b.id, { eventSettings: [{ key: "environment", retentionDays: 20 }] });
    expect(byKey(covering, "environment")).toMatchObject({ risk: "destructive", affected: [] });

    const refused = await apply(p.b.id, shorter, planned.liveHash);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe("manifest_destructive");
    expect((refused.body.errors as Json[]).map((e) => e.path)).toEqual(["manifest.eventSettings.environment"]);
    expect((await call(sk, "GET", "/v1/events/settings")).body.retentionDays).toBe(90);

    const done = await apply(p.b.id, shorter, planned.liveHash, true);
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect((await call(sk, "GET", "/v1/events/settings")).body.retentionDays).toBe(7);
    const settings = await audit(sk, "event_settings.updated");
    expect(settings[0]?.changes).toEqual({ before: { retentionDays: 90 }, after: { retentionDays: 7 } });
    expect(settings[0]?.actor).toMatchObject({ type: "operator" });
  });
});
