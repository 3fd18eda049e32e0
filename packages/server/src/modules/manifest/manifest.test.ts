import { afterAll, beforeAll, expect, it } from "vitest";
import { z } from "zod";
import { MODULES } from "../../app.js";
import { AppError, PlatformErrors } from "../../platform/errors.js";
import { defineModule } from "../../platform/module.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { type Json, manifestClient } from "../../testing/manifest.js";
import { probeModule } from "../../testing/probe-module.js";

// A section that fails to apply the item keyed `explode`: an apply that reaches it must leave
// nothing of the changes before it (all or nothing, whatever the failing module).
const faultModule = defineModule({
  name: "fault",
  migrations: [],
  createService: () => ({}),
  manifest: () => [
    {
      name: "faults",
      description: "Test only.",
      item: z.strictObject({ key: z.string() }),
      keyOf: (i: { key: string }) => i.key,
      normalize: (i: { key: string }) => i,
      guard: () => undefined,
      lock: async () => undefined,
      live: async () => [],
      assess: async () => ({ risk: "additive" as const, summary: "Adds a fault.", affected: [], blocked: null }),
      apply: async (_tx, _ctx, _env, diff) => {
        if (diff.key === "explode") throw new AppError(PlatformErrors.not_found, "The fault section failed.");
      },
    },
  ],
});

