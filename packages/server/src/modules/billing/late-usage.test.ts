import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { fromJson } from "../../platform/db/db.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { billingModule } from "./index.js";
import { LATE_CUTOFF_MARGIN_MS } from "./service/late-usage.js";

type Json = Record<string, unknown>;
interface Line {
  type: string;
  quantity: string;
  amount: string;
  total: number;
  usage: { meter: string; from: number; to: number; receivedFrom?: number; receivedTo?: number; value: string } | null;
}

// Late usage: an event timestamped in a finalized period but received after its finalization is
// billed on the next invoice, on a `late_usage` line priced at the marginal rate; the finalized
// invoice never changes; every event is billed exactly once across invoices, including events
// reported while a period is being finalized.

const T0 = Date.parse("2027-01-04T00:00:00Z"); // a Monday
const MIN = 60_000;
const HOUR = 3_600_000;
const WEEK = 7 * 86_400_000;

const WEEKLY = {
  key: "weekly",
  name: "Weekly",
  interval: "week",
  currency: "USD",
  fixedFee: "10.00",
  charges: [
    {
      meter: "tokens",
      model: "graduated",
      tiers: [
        { upTo: "100", unitPrice: "1" },
        { upTo: null, unitPrice: "0.5" },
      ],
    },
    { meter: "calls", model: "per_unit", unitPrice: "0.01" },
  ],
  entitlements: [],
};

