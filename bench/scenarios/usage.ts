import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type autocannon from "autocannon";
import { isRecord, startChild } from "../lib/child.js";
import { createSchema, redactUrl, tempDir } from "../lib/databases.js";
import { checkResponse, type HttpLoad, measureHttp } from "../lib/load.js";
import { freePort } from "../lib/ports.js";
import { type Comparison, compare, type Measurement, type ResultRow, row } from "../lib/results.js";
import type { BenchContext, Scenario } from "../lib/scenario.js";
import { type BaseplateDatabase, type Server, startBaseplatePlane } from "../lib/servers.js";

/**
 * usageScenario measures the usage module against a bare Fastify storing the same events the
 * plainest durable way (bench/processes/usage-baseline.ts), in the same run:
 * - single-event ingest (`POST /v1/usage/events`, a new id per request: authentication, subject,
 *   the insert that deduplicates, the minute and hour rollups) vs one plain insert per request;
 * - batch ingest of 1,000 events per request vs the same 1,000 rows inserted in one transaction;
 * then seeds `BENCH_USAGE_EVENTS` events (default 1,000,000) spread over the last 30 days of one
 * tenant × meter (3 group values) through the batch route, and measures
 * - the usage query of that tenant × meter over the 30 days (total; and by day, grouped);
 * - `POST /v1/entitlements/check` on a 30-day rolling limit of that meter, paced at 500 req/s.
 * Rollups make the query independent of the event count once every minute of the month has
 * events (1M events over 30 days is 23 a minute): 10M events read the same ~2,200 hour rows.
 */
export function usageScenario(engine: "sqlite" | "postgres"): Scenario {
  return {
    id: `usage-${engine}`,
    title: `Usage ingest, query and entitlement check: Baseplate (${engine === "sqlite" ? "SQLite" : "PostgreSQL"}) vs bare Fastify inserts`,
    run: (ctx) => run(ctx, engine),
  };
}

const MINUTE = 60_000;
const DAY = 86_400_000;
const MODELS = ["small", "medium", "large"];

function uniqueBody(make: (prefix: string, n: number) => unknown): (r: autocannon.Request) => autocannon.Request {
  const prefix = randomBytes(6).toString("hex");
  let n = 0;
  return (request) => ({ ...request, body: JSON.stringify(make(prefix, ++n)) });
}

function target(m: Measurement, label: string, maxMs: number): Comparison {
  const ratio = m.p99Ms === null ? Number.NaN : m.p99Ms / maxMs;
  return { baseline: label, ratio, metric: "p99", target: 1, pass: ratio <= 1 };
}

