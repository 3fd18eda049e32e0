import fc from "fast-check";
import { afterAll, beforeAll, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";

// Aggregation from the rollups equals a naive recomputation from the raw events, for random events,
// ranges, windows, time zones and groupings, with events crowded around the DST transitions of
// March–April 2026 (United States, Europe, Chile, Lord Howe's half hour, India's fixed :30).
// The oracle labels each event with its local calendar date (or hour, with its offset) from Intl
// directly; the module's windows must put exactly the events of one label in one window.

type Json = Record<string, unknown>;
const NOW = Date.parse("2026-04-10T12:00:00Z");
const MINUTE = 60_000;
const HOUR = 3_600_000;
const ZONES = ["UTC", "America/New_York", "Europe/Berlin", "America/Santiago", "Australia/Lord_Howe", "Asia/Kolkata"];
const TRANSITIONS = [
  Date.parse("2026-03-08T07:00:00Z"), // New York springs forward
  Date.parse("2026-03-29T01:00:00Z"), // Berlin springs forward
  Date.parse("2026-04-04T15:00:00Z"), // Lord Howe falls back half an hour
  Date.parse("2026-04-05T03:00:00Z"), // Santiago falls back (midnight repeats)
];
const AGGREGATIONS = ["count", "sum", "max", "min", "latest", "unique_count"] as const;
const EARLIEST = NOW - 34 * 24 * HOUR;

const labelFormatters = new Map<string, Intl.DateTimeFormat>();
function label(t: number, window: string, tz: string): string {
  if (window === "minute") return new Date(Math.floor(t / MINUTE) * MINUTE).toISOString();
  let f = labelFormatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-CA", {
      timeZone: tz,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      timeZoneName: "longOffset",
    });
    labelFormatters.set(tz, f);
  }
  const parts = Object.fromEntries(f.formatToParts(new Date(t)).map((p) => [p.type, p.value]));
  if (window === "month") return `${parts.year}-${parts.month}`;
  if (window === "day") return `${parts.year}-${parts.month}-${parts.day}`;
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour} ${parts.timeZoneName}`;
}

interface Ev {
  id: string;
  time: number;
  v: number;
  g: string | null;
  user: string;
}

function naive(agg: string, events: Ev[]): number | null {
  if (agg === "count") return events.length;
  if (agg === "sum") return events.reduce((s, e) => s + e.v, 0);
  if (agg === "unique_count") return new Set(events.map((e) => e.user)).size;
  if (events.length === 0) return null;
  if (agg === "max") return Math.max(...events.map((e) => e.v));
  if (agg === "min") return Math.min(...events.map((e) => e.v));
  const latest = [...events].sort((a, b) => b.time - a.time || (a.id < b.id ? 1 : -1))[0] as Ev;
  return latest.v;
}

const timeArb = fc.oneof(
  fc.integer({ min: EARLIEST, max: NOW }),
  fc.tuple(fc.constantFrom(...TRANSITIONS), fc.integer({ min: -3 * HOUR, max: 3 * HOUR })).map(([t, d]) => t + d),
  fc
    .tuple(fc.integer({ min: 0, max: 33 }), fc.integer({ min: -90, max: 90 }))
    .map(([day, m]) => Date.parse("2026-03-08T05:00:00Z") + day * 24 * HOUR + m * MINUTE),
);
const eventsArb = fc.array(
  fc.record({
    time: timeArb,
    v: fc.integer({ min: -50, max: 1000 }),
    g: fc.constantFrom("a", "b", null),
    user: fc.constantFrom("u1", "u2", "u3", "u4", "u5"),
  }),
  { minLength: 1, maxLength: 120 },
);
const queryArb = fc.record({
  window: fc.constantFrom("minute", "hour", "day", "month", null),
  tz: fc.constantFrom(...ZONES),
  a: fc.integer({ min: Math.floor(EARLIEST / MINUTE) - 60, max: Math.floor(NOW / MINUTE) }),
  b: fc.integer({ min: Math.floor(EARLIEST / MINUTE), max: Math.floor(NOW / MINUTE) + 60 }),
  grouped: fc.boolean(),
});

describeEachEngine("usage aggregation equals a naive recomputation", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let tenantId: string;
  let run = 0;
  const call = async (method: string, url: string, body?: unknown) => {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: { authorization: `Bearer ${p.a.secretKey}` },
      ...(body === undefined ? {} : { payload: body as object }),
    });
    return { status: res.statusCode, body: res.json() as Json };
  };
  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true, clock: new TestClock(NOW) });
    p = await seedPlane(t);
    tenantId = (await call("POST", "/v1/tenants", { name: "Prop" })).body.id as string;
  });
  afterAll(async () => t?.close());

  it("for random events, ranges, windows, zones and groups", async () => {
    await fc.assert(
      fc.asyncProperty(eventsArb, fc.array(queryArb, { minLength: 1, maxLength: 6 }), async (raw, queries) => {
        run++;
        const type = `prop.r${run}`;
        for (const agg of AGGREGATIONS) {
          const meter = {
            key: `${agg}_${run}`,
            eventType: type,
            aggregation: agg,
            ...(agg === "count" ? {} : { valuePath: agg === "unique_count" ? "user" : "v" }),
            groupBy: { g: "g" },
          };
          expect((await call("POST", "/v1/usage/meters", meter)).status).toBe(201);
        }
        const events: Ev[] = raw.map((e, i) => ({ ...e, id: `r${run}-${i}` }));
        // Reported in random order, in two batches (late events fold into earlier buckets).
        const half = Math.ceil(events.length / 2);
        for (const part of [events.slice(half), events.slice(0, half)]) {
          if (part.length === 0) continue;
          const res = await call("POST", "/v1/usage/events/batch", {
            events: part.map((e) => ({
              id: e.id,
              type,
              subject: tenantId,
              time: new Date(e.time).toISOString(),
              data: { v: e.v, user: e.user, ...(e.g === null ? {} : { g: e.g }) },
            })),
          });
          expect(res.body.accepted).toBe(part.length);
        }
        for (const q of queries) {
          let from = Math.min(q.a, q.b) * MINUTE;
          let to = Math.max(q.a, q.b) * MINUTE;
          if (from === to) to += MINUTE;
          if (q.window === "minute" && to - from > 6 * HOUR) from = to - 6 * HOUR;
          for (const agg of AGGREGATIONS) {
            const params: Record<string, string> = {
              tenantId,
              from: new Date(from).toISOString(),
              to: new Date(to).toISOString(),
              timeZone: q.tz,
              ...(q.window ? { window: q.window } : {}),
              ...(q.grouped ? { groupBy: "g" } : {}),
            };
            const res = await call("GET", `/v1/usage/meters/${agg}_${run}/usage?${new URLSearchParams(params)}`);
            expect(res.status, JSON.stringify(res.body)).toBe(200);
            const inRange = events.filter((e) => e.time >= from && e.time < to);
            const windows = res.body.windows as Array<{
              from: string;
              to: string;
              rows: Array<{ group: Json; value: number | null }>;
            }>;
            const groupOf = (e: Ev) => (q.grouped ? String(e.g) : "all");
            // Expected: per label (or the whole range) and group.
            const expected = new Map<string, Map<string, Ev[]>>();
            for (const e of inRange) {
              const l = q.window ? label(e.time, q.window, q.tz) : "range";
              const byGroup = expected.get(l) ?? new Map<string, Ev[]>();
              byGroup.set(groupOf(e), [...(byGroup.get(groupOf(e)) ?? []), e]);
              expected.set(l, byGroup);
            }
            const seen = new Set<string>();
            for (const w of windows) {
              const l = q.window ? label(Date.parse(w.from), q.window, q.tz) : "range";
              // Every instant of a window has the window's label.
              if (q.window) expect(label(Date.parse(w.to) - 1, q.window, q.tz), `${q.tz} ${w.from}`).toBe(l);
              seen.add(l);
              const want = expected.get(l) ?? new Map<string, Ev[]>();
              const got = new Map(w.rows.map((r) => [q.grouped ? String(r.group.g) : "all", r.value]));
              for (const [g, evs] of want)
                expect(got.get(g), `${agg} ${q.tz} ${q.window} ${w.from} ${g}`).toBe(naive(agg, evs));
              for (const [g, value] of got) if (!want.has(g)) expect(value, `${agg} empty ${g}`).toBe(naive(agg, []));
            }
            for (const l of expected.keys()) expect(seen.has(l), `label ${l} has a window`).toBe(true);
            // Totals over the range.
            const totals = new Map(
              (res.body.totals as Array<{ group: Json; value: number | null }>).map((r) => [
                q.grouped ? String(r.group.g) : "all",
                r.value,
              ]),
            );
            const byGroup = new Map<string, Ev[]>();
            for (const e of inRange) byGroup.set(groupOf(e), [...(byGroup.get(groupOf(e)) ?? []), e]);
            for (const [g, evs] of byGroup) expect(totals.get(g), `${agg} total ${g}`).toBe(naive(agg, evs));
          }
        }
      }),
      {
        numRuns: Number(process.env.USAGE_PROPERTY_RUNS ?? 12),
        seed: process.env.USAGE_PROPERTY_SEED ? Number(process.env.USAGE_PROPERTY_SEED) : undefined,
      },
    );
  }, 240_000);
});