describeEachEngine("billing late usage", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  const clock = new TestClock(T0);
  let seq = 0;

  async function call(method: string, url: string, body?: unknown) {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: { authorization: `Bearer ${p.a.secretKey}` },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return { status: res.statusCode, body: res.json() as Json };
  }
  /** report sends events (tokens, event time) for a tenant, received now (the platform clock). */
  const report = async (tenantId: string, events: Array<[number, number]>) => {
    const res = await call("POST", "/v1/usage/events/batch", {
      events: events.map(([tokens, time]) => ({
        id: `e${++seq}`,
        type: "llm.call",
        subject: tenantId,
        time: new Date(time).toISOString(),
        data: { tokens },
      })),
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.accepted).toBe(events.length);
  };
  const subscribe = async () => {
    const tenant = (await call("POST", "/v1/tenants", { name: `T${++seq}` })).body.id as string;
    const sub = await call("POST", "/v1/billing/subscriptions", { tenantId: tenant, plan: "weekly" });
    expect(sub.status, JSON.stringify(sub.body)).toBe(201);
    return { tenant, sub: sub.body.id as string };
  };
  const stored = (sub: string) =>
    t.app.db.kysely
      .selectFrom("billing_invoice")
      .selectAll()
      .where("subscription_id", "=", sub)
      .orderBy("period_start")
      .execute();
  const advance = () => t.app.service(billingModule).subscriptions.advanceDue();
  const linesOf = (row: { lines?: unknown }) => fromJson<Line[]>(row.lines);
  /** billedTokens sums the tokens an invoice billed: its period's line and its late line. */
  const billedTokens = (row: { lines?: unknown }) =>
    linesOf(row)
      .filter((l) => l.usage?.meter === "tokens")
      .reduce((sum, l) => sum + Number(l.quantity), 0);

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
    for (const meter of [
      { key: "tokens", eventType: "llm.call", aggregation: "sum", valuePath: "tokens" },
      { key: "calls", eventType: "llm.call", aggregation: "count" },
    ]) {
      expect((await call("POST", "/v1/usage/meters", meter)).status).toBe(201);
    }
    expect((await call("POST", "/v1/billing/plans", WEEKLY)).status).toBe(201);
  });
  afterAll(async () => t?.close());

  describe("one late event", () => {
    it("goes to the next invoice as a late line priced at the marginal rate; the finalized invoice never changes", async () => {
      clock.set(T0);
      const { tenant, sub } = await subscribe();
      // Received before the finalization: on the first invoice only.
      clock.set(T0 + HOUR);
      await report(tenant, [[90, T0 + HOUR]]);
      clock.set(T0 + WEEK + 2 * LATE_CUTOFF_MARGIN_MS);
      expect(await advance()).toBeGreaterThanOrEqual(1);
      const [first] = await stored(sub);
      expect(first).toBeDefined();
      expect(Number(first?.late_cutoff)).toBe(T0 + WEEK + LATE_CUTOFF_MARGIN_MS);
      expect(linesOf(first as Json).map((l) => [l.type, l.quantity, l.total])).toEqual([
        ["fixed_fee", "1", 1000],
        ["charge", "90", 9000],
        ["charge", "1", 1],
      ]);
      // Timestamped in the finalized week, received after its finalization.
      clock.advance(MIN);
      await report(tenant, [[20, T0 + 2 * HOUR]]);
      expect(await stored(sub)).toEqual([first]);
      clock.set(T0 + 2 * WEEK + 2 * LATE_CUTOFF_MARGIN_MS);
      expect(await advance()).toBeGreaterThanOrEqual(1);
      const rows = await stored(sub);
      expect(rows).toHaveLength(2);
      // The first invoice is as it was, lines and totals.
      expect(rows[0]).toEqual(first);
      const second = linesOf(rows[1] as Json);
      expect(second.map((l) => [l.type, l.quantity, l.amount, l.total])).toEqual([
        ["fixed_fee", "1", "10", 1000],
        ["charge", "0", "0", 0],
        ["charge", "0", "0", 0],
        // Graduated: 90 billed, 20 late → 10 at 1 and 10 at 0.5 (price(110) − price(90)).
        ["late_usage", "20", "15", 1500],
        ["late_usage", "1", "0.01", 1],
      ]);
      expect(second[3]?.usage).toMatchObject({
        meter: "tokens",
        from: new Date(T0).toISOString(),
        to: new Date(T0 + WEEK).toISOString(),
        receivedFrom: new Date(T0 + WEEK + LATE_CUTOFF_MARGIN_MS).toISOString(),
        receivedTo: new Date(T0 + 2 * WEEK + LATE_CUTOFF_MARGIN_MS).toISOString(),
        value: "20",
      });
      expect(rows[1]?.total).toBe(2501);
    });
  });

  describe("exactly once", () => {
    it("bills many late events across several periods each once: billed quantities sum to what was reported", async () => {
      clock.set(T0 + 3 * WEEK);
      const start = T0 + 3 * WEEK;
      const { tenant, sub } = await subscribe();
      let reported = 0;
      const send = async (events: Array<[number, number]>) => {
        await report(tenant, events);
        reported += events.reduce((s, [n]) => s + n, 0);
      };
      for (let week = 0; week < 4; week++) {
        const ws = start + week * WEEK;
        const end = ws + WEEK;
        clock.set(ws + HOUR);
        // On time, and late for every earlier week of the subscription (and one before it: never billed).
        await send([[week + 1, ws + 30 * MIN]]);
        for (let back = 1; back <= week; back++) await send([[10 * back + week, ws - back * WEEK + 5 * HOUR]]);
        if (week > 0) await report(tenant, [[1000, start - HOUR]]);
        // Received within the margin before the finalization, timestamped just before the end.
        clock.set(end - 10_000);
        await send([[100 + week, end - 20_000]]);
        // Finalized 30 s after the end: its cut-off is before the last report, which goes to the next invoice.
        clock.set(end + 30_000);
        // Reports racing the finalization, timestamped in the ending week.
        const racing = Array.from({ length: 50 }, (_, i) => send([[1, end - MIN + i]]));
        const [ended] = await Promise.all([advance(), ...racing]);
        expect(ended).toBeGreaterThanOrEqual(1);
      }
      // One more period bills what arrived after the last finalization.
      clock.set(start + 5 * WEEK + 2 * LATE_CUTOFF_MARGIN_MS);
      expect(await advance()).toBeGreaterThanOrEqual(1);
      const rows = await stored(sub);
      expect(rows).toHaveLength(5);
      expect(rows.reduce((s, r) => s + billedTokens(r), 0)).toBe(reported);
      // Each invoice's late window starts at the cut-off of the one before.
      for (let i = 1; i < rows.length; i++) {
        expect(Number(rows[i]?.late_cutoff)).toBeGreaterThan(Number(rows[i - 1]?.late_cutoff));
        for (const l of linesOf(rows[i] as Json).filter((x) => x.type === "late_usage")) {
          expect(l.usage?.receivedFrom).toBe(new Date(Number(rows[i - 1]?.late_cutoff)).toISOString());
          expect(l.usage?.receivedTo).toBe(new Date(Number(rows[i]?.late_cutoff)).toISOString());
          expect(l.usage?.from).toBe(new Date(start).toISOString());
        }
      }
    });
  });
});
