import { afterEach, beforeEach, expect, it } from "vitest";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { eventsModule } from "./index.js";

// The event log: facts become events in the writer's transaction, products publish events checked
// against the catalog (idempotent by id), the log of each environment is gap-free and ordered, and
// queries filter by type (wildcards), tenant and time. Tenant-bound callers see their tenant only.

type Json = Record<string, unknown>;

describeEachEngine("events", (engine) => {
  let t: TestApp;
  let p: SeededPlane;

  beforeEach(async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
  });
  afterEach(async () => t.close());

  async function call(token: string, method: string, url: string, body?: unknown) {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return {
      status: res.statusCode,
      headers: res.headers,
      body: (res.body ? JSON.parse(res.body) : {}) as Json,
    };
  }
  const keyA = (method: string, url: string, body?: unknown) => call(p.a.secretKey, method, url, body);
  const tenantKey = (environmentId: string, tenantId: string, permissions = ["events:*"]) =>
    t.token({ actorType: "tenant_key", actorId: "tk_test", environmentId, tenantId, permissions });

  async function tenant(name: string): Promise<string> {
    const res = await keyA("POST", "/v1/tenants", { name });
    expect(res.status).toBe(201);
    return res.body.id as string;
  }
  async function registerType(name: string, schema?: Json) {
    const res = await keyA("POST", "/v1/events/types", { name, description: `${name} happened`, schema });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  }

  it("records every fact of an environment as an event, in the same transaction, in order", async () => {
    const id = await tenant("Acme");
    await keyA("PATCH", `/v1/tenants/${id}`, { name: "Acme Inc" });
    const list = await keyA("GET", "/v1/events?limit=100");
    expect(list.status).toBe(200);
    const events = list.body.data as Json[];
    const types = events.map((e) => e.type);
    expect(types).toContain("tenant.created");
    expect(types).toContain("tenant.updated");
    const created = events.find((e) => e.type === "tenant.created") as Json;
    expect(created).toMatchObject({
      specversion: "1.0",
      source: "baseplate",
      subject: `tenant/${id}`,
      tenantId: id,
      environmentId: p.a.id,
      datacontenttype: "application/json",
      data: { name: "Acme", slug: "acme" },
    });
    // Gap-free sequence 1..n in environment A.
    expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1));
    // Environment B's log is separate and has none of A's events.
    const b = await call(p.b.secretKey, "GET", "/v1/events?limit=100");
    expect((b.body.data as Json[]).some((e) => e.tenantId === id)).toBe(false);
  });

  it("publishes events checked against the catalog, idempotent by id", async () => {
    await registerType("receipt.issued", {
      type: "object",
      properties: { amount: { type: "integer" } },
      required: ["amount"],
    });
    const unknown = await keyA("POST", "/v1/events", { type: "receipt.voided", data: {} });
    expect(unknown.status).toBe(422);
    expect(unknown.body.code).toBe("event_type_unknown");
    const reserved = await keyA("POST", "/v1/events", { type: "tenant.created", data: {} });
    expect(reserved.body.code).toBe("event_type_reserved");
    const invalid = await keyA("POST", "/v1/events", { type: "receipt.issued", data: { amount: "ten" } });
    expect(invalid.status).toBe(422);
    expect(invalid.body.code).toBe("event_data_invalid");

    const first = await keyA("POST", "/v1/events", { id: "inv-1-paid", type: "receipt.issued", data: { amount: 10 } });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ clientId: "inv-1-paid", type: "receipt.issued", data: { amount: 10 } });
    expect(first.body.id).toMatch(/^evt_/);
    const again = await keyA("POST", "/v1/events", { id: "inv-1-paid", type: "receipt.issued", data: { amount: 10 } });
    expect(again.status).toBe(200);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(again.body).toEqual(first.body);
    const clash = await keyA("POST", "/v1/events", { id: "inv-1-paid", type: "receipt.issued", data: { amount: 11 } });
    expect(clash.status).toBe(409);
    expect(clash.body.code).toBe("event_id_reused");
    const list = await keyA("GET", "/v1/events?types=receipt.*");
    expect((list.body.data as Json[]).map((e) => e.id)).toEqual([first.body.id]);
    const byClientId = await keyA("GET", "/v1/events?clientId=inv-1-paid");
    expect((byClientId.body.data as Json[]).map((e) => e.id)).toEqual([first.body.id]);
    const got = await keyA("GET", `/v1/events/${first.body.id}`);
    expect(got.body.sequence).toBe(first.body.sequence);
  });

  it("lists the plane's fact types with their JSON Schemas beside the environment's types", async () => {
    await registerType("order.shipped");
    const res = await keyA("GET", "/v1/events/types");
    const types = res.body.data as Json[];
    const tenantCreated = types.find((x) => x.name === "tenant.created") as Json;
    expect(tenantCreated).toMatchObject({ origin: "plane", id: null });
    expect((tenantCreated.schema as Json).type).toBe("object");
    expect(types.find((x) => x.name === "order.shipped")).toMatchObject({ origin: "environment", version: 1 });
    const id = (types.find((x) => x.name === "order.shipped") as Json).id as string;
    const updated = await keyA("PATCH", `/v1/events/types/${id}`, { schema: { type: "object" }, deprecated: true });
    expect(updated.body).toMatchObject({ version: 2 });
    expect(updated.body.deprecatedAt).not.toBeNull();
  });

  it("filters by type wildcard, tenant and time, with cursor pagination", async () => {
    const t1 = await tenant("One");
    const t2 = await tenant("Two");
    await registerType("order.shipped");
    for (let i = 0; i < 5; i++) {
      const res = await keyA("POST", "/v1/events", { type: "order.shipped", tenantId: i % 2 ? t1 : t2, data: { i } });
      expect(res.status).toBe(201);
    }
    const page1 = await keyA("GET", `/v1/events?types=order.*&tenantId=${t1}&limit=1`);
    expect((page1.body.data as Json[]).length).toBe(1);
    const page2 = await keyA("GET", `/v1/events?types=order.*&tenantId=${t1}&limit=5&cursor=${page1.body.nextCursor}`);
    expect((page2.body.data as Json[]).map((e) => (e.data as Json).i)).toEqual([3]);
    const future = await keyA("GET", `/v1/events?from=${Date.now() + 60_000}`);
    expect(future.body.data).toEqual([]);
    // A tenant key sees only its tenant's events, whatever it asks for.
    const own = await call(tenantKey(p.a.id, t1), "GET", "/v1/events?limit=100");
    expect(own.status).toBe(200);
    expect((own.body.data as Json[]).every((e) => e.tenantId === t1)).toBe(true);
    const other = await call(tenantKey(p.a.id, t1), "GET", `/v1/events?tenantId=${t2}`);
    expect(other.status).toBe(404);
    const t2Event = (await keyA("GET", `/v1/events?tenantId=${t2}`)).body.data as Json[];
    const peek = await call(tenantKey(p.a.id, t1), "GET", `/v1/events/${(t2Event[0] as Json).id}`);
    expect(peek.status).toBe(404);
    // A tenant key publishes into its own tenant only.
    const published = await call(tenantKey(p.a.id, t1), "POST", "/v1/events", { type: "order.shipped", data: {} });
    expect(published.status).toBe(201);
    expect(published.body.tenantId).toBe(t1);
  });

  it("keeps each environment's sequence gap-free under concurrent writers", async () => {
    await registerType("load.tested");
    await call(p.b.secretKey, "POST", "/v1/events/types", { name: "load.tested", description: "x" });
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        call(i % 2 ? p.a.secretKey : p.b.secretKey, "POST", "/v1/events", { type: "load.tested", data: { i } }),
      ),
    );
    for (const key of [p.a.secretKey, p.b.secretKey]) {
      const res = await call(key, "GET", "/v1/events?limit=100");
      const seqs = (res.body.data as Json[]).map((e) => e.sequence as number);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    }
  });

  it("prunes events past the environment's retention", async () => {
    await tenant("Old");
    const set = await keyA("PATCH", "/v1/events/settings", { retentionDays: 1 });
    expect(set.body).toMatchObject({ retentionDays: 1 });
    const events = t.app.service(eventsModule);
    expect(await events.log.pruneEvents()).toBe(0);
    await t.app.db.kysely
      .updateTable("event")
      .set({ time: Date.now() - 2 * 86_400_000 })
      .execute();
    expect(await events.log.pruneEvents()).toBeGreaterThan(0);
  });
});
