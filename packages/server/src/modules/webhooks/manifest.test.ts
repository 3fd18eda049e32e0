import { afterAll, beforeAll, expect, it } from "vitest";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { type Json, manifestClient } from "../../testing/manifest.js";

// The webhooks module's manifest section: the environment's own endpoints, by URL. Tenants'
// endpoints are neither exported nor changed; custom headers and signing secrets never appear.
// Each change goes through the endpoints' own write path (SSRF check, sealing, facts).

const ORDERS = "https://hooks.example.com/orders";
const ALL = "https://hooks.example.com/all";

describeEachEngine("webhooks manifest section", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let tenantB: string;

  const m = manifestClient(() => ({ t, p }));
  const { call, op, plan, apply, byKey, audit } = m;
  const exported = (env: string) => m.exported(env, "webhooks");
  const endpoints = async (secretKey: string, query = "") =>
    (await call(secretKey, "GET", `/v1/webhooks/endpoints?limit=100${query}`)).body.data as Json[];
  const endpointAt = async (secretKey: string, url: string) =>
    (await endpoints(secretKey)).find((e) => e.url === url && e.tenantId === null) as Json;

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
    const sk = p.a.secretKey;
    for (const endpoint of [
      {
        url: ORDERS,
        description: "Orders",
        eventTypes: ["tenant.created", "order.*"],
        rateLimitPerSecond: 10,
        headers: { "X-Receiver-Token": "hunter2-sealed" },
      },
      { url: ALL, enabled: false },
    ]) {
      const res = await call(sk, "POST", "/v1/webhooks/endpoints", endpoint);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }
    // Tenants' own endpoints are theirs: never in the manifest (B's shares a URL with A's environment one).
    for (const [env, key] of [
      [p.a.id, p.a.secretKey],
      [p.b.id, p.b.secretKey],
    ] as const) {
      const tenant = await call(key, "POST", "/v1/tenants", { name: `Acme ${env}` });
      const own = await call(key, "POST", "/v1/webhooks/endpoints", { url: ORDERS, tenantId: tenant.body.id });
      expect(own.status, JSON.stringify(own.body)).toBe(201);
      if (env === p.b.id) tenantB = tenant.body.id as string;
    }
  });
  afterAll(async () => t?.close());

  it("exports the environment's own endpoints, without headers, secrets or tenants' endpoints", async () => {
    const res = await op("GET", "/v1/manifest", p.a.id);
    expect((res.body.manifest as Json).webhooks).toEqual([
      { url: ALL, description: "", eventTypes: [], enabled: false, rateLimitPerSecond: null },
      {
        url: ORDERS,
        description: "Orders",
        eventTypes: ["order.*", "tenant.created"],
        enabled: true,
        rateLimitPerSecond: 10,
      },
    ]);
    const text = JSON.stringify(res.body);
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("X-Receiver-Token");
    expect(text).not.toContain("whsec_");
    expect(await exported(p.b.id)).toEqual([]);
  });

  it("round trip: export A → plan on B → apply → no difference left; the secret is obtained by rotating it", async () => {
    const source = { webhooks: await exported(p.a.id) };
    const first = await plan(p.b.id, source);
    expect(first.changes.map((c) => `${c.action} ${c.section}:${c.key} ${c.risk}`)).toEqual([
      `create webhooks:${ALL} additive`,
      `create webhooks:${ORDERS} additive`,
    ]);
    expect(byKey(first, ORDERS).summary).toContain("rotate it (POST /v1/webhooks/endpoints/{id}/rotate-secret)");
    const applied = await apply(p.b.id, source, first.liveHash);
    expect(applied.status, JSON.stringify(applied.body)).toBe(200);
    expect((await plan(p.b.id, source)).changes).toEqual([]);
    expect({ webhooks: await exported(p.b.id) }).toEqual(source);

    const created = await audit(p.b.secretKey, "webhook_endpoint.created");
    expect(created.filter((e) => e.tenantId === null).map((e) => e.metadata)).toEqual(
      expect.arrayContaining([
        { url: ORDERS, eventTypes: ["order.*", "tenant.created"], headerNames: [] },
        { url: ALL, eventTypes: [], headerNames: [] },
      ]),
    );
    const orders = await endpointAt(p.b.secretKey, ORDERS);
    expect(orders.headers).toEqual({});
    // The one way to learn the signing secret of an endpoint the manifest created.
    const rotated = await call(p.b.secretKey, "POST", `/v1/webhooks/endpoints/${orders.id}/rotate-secret`, {
      gracePeriodSeconds: 0,
    });
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    // Rotating changes nothing the manifest declares.
    expect((await plan(p.b.id, source)).changes).toEqual([]);
  });

  it("classifies changes: description additive; what it receives, enabling and disabling behaviour", async () => {
    const sk = p.b.secretKey;
    // A tenant.created event waits for delivery to ORDERS (workers are off).
    expect((await call(sk, "POST", "/v1/tenants", { name: "Globex" })).status).toBe(201);
    const orders = await endpointAt(sk, ORDERS);
    const pending = await call(sk, "GET", `/v1/webhooks/endpoints/${orders.id}/messages?status=pending`);
    expect((pending.body.data as Json[]).length).toBe(1);

    const manifest = {
      webhooks: [
        { url: ALL, description: "Everything", enabled: true },
        { url: ORDERS, description: "Orders", eventTypes: ["order.*"], enabled: false, rateLimitPerSecond: 5 },
        { url: "https://hooks.example.com/new", eventTypes: ["order.shipped"] },
      ],
    };
    const planned = await plan(p.b.id, manifest);
    expect(byKey(planned, "https://hooks.example.com/new")).toMatchObject({ action: "create", risk: "additive" });
    expect(byKey(planned, ALL)).toMatchObject({ action: "update", risk: "behaviour", affected: [] });
    expect(byKey(planned, ALL).summary).toBe(`Endpoint \`${ALL}\`: enables it.`);
    expect(byKey(planned, ORDERS)).toMatchObject({
      action: "update",
      risk: "behaviour",
      affected: [{ count: 1, what: `messages not yet delivered to \`${ORDERS}\`, settled as failed` }],
    });
    expect(byKey(planned, ORDERS).summary).toBe(
      `Endpoint \`${ORDERS}\`: disables it: it receives no event from then on; no longer receives \`tenant.created\`; limits it to 5 deliveries a second.`,
    );
    const applied = await apply(p.b.id, manifest, planned.liveHash);
    expect(applied.status, JSON.stringify(applied.body)).toBe(200);
    expect(await endpointAt(sk, ORDERS)).toMatchObject({
      enabled: false,
      disabledReason: "manual",
      eventTypes: ["order.*"],
      rateLimitPerSecond: 5,
    });
    expect(await endpointAt(sk, ALL)).toMatchObject({ enabled: true, description: "Everything" });
    const updated = await audit(sk, "webhook_endpoint.updated");
    expect(updated.map((e) => (e.changes as { after: Json }).after)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ url: ORDERS, enabled: false, eventTypes: ["order.*"], rateLimitPerSecond: 5 }),
      ]),
    );

    const described = await plan(p.b.id, {
      webhooks: manifest.webhooks.map((e) => (e.url === ALL ? { ...e, description: "All of it" } : e)),
    });
    expect(described.changes.map((c) => `${c.action}:${c.key}:${c.risk}`)).toEqual([`update:${ALL}:additive`]);
  });

  it("deleting an endpoint is destructive, counts its delivery log, and spares tenants' endpoints", async () => {
    const sk = p.b.secretKey;
    const live = await exported(p.b.id);
    const manifest = { webhooks: live.filter((e) => e.url !== ORDERS) };
    const planned = await plan(p.b.id, manifest);
    expect(planned.changes).toHaveLength(1);
    expect(byKey(planned, ORDERS)).toMatchObject({
      action: "delete",
      risk: "destructive",
      blocked: null,
      affected: [
        { count: 1, what: `messages not yet delivered to \`${ORDERS}\`, dropped` },
        { count: 1, what: `messages in the delivery log of \`${ORDERS}\`, deleted with it` },
      ],
    });
    const refused = await apply(p.b.id, manifest, planned.liveHash);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe("manifest_destructive");
    expect(await endpointAt(sk, ORDERS)).toBeDefined();

    const done = await apply(p.b.id, manifest, planned.liveHash, true);
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(await endpointAt(sk, ORDERS)).toBeUndefined();
    expect((await endpoints(sk, `&tenantId=${tenantB}`)).map((e) => e.url)).toEqual([ORDERS]);
    const deleted = await audit(sk, "webhook_endpoint.deleted");
    expect(deleted.map((e) => e.metadata)).toEqual([{ url: ORDERS }]);
    expect((await plan(p.b.id, manifest)).changes).toEqual([]);
  });

  it("refuses a URL the SSRF policy refuses, applying nothing", async () => {
    const live = await exported(p.b.id);
    const manifest = {
      webhooks: [...live, { url: "http://127.0.0.1:8080/hook" }, { url: "https://hooks.example.com/fine" }],
    };
    const planned = await plan(p.b.id, manifest);
    expect(byKey(planned, "http://127.0.0.1:8080/hook").blocked).toBe(
      "The endpoint's url targets a private address (127.0.0.1).",
    );
    expect(byKey(planned, "https://hooks.example.com/fine").blocked).toBeNull();
    const refused = await apply(p.b.id, manifest, planned.liveHash);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe("manifest_blocked");
    expect((refused.body.errors as Json[]).map((e) => e.path)).toEqual([
      "manifest.webhooks.http://127.0.0.1:8080/hook",
    ]);
    expect(await endpointAt(p.b.secretKey, "https://hooks.example.com/fine")).toBeUndefined();
    expect(await exported(p.b.id)).toEqual(live);
  });

  it("two environment endpoints at one URL cannot be managed: manifest_ambiguous", async () => {
    const again = await call(p.b.secretKey, "POST", "/v1/webhooks/endpoints", { url: ALL });
    expect(again.status).toBe(201);
    const res = await op("POST", "/v1/manifest/plan", p.b.id, { manifest: { webhooks: [] } });
    expect(res.status).toBe(409);
    expect(res.body.code).toBe("manifest_ambiguous");
    // The export still answers, without that section, saying why.
    const exportedAll = await op("GET", "/v1/manifest", p.b.id);
    expect(exportedAll.status).toBe(200);
    expect(Object.keys(exportedAll.body.manifest as Record<string, unknown>)).not.toContain("webhooks");
    expect(exportedAll.body.omitted).toContainEqual({ section: "webhooks", reason: expect.stringContaining(ALL) });
  });
});