async function run(ctx: BenchContext, engine: "sqlite" | "postgres") {
  if (engine === "postgres" && !ctx.postgres) {
    return {
      status: "skipped" as const,
      reason: ctx.postgresSkipReason ?? "PostgreSQL unavailable",
      rows: [],
      notes: [],
    };
  }
  const { timing, postConnections } = ctx.options;
  const dir = tempDir(ctx.resources, `usage-${engine}`);
  let baselineArgs: string[];
  let database: BaseplateDatabase;
  if (engine === "sqlite") {
    baselineArgs = ["--store", "sqlite", "--file", join(dir, "bare.sqlite")];
    database = { engine: "sqlite", dataDir: join(dir, "baseplate") };
  } else {
    const url = ctx.postgres as string;
    const [bareSchema, schema] = [await createSchema(ctx.resources, url), await createSchema(ctx.resources, url)];
    baselineArgs = ["--store", "postgres", "--url", url, "--schema", bareSchema];
    database = { engine: "postgres", url, schema };
  }
  const seedCount = Number(process.env.BENCH_USAGE_EVENTS ?? 1_000_000);
  const batchSize = 1000;
  const event = (prefix: string, n: number, subject: string) => ({
    id: `${prefix}-${n}`,
    type: "llm.call",
    subject,
    data: { tokens: n % 1000, model: MODELS[n % 3] },
  });
  const single = (server: Server, headers: Record<string, string>, subject: string): HttpLoad => ({
    url: server.url,
    pid: server.pid,
    method: "POST",
    path: "/v1/usage/events",
    connections: postConnections,
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(event("check", 0, subject)),
    setupRequest: uniqueBody((prefix, n) => event(prefix, n, subject)),
  });
  const batch = (server: Server, headers: Record<string, string>, subject: string): HttpLoad => ({
    url: server.url,
    pid: server.pid,
    method: "POST",
    path: "/v1/usage/events/batch",
    connections: 4,
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ events: Array.from({ length: batchSize }, (_, i) => event("checkb", i, subject)) }),
    setupRequest: uniqueBody((prefix, n) => ({
      events: Array.from({ length: batchSize }, (_, i) => event(prefix, n * batchSize + i, subject)),
    })),
  });
  const asRows = (m: Measurement): Measurement => ({
    ...m,
    rate: m.rate * batchSize,
    unit: "rows/s",
    cpuUsPerOp: m.cpuUsPerOp === null ? null : m.cpuUsPerOp / batchSize,
    detail: `${m.detail}; ${batchSize} events per request`,
  });

  ctx.progress("bare Fastify: one insert per request");
  const bare = await startChild(
    ctx.resources,
    {
      name: `usage-baseline-${engine}`,
      script: "bench/processes/usage-baseline.ts",
      args: ["--port", String(await freePort()), ...baselineArgs],
    },
    (v): v is { url: string } => isRecord(v) && v.ready === true && typeof v.url === "string",
  );
  const bareServer: Server = { url: bare.ready.url, pid: bare.handle.pid, stop: bare.stop };
  await checkResponse(single(bareServer, {}, "ten_bare"), 200);
  const bareSingle = row(
    "bare Fastify + 1 insert",
    "baseline",
    await measureHttp(single(bareServer, {}, "ten_bare"), timing),
  );
  ctx.progress("bare Fastify: 1,000 inserts per request, one transaction");
  const bareBatch = row(
    "bare Fastify + 1,000 inserts/tx",
    "baseline",
    asRows(await measureHttp(batch(bareServer, {}, "ten_bare"), timing)),
  );
  await bare.stop();

  ctx.progress("Baseplate plane");
  const plane = await startBaseplatePlane(ctx.resources, database, { BASEPLATE_BODY_LIMIT: String(4 * 1024 * 1024) });
  const auth = { authorization: `Bearer ${plane.plane.secretKey}` };
  const tenantId = plane.plane.tenantId;
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${plane.url}${path}`, {
      method,
      headers: { ...auth, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  await api("POST", "/v1/usage/meters", {
    key: "tokens",
    eventType: "llm.call",
    aggregation: "sum",
    valuePath: "tokens",
    groupBy: { model: "model" },
  });
  await api("POST", `/v1/tenants/${tenantId}/entitlements`, {
    feature: "ai",
    meter: "tokens",
    limit: 1e12,
    period: "rolling",
    rollingDays: 30,
  });

  ctx.progress("Baseplate: single-event ingest");
  await checkResponse(single(plane, auth, tenantId), 200);
  const ingest = await measureHttp(single(plane, auth, tenantId), timing);
  const ingestRow = row("Baseplate single event", "subject", ingest, [compare(ingest, bareSingle, 0.4)]);
  ctx.progress("Baseplate: batch ingest");
  const batchM = asRows(await measureHttp(batch(plane, auth, tenantId), timing));
  const batchRow = row("Baseplate batch of 1,000", "subject", batchM, [compare(batchM, bareBatch, 0.5)]);

  // Seed: `seedCount` events evenly over the last 30 days (ending a minute ago), 4 senders.
  ctx.progress(`seeding ${seedCount.toLocaleString("en-US")} events over 30 days`);
  const now = Date.now();
  const start = now - 30 * DAY;
  const step = (30 * DAY - MINUTE) / seedCount;
  const seedBegan = performance.now();
  let next = 0;
  const sender = async () => {
    while (next < seedCount) {
      const first = next;
      next += batchSize;
      const events = [];
      for (let i = first; i < Math.min(first + batchSize, seedCount); i++) {
        events.push({
          id: `seed-${i}`,
          type: "llm.call",
          subject: tenantId,
          time: new Date(Math.floor(start + i * step)).toISOString(),
          data: { tokens: i % 1000, model: MODELS[i % 3] },
        });
      }
      const r = await api("POST", "/v1/usage/events/batch", { events });
      if (r.accepted !== events.length)
        throw new Error(`seed batch accepted ${String(r.accepted)} of ${events.length}`);
    }
  };
  await Promise.all(Array.from({ length: 4 }, sender));
  const seedS = (performance.now() - seedBegan) / 1000;

  const from = Math.floor(start / (60 * MINUTE)) * 60 * MINUTE;
  const to = Math.ceil((now + MINUTE) / MINUTE) * MINUTE;
  const q = (extra: Record<string, string>) =>
    `/v1/usage/meters/tokens/usage?${new URLSearchParams({ tenantId, from: new Date(from).toISOString(), to: new Date(to).toISOString(), ...extra })}`;
  const expected = (await api("GET", q({}))) as { totals: Array<{ events: number }> };
  const read = (path: string): HttpLoad => ({
    url: plane.url,
    pid: plane.pid,
    method: "GET",
    path,
    connections: 4,
    headers: auth,
  });
  ctx.progress("Baseplate: usage query, 30 days");
  const total = await measureHttp(read(q({})), timing);
  const totalRow = row("query 30 days, total", "subject", total, [target(total, "p99 ≤ 20 ms", 20)]);
  const byDay = await measureHttp(read(q({ window: "day", timeZone: "America/New_York", groupBy: "model" })), timing);
  const byDayRow = row("query 30 days by day × model (New York)", "subject", byDay, [target(byDay, "p99 ≤ 20 ms", 20)]);
  ctx.progress("Baseplate: entitlement check at 500 req/s");
  const check = await measureHttp(
    {
      url: plane.url,
      pid: plane.pid,
      method: "POST",
      path: "/v1/entitlements/check",
      connections: 8,
      overallRate: 500,
      headers: { "content-type": "application/json", ...auth },
      body: JSON.stringify({ tenantId, feature: "ai", amount: 1 }),
    },
    timing,
  );
  const checkRow = row("entitlement check (500 req/s)", "subject", check, [target(check, "p99 ≤ 2 ms", 2)]);
  await plane.stop();

  const rows: ResultRow[] = [bareSingle, ingestRow, bareBatch, batchRow, totalRow, byDayRow, checkRow];
  return {
    status: "measured" as const,
    rows,
    notes: [
      engine === "sqlite"
        ? "SQLite with Baseplate's default config (WAL, synchronous=FULL); the bare Fastify uses the same pragmas."
        : `PostgreSQL ${redactUrl(ctx.postgres as string)}; pools of 10 connections on both sides.`,
      `Single events: ${postConnections} connections, a new event id per request; batches: 4 connections, 1,000 new events per request (rates in events/s).`,
      `Seeded ${seedCount.toLocaleString("en-US")} events over 30 days in ${seedS.toFixed(1)} s ` +
        `(${Math.round(seedCount / seedS).toLocaleString("en-US")} events/s through the batch route); the query's total covers ` +
        `${(expected.totals[0]?.events ?? 0).toLocaleString("en-US")} events. Set BENCH_USAGE_EVENTS=10000000 for the issue's 10M ` +
        "(the rollups read are the same: one row per hour × group, plus the minute edges).",
      "Queries: 4 connections. Entitlement check: paced at 500 req/s (p99 from when each request was due), " +
        "a rolling 30-day limit over the same meter (~720 hour rollups × 3 groups summed by the database, plus open holds).",
    ],
  };
}
