import { afterAll, beforeAll, expect, it } from "vitest";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import type { SignedReview } from "../review/schemas.js";

// The events part of the review report: its figures are what the events API answers (the
// catalog, the retention, the log queried over the report's period), for the environment and,
// in the tenant's report, for that tenant only.

type Json = Record<string, unknown>;

describeEachEngine("events review part", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let tenantA: string;
  let tenantB: string;
  let tenantKeyA: string;

  async function call(token: string, method: string, url: string, body?: unknown) {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300);
    return res.json() as Json;
  }
  const keyA = (method: string, url: string, body?: unknown) => call(p.a.secretKey, method, url, body);

  /** part reads the `events.types` part of a review report. */
  function part(signed: SignedReview) {
    const found = signed.report.topics.flatMap((x) => x.parts).find((x) => x.name === "events.types");
    expect(found).toBeDefined();
    return found as NonNullable<typeof found>;
  }
  /** countEvents pages through the event log over the report's period, as `token` sees it. */
  async function countEvents(token: string, signed: SignedReview): Promise<number> {
    const from = Date.parse(signed.report.period.from);
    const to = Date.parse(signed.report.period.to) + 1;
    let n = 0;
    let cursor: string | null = null;
    do {
      const page = (await call(
        token,
        "GET",
        `/v1/events?limit=100&from=${from}&to=${to}${cursor ? `&cursor=${cursor}` : ""}`,
      )) as { data: Json[]; nextCursor: string | null };
      n += page.data.length;
      cursor = page.nextCursor;
    } while (cursor);
    return n;
  }

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
    tenantA = (await keyA("POST", "/v1/tenants", { name: "Acme" })).id as string;
    tenantB = (await keyA("POST", "/v1/tenants", { name: "Beta" })).id as string;
    tenantKeyA = (await keyA("POST", `/v1/tenants/${tenantA}/keys`, { name: "reviewer", permissions: ["*"] }))
      .token as string;
    const schema = { type: "object", properties: { total: { type: "number" } } };
    await keyA("POST", "/v1/events/types", { name: "order.placed", description: "An order", schema });
    await keyA("POST", "/v1/events/types", { name: "order.shipped", description: "Shipped" });
    const changed = await keyA("POST", "/v1/events/types", { name: "invoice.sent", description: "Sent", schema });
    await keyA("PATCH", `/v1/events/types/${changed.id}`, {
      schema: { type: "object", properties: { total: { type: "integer" } } },
    });
    const old = await keyA("POST", "/v1/events/types", { name: "legacy.thing", description: "Old" });
    await keyA("PATCH", `/v1/events/types/${old.id}`, { deprecated: true });
    await keyA("PATCH", "/v1/events/settings", { retentionDays: 90 });
    for (const [tenantId, n] of [
      [tenantA, 3],
      [tenantB, 2],
    ] as const) {
      for (let i = 0; i < n; i++) {
        await keyA("POST", "/v1/events", { type: "order.placed", tenantId, data: { total: i } });
      }
    }
    await keyA("POST", "/v1/events", { type: "order.shipped", data: {} });
    // Another environment's events are not this environment's.
    await call(p.b.secretKey, "POST", "/v1/tenants", { name: "Elsewhere" });
  });
  afterAll(async () => t?.close());

  it("the environment's report shows the catalog, the retention and the period's events, as the API answers", async () => {
    const signed = (await keyA("GET", "/v1/review")) as unknown as SignedReview;
    const { figures, blocks } = part(signed);
    const live = (await keyA("GET", "/v1/events/types?includeDeprecated=false")).data as Json[];
    const all = (await keyA("GET", "/v1/events/types")).data as Json[];
    const registered = live.filter((x) => x.origin === "environment");
    expect(registered).toHaveLength(3);
    expect(figures["eventTypes.registered"]).toBe(registered.length);
    expect(figures["eventTypes.withoutSchema"]).toBe(registered.filter((x) => x.schema === null).length);
    expect(figures["eventTypes.deprecated"]).toBe(all.length - live.length);
    expect(figures["eventTypes.deprecated"]).toBe(1);
    expect(figures["eventTypes.plane"]).toBe(live.filter((x) => x.origin === "plane").length);
    expect(figures["eventTypes.plane"]).toBeGreaterThan(10);
    expect(figures["events.retentionDays"]).toBe((await keyA("GET", "/v1/events/settings")).retentionDays);
    expect(figures["events.retentionDays"]).toBe(90);
    const inPeriod = await countEvents(p.a.secretKey, signed);
    expect(figures["events.inPeriod"]).toBe(inPeriod);
    expect(inPeriod).toBeGreaterThan(6);
    const table = blocks.find((b) => b.kind === "table");
    expect(table).toMatchObject({
      kind: "table",
      rows: [
        ["invoice.sent", 2, "yes", expect.any(String), null],
        ["order.placed", 1, "yes", expect.any(String), null],
        ["order.shipped", 1, "no", expect.any(String), null],
        ["legacy.thing", 1, "no", expect.any(String), expect.any(String)],
      ],
    });
  });

  it("the tenant's report counts only that tenant's events; the catalog is the environment's", async () => {
    const env = part((await keyA("GET", "/v1/review")) as unknown as SignedReview);
    const signed = (await call(tenantKeyA, "GET", `/v1/tenants/${tenantA}/review`)) as unknown as SignedReview;
    const { figures } = part(signed);
    const own = await countEvents(tenantKeyA, signed);
    expect(figures["events.inPeriod"]).toBe(own);
    // Its three published events and its own facts (created, its key): fewer than the environment's.
    expect(own).toBeGreaterThanOrEqual(3);
    expect(own).toBeLessThan(env.figures["events.inPeriod"] as number);
    for (const name of ["eventTypes.registered", "eventTypes.deprecated", "eventTypes.plane", "events.retentionDays"]) {
      expect(figures[name]).toBe(env.figures[name]);
    }
    expect(JSON.stringify(part(signed))).not.toContain(tenantB);
  });
});
