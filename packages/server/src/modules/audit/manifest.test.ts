import { afterAll, beforeAll, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { type Json, type ManifestPlanBody, manifestClient, type PlannedChange } from "../../testing/manifest.js";

const DAY = 86_400_000;

// The `auditSettings` manifest section: one item (`environment`) holding the environment's audit
// retention; shortening it is destructive (the prune deletes entries), lengthening it behaviour,
// and it can only be changed, never removed.
describeEachEngine("audit manifest: auditSettings", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  const clock = new TestClock(Date.UTC(2026, 11, 1));

  const m = manifestClient(() => ({ t, p }));
  const { call, plan, apply } = m;
  const exported = (env: string) => m.exported(env, "auditSettings");
  const retention = async (key: string) =>
    (await call(key, "GET", "/v1/audit/settings")).body.retentionDays as number | null;
  const updates = (key: string) => m.audit(key, "audit_settings.updated");
  const only = (planned: ManifestPlanBody) => {
    expect(planned.changes).toHaveLength(1);
    return planned.changes[0] as PlannedChange;
  };

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
    // Entries of environment A, 40 days old by the time the retention is planned.
    for (const key of ["one", "two", "three"]) {
      const role = await call(p.a.secretKey, "POST", "/v1/roles", { key, name: key, permissions: ["usage:read"] });
      expect(role.status, JSON.stringify(role.body)).toBe(201);
    }
    clock.advance(40 * DAY);
  });
  afterAll(async () => t?.close());

  it("exports one item keyed `environment`: retention forever until set, then what the API set", async () => {
    expect(await exported(p.a.id)).toEqual([{ key: "environment", retentionDays: null }]);
    const set = await call(p.a.secretKey, "PATCH", "/v1/audit/settings", { retentionDays: 365 });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(await exported(p.a.id)).toEqual([{ key: "environment", retentionDays: 365 }]);
    const bySecretKey = await call(p.a.secretKey, "GET", "/v1/manifest");
    expect((bySecretKey.body.manifest as Json).auditSettings).toEqual([{ key: "environment", retentionDays: 365 }]);
  });

  it("round trip: another environment takes the retention (from forever: destructive, nothing old to lose)", async () => {
    const manifest = { auditSettings: await exported(p.a.id) };
    const first = await plan(p.b.id, manifest);
    expect(only(first)).toMatchObject({
      section: "auditSettings",
      action: "update",
      key: "environment",
      risk: "destructive",
      affected: [],
      blocked: null,
    });
    const applied = await apply(p.b.id, manifest, first.liveHash, true);
    expect(applied.status, JSON.stringify(applied.body)).toBe(200);
    expect((await plan(p.b.id, manifest)).changes).toEqual([]);
    expect(await exported(p.b.id)).toEqual(manifest.auditSettings);
    expect(await retention(p.b.secretKey)).toBe(365);
    const recorded = await updates(p.b.secretKey);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({
      actor: { type: "operator" },
      changes: { before: { retentionDays: null }, after: { retentionDays: 365 } },
    });
  });

  it("shortening is destructive and counts the entries the prune would delete; refused without allowDestructive", async () => {
    const cutoff = new Date(clock.now() - 30 * DAY).toISOString();
    const listed = await call(p.a.secretKey, "GET", `/v1/audit/entries?to=${encodeURIComponent(cutoff)}&limit=100`);
    const older = (listed.body.data as Json[]).length;
    expect(older).toBeGreaterThanOrEqual(3);

    const manifest = { auditSettings: [{ key: "environment", retentionDays: 30 }] };
    const planned = await plan(p.a.id, manifest);
    expect(only(planned)).toMatchObject({
      risk: "destructive",
      summary:
        "Keeps audit entries 30 days instead of 365 days: the daily prune deletes entries older than that (once checkpointed).",
      affected: [{ count: older, what: "audit entries older than 30 days, deleted at the next prune" }],
      blocked: null,
    });
    const refused = await apply(p.a.id, manifest, planned.liveHash);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe("manifest_destructive");
    expect((refused.body.errors as Json[]).map((e) => e.path)).toEqual(["manifest.auditSettings.environment"]);
    expect(await retention(p.a.secretKey)).toBe(365);

    // A secret key may change the settings through the manifest, as through the API.
    const done = await apply(p.a.id, manifest, planned.liveHash, true, p.a.secretKey);
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(await retention(p.a.secretKey)).toBe(30);
    expect((await updates(p.a.secretKey)).map((e) => e.changes)).toContainEqual({
      before: { retentionDays: 365 },
      after: { retentionDays: 30 },
    });
  });

  it("lengthening is behaviour", async () => {
    const forever = await plan(p.a.id, { auditSettings: [{ key: "environment" }] });
    expect(only(forever)).toMatchObject({
      risk: "behaviour",
      summary: "Keeps audit entries forever instead of 30 days (entries already pruned do not come back).",
      affected: [],
    });
    const longer = await plan(p.a.id, { auditSettings: [{ key: "environment", retentionDays: 365 }] });
    expect(only(longer)).toMatchObject({ risk: "behaviour", affected: [] });
    const applied = await apply(
      p.a.id,
      { auditSettings: [{ key: "environment", retentionDays: 365 }] },
      longer.liveHash,
    );
    expect(applied.status, JSON.stringify(applied.body)).toBe(200);
    expect(await retention(p.a.secretKey)).toBe(365);
  });

  it("blocks removing the settings and refuses anything but the one item and the API's retentions", async () => {
    const planned = await plan(p.a.id, { auditSettings: [] });
    expect(only(planned)).toMatchObject({ action: "delete", key: "environment" });
    expect(only(planned).blocked).toContain("cannot be removed, only changed");
    const refused = await apply(p.a.id, { auditSettings: [] }, planned.liveHash, true);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe("manifest_blocked");
    expect(await retention(p.a.secretKey)).toBe(365);

    const bad = await call(
      p.operatorToken,
      "POST",
      "/v1/manifest/plan",
      {
        manifest: {
          auditSettings: [
            { key: "tenant", retentionDays: 30 },
            { key: "environment", retentionDays: 90 },
          ],
        },
      },
      p.a.id,
    );
    expect(bad.status).toBe(400);
    expect((bad.body.errors as Json[]).map((e) => e.path)).toEqual([
      "body.manifest.auditSettings.0.key",
      "body.manifest.auditSettings.1.retentionDays",
    ]);
  });

  it("guards like the API: audit:read to plan, audit:manage to apply", async () => {
    const reader = await p.identity.secretKeys.createSecretKey(p.operatorCtx, p.a.id, {
      surfaceId: p.a.surfaceId,
      name: "audit-reader",
      scopes: ["audit:read", "manifest:read", "manifest:apply"],
    });
    const manifest = { auditSettings: [{ key: "environment", retentionDays: 30 }] };
    const planned = await plan(p.a.id, manifest, reader.token);
    expect(only(planned).risk).toBe("destructive");
    const refused = await apply(p.a.id, manifest, planned.liveHash, true, reader.token);
    expect(refused.status).toBe(403);
    expect(await retention(p.a.secretKey)).toBe(365);
  });
});