describeEachEngine("manifest", (engine) => {
  let t: TestApp;
  let p: SeededPlane;

  const { call, op, plan, apply, exportBody: exported, byKey } = manifestClient(() => ({ t, p }));

  beforeAll(async () => {
    t = await createTestApp(engine, { modules: [...MODULES, probeModule, faultModule] });
    p = await seedPlane(t);
    const sk = p.a.secretKey;
    for (const role of [
      { key: "analyst", name: "Analyst", permissions: ["usage:read", "tenants:read"] },
      { key: "billing", name: "Billing", description: "Pays the bills", permissions: ["usage:read"] },
    ]) {
      expect((await call(sk, "POST", "/v1/roles", role)).status).toBe(201);
    }
    for (const meter of [
      { key: "tokens", eventType: "llm.call", aggregation: "sum", valuePath: "tokens", groupBy: { model: "model" } },
      { key: "calls", eventType: "llm.call", aggregation: "count" },
    ]) {
      expect((await call(sk, "POST", "/v1/usage/meters", meter)).status).toBe(201);
    }
    const surface = await op("POST", `/v1/environments/${p.a.id}/surfaces`, p.a.id, {
      name: "Customer portal",
      kind: "web",
      allowedOrigins: ["https://app.example.com"],
      scopeCeiling: ["usage:read", "tenants:read"],
    });
    expect(surface.status, JSON.stringify(surface.body)).toBe(201);
  });
  afterAll(async () => t?.close());

  it("exports an environment's configuration; a secret key is told which sections it may not read", async () => {
    const all = await exported(p.a.id);
    expect(Object.keys(all.manifest)).toEqual(expect.arrayContaining(["surfaces", "roles", "meters", "faults"]));
    expect(all.manifest.roles).toEqual([
      { key: "analyst", name: "Analyst", description: null, permissions: ["tenants:read", "usage:read"] },
      { key: "billing", name: "Billing", description: "Pays the bills", permissions: ["usage:read"] },
    ]);
    expect((all.manifest.meters as Json[]).map((m) => m.key)).toEqual(["calls", "tokens"]);
    expect((all.manifest.surfaces as Json[]).map((s) => s.name)).toEqual(["Customer portal", "Portal"]);
    expect(all.liveHash).toMatch(/^sha256:[0-9a-f]{64}$/);

    const bySecretKey = await call(p.a.secretKey, "GET", "/v1/manifest");
    expect(bySecretKey.status).toBe(200);
    expect(Object.keys(bySecretKey.body.manifest as Json)).toEqual(
      expect.arrayContaining(["roles", "meters", "faults"]),
    );
    expect(Object.keys(bySecretKey.body.manifest as Json)).not.toContain("surfaces");
    expect(bySecretKey.body.omitted).toEqual([{ section: "surfaces", reason: expect.any(String) }]);
    // A secret key that declares surfaces is refused, not silently half-planned.
    const refused = await call(p.a.secretKey, "POST", "/v1/manifest/plan", { manifest: { surfaces: [] } });
    expect(refused.status).toBe(403);
  });

  it("round trip: export → plan on an empty environment → apply → no difference left", async () => {
    const source = await exported(p.a.id);
    const first = await plan(p.b.id, source.manifest);
    const mine = ["surfaces", "roles", "meters"];
    expect(
      first.changes.filter((c) => mine.includes(c.section)).map((c) => `${c.action} ${c.section}:${c.key}`),
    ).toEqual([
      "create surfaces:Customer portal",
      "create roles:analyst",
      "create roles:billing",
      "create meters:calls",
      "create meters:tokens",
    ]);
    // Environment B's own `api` surface is the same as A's: no change for it.
    expect(first.changes.every((c) => c.risk === "additive" && c.blocked === null)).toBe(true);
    const applied = await apply(p.b.id, source.manifest, first.liveHash);
    expect(applied.status, JSON.stringify(applied.body)).toBe(200);
    expect(applied.body.manifestHash).toBe(first.manifestHash);

    const again = await plan(p.b.id, source.manifest);
    expect(again.changes).toEqual([]);
    expect(again.liveHash).toBe(applied.body.liveHash);
    const target = await exported(p.b.id);
    expect(target.manifest).toEqual(source.manifest);
    expect(target.liveHash).toBe(source.liveHash);

    // One audit entry per change, and one for the apply with the manifest's hash.
    const audit = await call(p.b.secretKey, "GET", "/v1/audit/entries?action=manifest.applied");
    const entries = audit.body.data as Json[];
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      metadata: { manifestHash: first.manifestHash, changes: first.summary.changes, additive: first.summary.changes },
    });
    const roles = await call(p.b.secretKey, "GET", "/v1/audit/entries?action=role.created");
    expect((roles.body.data as Json[]).length).toBe(2);
    const meters = await call(p.b.secretKey, "GET", "/v1/audit/entries?action=usage_meter.created");
    expect((meters.body.data as Json[]).length).toBe(2);
  });

  it("classifies each change by risk and counts what it affects", async () => {
    const sk = p.b.secretKey;
    const tenant = await call(sk, "POST", "/v1/tenants", { name: "Acme" });
    const tenantId = tenant.body.id as string;
    for (let i = 0; i < 3; i++) {
      const user = await call(sk, "POST", "/v1/users", { email: `analyst${i}@example.com` });
      const member = await call(sk, "POST", `/v1/tenants/${tenantId}/members`, {
        userId: user.body.id,
        roles: ["analyst"],
      });
      expect(member.status, JSON.stringify(member.body)).toBe(201);
    }
    const event = await call(sk, "POST", "/v1/usage/events", {
      id: "e1",
      type: "llm.call",
      subject: tenantId,
      data: { tokens: 5, model: "m" },
    });
    expect(event.status, JSON.stringify(event.body)).toBe(200);
    const live = (await exported(p.b.id)).manifest as Record<string, Json[]>;
    const edited = {
      roles: [
        { key: "analyst", name: "Analyst", permissions: ["usage:read"] }, // narrowed, held by 3
        { key: "billing", name: "Billing", description: "Pays", permissions: ["usage:read"] }, // description only
        { key: "support", name: "Support", permissions: ["tenants:read"] }, // new
      ],
      meters: [
        { key: "calls", eventType: "llm.call", aggregation: "count", description: "Calls" },
        // `tokens` left out: it has events
        { key: "seats", eventType: "seat.used", aggregation: "max", valuePath: "n" },
      ],
      surfaces: (live.surfaces as Json[]).map((s) =>
        s.name === "Customer portal"
          ? {
              ...s,
              scopeCeiling: ["usage:read"],
              allowedOrigins: ["https://app.example.com", "https://admin.example.com"],
            }
          : s,
      ),
    };
    const planned = await plan(p.b.id, edited);
    expect(byKey(planned, "analyst")).toMatchObject({
      action: "update",
      risk: "destructive",
      affected: [{ count: 3, what: "memberships hold role `analyst`" }],
      blocked: null,
    });
    expect(byKey(planned, "analyst").summary).toContain("removes `tenants:read`");
    expect(byKey(planned, "billing")).toMatchObject({ action: "update", risk: "additive" });
    expect(byKey(planned, "support")).toMatchObject({ action: "create", risk: "additive" });
    expect(byKey(planned, "calls")).toMatchObject({ action: "update", risk: "additive" });
    expect(byKey(planned, "seats")).toMatchObject({ action: "create", risk: "additive" });
    expect(byKey(planned, "tokens")).toMatchObject({
      action: "delete",
      risk: "destructive",
      affected: [{ count: 1, what: "usage events recorded by meter `tokens` (1 tenant)" }],
    });
    expect(byKey(planned, "Customer portal")).toMatchObject({ action: "update", risk: "destructive" });
    expect(byKey(planned, "Customer portal").summary).toContain(
      "tightens its scope ceiling (no longer `tenants:read`)",
    );
    expect(planned.summary).toMatchObject({ changes: 7, destructive: 3, additive: 4, blocked: 0 });

    // Widening only is a behaviour change; removing a permission from an unused role too.
    const widened = await plan(p.b.id, {
      roles: [
        { key: "analyst", name: "Analyst", permissions: ["usage:read", "tenants:read", "tenants:update"] },
        { key: "billing", name: "Billing", description: "Pays the bills", permissions: ["usage:*"] },
      ],
    });
    expect(byKey(widened, "analyst")).toMatchObject({ risk: "behaviour" });
    expect(byKey(widened, "billing")).toMatchObject({ risk: "behaviour" });

    // Destructive changes need allowDestructive; nothing is applied without it.
    const refused = await apply(p.b.id, edited, planned.liveHash);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe("manifest_destructive");
    expect((refused.body.errors as Json[]).map((e) => e.path)).toEqual([
      "manifest.surfaces.Customer portal",
      "manifest.roles.analyst",
      "manifest.meters.tokens",
    ]);
    expect((await plan(p.b.id, edited)).liveHash).toBe(planned.liveHash);

    const done = await apply(p.b.id, edited, planned.liveHash, true);
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect((await plan(p.b.id, edited)).changes).toEqual([]);
    const tokens = await call(sk, "GET", "/v1/usage/meters/tokens");
    expect(tokens.body.archivedAt).not.toBeNull();
  });

  it("refuses blocked changes (a role still held, a meter definition with events, a reused key), applying nothing", async () => {
    const live = (await exported(p.b.id)).manifest as Record<string, Json[]>;
    const manifest = {
      roles: (live.roles as Json[]).filter((r) => r.key !== "analyst"), // held by 3 memberships
      meters: [
        ...(live.meters as Json[]).filter((m) => m.key !== "calls"),
        { key: "calls", eventType: "llm.call", aggregation: "count", groupBy: { model: "model" } },
        { key: "tokens", eventType: "llm.call", aggregation: "count" }, // archived key
        { key: "fresh", eventType: "x", aggregation: "count" },
      ],
    };
    const planned = await plan(p.b.id, manifest);
    expect(byKey(planned, "analyst")).toMatchObject({ action: "delete", risk: "destructive" });
    expect(byKey(planned, "analyst").blocked).toContain("held by 3 memberships");
    expect(byKey(planned, "tokens").blocked).toContain("never reused");
    expect(byKey(planned, "fresh").blocked).toBeNull();
    const refused = await apply(p.b.id, manifest, planned.liveHash, true);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe("manifest_blocked");
    expect((await call(p.b.secretKey, "GET", "/v1/usage/meters/fresh")).status).toBe(404);
  });

  it("refuses a stale plan: the configuration changed since", async () => {
    const live = (await exported(p.b.id)).manifest as Record<string, Json[]>;
    const manifest = {
      roles: [...(live.roles as Json[]), { key: "auditor", name: "Auditor", permissions: ["audit:read"] }],
    };
    const planned = await plan(p.b.id, manifest);
    const changed = await call(p.b.secretKey, "PATCH", "/v1/roles/billing", { description: "Changed by hand" });
    expect(changed.status).toBe(200);
    const stale = await apply(p.b.id, manifest, planned.liveHash);
    expect(stale.status).toBe(409);
    expect(stale.body.code).toBe("manifest_stale");
    expect((await call(p.b.secretKey, "GET", "/v1/roles/auditor")).status).toBe(404);
    // Planned again, it shows the hand-made change it would revert, and applies.
    const fresh = await plan(p.b.id, manifest);
    expect(fresh.changes.map((c) => `${c.action}:${c.key}`)).toEqual(["create:auditor", "update:billing"]);
    expect((await apply(p.b.id, manifest, fresh.liveHash)).status).toBe(200);
  });

  it("applies all or nothing: a change that fails rolls back every change before it", async () => {
    const live = (await exported(p.b.id)).manifest as Record<string, Json[]>;
    const manifest = {
      roles: [...(live.roles as Json[]), { key: "doomed", name: "Doomed", permissions: ["usage:read"] }],
      meters: [...(live.meters as Json[]), { key: "doomed", eventType: "x", aggregation: "count" }],
      faults: [{ key: "explode" }],
    };
    const planned = await plan(p.b.id, manifest);
    expect(planned.summary.changes).toBe(3);
    const before = await call(p.b.secretKey, "GET", "/v1/audit/entries?limit=100");
    const failed = await apply(p.b.id, manifest, planned.liveHash);
    expect(failed.status).toBe(409);
    expect(failed.body).toMatchObject({
      code: "manifest_blocked",
      errors: [{ path: "manifest.faults.explode", code: "not_found", message: "The fault section failed." }],
    });
    expect((await call(p.b.secretKey, "GET", "/v1/roles/doomed")).status).toBe(404);
    expect((await call(p.b.secretKey, "GET", "/v1/usage/meters/doomed")).status).toBe(404);
    const after = await call(p.b.secretKey, "GET", "/v1/audit/entries?limit=100");
    expect(after.body.data).toEqual(before.body.data);
    expect((await plan(p.b.id, manifest)).liveHash).toBe(planned.liveHash);
  });

  it("racing applies of one plan: exactly one applies, the others are stale", async () => {
    const live = (await exported(p.b.id)).manifest as Record<string, Json[]>;
    const manifest = {
      roles: [...(live.roles as Json[]), { key: "racer", name: "Racer", permissions: ["usage:read"] }],
    };
    const planned = await plan(p.b.id, manifest);
    const results = await Promise.all(Array.from({ length: 50 }, () => apply(p.b.id, manifest, planned.liveHash)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409 && r.body.code === "manifest_stale")).toHaveLength(49);
    const created = await call(p.b.secretKey, "GET", "/v1/audit/entries?action=role.created&limit=100");
    expect((created.body.data as Json[]).filter((e) => (e.metadata as Json).key === "racer")).toHaveLength(1);
  });

  it("refuses malformed manifests with the path of each problem, and support operators cannot apply", async () => {
    const bad = await op("POST", "/v1/manifest/plan", p.b.id, {
      manifest: {
        roles: [
          { key: "ok-role", name: "OK", permissions: ["usage:read"] },
          { key: "ok-role", name: "Again", permissions: ["usage:read"] },
          { key: "owner", name: "Owner", permissions: ["*"] },
        ],
        meters: [{ key: "m", eventType: "e", aggregation: "sum" }],
        widgets: [],
      },
    });
    expect(bad.status).toBe(400);
    expect((bad.body.errors as Json[]).map((e) => e.path)).toEqual([
      "body.manifest.roles.1",
      "body.manifest.roles.2.key",
      "body.manifest.meters.0.valuePath",
      "body.manifest.widgets",
    ]);
    const planned = await plan(p.b.id, {});
    expect(planned.changes).toEqual([]);
    const support = await call(p.supportToken, "POST", "/v1/manifest/plan", { manifest: { roles: [] } }, p.b.id);
    expect(support.status).toBe(200);
    const supportApply = await call(
      p.supportToken,
      "POST",
      "/v1/manifest/apply",
      { manifest: { roles: [] }, liveHash: (support.body as Json).liveHash },
      p.b.id,
    );
    expect(supportApply.status).toBe(403);
  });

  it("publishes the manifest's JSON Schema", async () => {
    const res = await t.inject({ method: "GET", url: "/v1/manifest/schema" });
    expect(res.statusCode).toBe(200);
    const schema = res.json() as { properties: Record<string, { items?: Json }> };
    const names = Object.keys(schema.properties);
    expect(names.slice(0, 2)).toEqual(["version", "project"]);
    expect(names.at(-1)).toBe("environments");
    expect(names).toEqual(expect.arrayContaining(["surfaces", "roles", "meters", "faults"]));
    // Every item schema stands alone: no reference into a `$defs` the file's schema does not have.
    expect(JSON.stringify(schema)).not.toContain('"$ref"');
    expect(schema.properties.roles?.items).toMatchObject({ type: "object", required: ["key", "name", "permissions"] });
  });
});
