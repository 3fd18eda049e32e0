import { join } from "node:path";
import { isRecord, runChild } from "../lib/child.js";
import { createSchema, redactUrl, tempDir } from "../lib/databases.js";
import { checkResponse, type HttpLoad, measureHttp } from "../lib/load.js";
import type { Resources } from "../lib/resources.js";
import { type Comparison, compare, compareToRate, type Measurement, row } from "../lib/results.js";
import type { BenchContext, Scenario } from "../lib/scenario.js";
import { type BaseplateDatabase, startBareFastify, startBaseplatePlane } from "../lib/servers.js";

/**
 * billingScenario measures the billing module on one engine, each figure beside its baseline in
 * the same run:
 * - the invoice preview (`GET /v1/billing/subscriptions/:id/preview`) of a tenant on a plan of 10
 *   metered charges (5 `sum`, 5 `count` meters, every charge model) over `BENCH_BILLING_EVENTS`
 *   events (default 1,000,000) in its current period, against a bare Fastify answering the same
 *   JSON; target p99 ≤ 50 ms;
 * - period-end finalization with `BENCH_BILLING_SUBSCRIPTIONS` subscriptions due (default 10,000; one
 *   event per meter each) by `advanceDue` (the recurring job's work, one process, no HTTP; for
 *   BENCH_DURATION seconds or until all are ended), against
 *   the raw driver doing each invoice's row work in a transaction of its own; target ≥ 500
 *   invoices/s.
 * Fixtures go straight into the tables (bench/processes/billing.ts): usage events and the rollups
 * ingestion writes for them, and subscriptions.
 */
export function billingScenario(engine: "sqlite" | "postgres"): Scenario {
  return {
    id: `billing-${engine}`,
    title: `Billing preview and period-end finalization (${engine === "sqlite" ? "SQLite" : "PostgreSQL"})`,
    run: (ctx) => run(ctx, engine),
  };
}

const PREVIEW_P99_MS = 50;
const FINALIZE_RATE = 500;

interface Answer {
  result: Record<string, number>;
}

function isAnswer(value: unknown): value is Answer {
  return isRecord(value) && isRecord(value.result);
}

function child(resources: Resources, name: string, args: string[]): Promise<Record<string, number>> {
  return runChild(resources, { name, script: "bench/processes/billing.ts", args }, isAnswer, 600_000).then(
    (a) => a.result,
  );
}

function p99Target(m: Measurement, maxMs: number): Comparison {
  const ratio = m.p99Ms === null ? Number.NaN : m.p99Ms / maxMs;
  return { baseline: `p99 ≤ ${maxMs} ms`, ratio, metric: "p99", target: 1, pass: ratio <= 1 };
}

function finalized(result: Record<string, number>, detail: string): Measurement {
  const count = result.count ?? 0;
  const durationS = result.durationS ?? 0;
  return {
    rate: durationS > 0 ? count / durationS : 0,
    unit: "ops/s",
    p50Ms: null,
    p99Ms: null,
    count,
    failures: 0,
    durationS,
    cpuUsPerOp: count > 0 && result.cpuMs !== undefined ? (result.cpuMs * 1000) / count : null,
    detail,
  };
}

const CHARGES = [
  { model: "per_unit", unitPrice: "0.0001" },
  {
    model: "graduated",
    tiers: [
      { upTo: "100000", unitPrice: "0.001" },
      { upTo: null, unitPrice: "0.0005" },
    ],
  },
  {
    model: "volume",
    tiers: [
      { upTo: "1000", unitPrice: "0.01" },
      { upTo: null, unitPrice: "0.002", flatFee: "5" },
    ],
  },
  { model: "package", packageSize: "1000", packagePrice: "2.50" },
  { model: "percentage", percent: "1.5" },
];

async function run(ctx: BenchContext, engine: "sqlite" | "postgres") {
  if (engine === "postgres" && !ctx.postgres) {
    return {
      status: "skipped" as const,
      reason: ctx.postgresSkipReason ?? "PostgreSQL unavailable",
      rows: [],
      notes: [],
    };
  }
  const { timing } = ctx.options;
  const events = Number(process.env.BENCH_BILLING_EVENTS ?? 1_000_000);
  const subscriptions = Number(process.env.BENCH_BILLING_SUBSCRIPTIONS ?? 10_000);
  let database: BaseplateDatabase;
  let where: string[];
  if (engine === "sqlite") {
    const dir = join(tempDir(ctx.resources, "billing"), "baseplate");
    database = { engine: "sqlite", dataDir: dir };
    where = ["--dir", dir];
  } else {
    const url = ctx.postgres as string;
    const schema = await createSchema(ctx.resources, url);
    database = { engine: "postgres", url, schema };
    where = ["--url", url, "--schema", schema];
  }

  ctx.progress("Baseplate plane: 10 meters, a plan of 10 charges, a subscription");
  const plane = await startBaseplatePlane(ctx.resources, database);
  const auth = { authorization: `Bearer ${plane.plane.secretKey}` };
  const { tenantId, environmentId } = plane.plane;
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
  const charges = [];
  for (let k = 0; k < 10; k++) {
    const sum = k < 5;
    await api("POST", "/v1/usage/meters", {
      key: `m${k}`,
      eventType: `m${k}.call`,
      aggregation: sum ? "sum" : "count",
      ...(sum ? { valuePath: "v" } : {}),
    });
    charges.push({ meter: `m${k}`, ...CHARGES[k % 5] });
  }
  const plan = await api("POST", "/v1/billing/plans", {
    key: "metered",
    name: "Metered",
    interval: "month",
    currency: "USD",
    fixedFee: "49.00",
    charges,
  });
  const versionId = (plan.currentVersion as Record<string, unknown>).id as string;
  const sub = await api("POST", "/v1/billing/subscriptions", { tenantId, plan: "metered" });
  const subscriptionId = sub.id as string;

  ctx.progress(`seeding ${events.toLocaleString("en-US")} usage events and their rollups`);
  const seeded = await child(ctx.resources, `billing-seed-${engine}`, [
    "--engine",
    engine,
    "--mode",
    "seed-usage",
    ...where,
    "--environment",
    environmentId,
    "--tenant",
    tenantId,
    "--subscription",
    subscriptionId,
    "--events",
    String(events),
  ]);

  const previewPath = `/v1/billing/subscriptions/${subscriptionId}/preview`;
  const previewLoad = (url: string, pid: number | undefined, headers: Record<string, string>): HttpLoad => ({
    url,
    pid,
    method: "GET",
    path: previewPath,
    connections: 4,
    headers,
  });
  const body = await api("GET", previewPath);
  const charged = (body.lines as Array<{ usage: { value: string } | null }>).reduce(
    (n, l) => n + (l.usage ? Number(l.usage.value) : 0),
    0,
  );
  ctx.progress("Baseplate: invoice preview");
  await checkResponse(previewLoad(plane.url, plane.pid, auth), 200);
  const preview = await measureHttp(previewLoad(plane.url, plane.pid, auth), timing);
  await plane.stop();

  ctx.progress("bare Fastify: the same preview JSON");
  const bare = await startBareFastify(ctx.resources, { store: "none" }, [
    {
      path: "/v1/billing/subscriptions/:id/preview",
      bearer: plane.plane.secretKey,
      params: { id: subscriptionId },
      body,
    },
  ]);
  await checkResponse(previewLoad(bare.url, bare.pid, auth), 200);
  const bareRow = row(
    "bare Fastify, same JSON",
    "baseline",
    await measureHttp(previewLoad(bare.url, bare.pid, auth), timing),
  );
  await bare.stop();

  const finalizeArgs = (mode: string) => [
    "--engine",
    engine,
    "--mode",
    mode,
    ...where,
    "--environment",
    environmentId,
    "--plan-version",
    versionId,
    "--count",
    String(subscriptions),
    "--duration",
    String(timing.durationS),
  ];
  ctx.progress(`raw driver: ${subscriptions.toLocaleString("en-US")} invoices, one transaction each`);
  const raw = await child(ctx.resources, `billing-raw-${engine}`, finalizeArgs("raw-finalize"));
  const rawRow = row(
    "raw driver, 1 invoice/tx",
    "baseline",
    finalized(raw, "lock, sum 10 meters' rollups (1 statement), counter, insert invoice, renew; no facts"),
  );
  ctx.progress(`Baseplate: finalizing ${subscriptions.toLocaleString("en-US")} due subscriptions`);
  const fin = await child(ctx.resources, `billing-finalize-${engine}`, finalizeArgs("finalize"));
  const finM = finalized(fin, "advanceDue in one process: invoice + renewal + facts per subscription");

  return {
    status: "measured" as const,
    rows: [
      bareRow,
      row("preview, 10 charges", "subject", preview, [compare(preview, bareRow), p99Target(preview, PREVIEW_P99_MS)]),
      rawRow,
      row("finalization", "subject", finM, [
        compare(finM, rawRow),
        compareToRate(finM, FINALIZE_RATE, `${FINALIZE_RATE} invoices/s`),
      ]),
    ],
    notes: [
      engine === "sqlite"
        ? "SQLite with Baseplate's defaults (WAL, synchronous=FULL)."
        : `PostgreSQL ${redactUrl(ctx.postgres as string)}, a fresh schema.`,
      `Preview: ${events.toLocaleString("en-US")} events (${charged.toLocaleString("en-US")} counted by the preview's usage queries) of one tenant over ` +
        `${((Date.now() - (seeded.periodStart ?? 0)) / 86_400_000).toFixed(0)} days of its period, 10 meters; seeded in ${(seeded.seedS ?? 0).toFixed(1)} s ` +
        "straight into usage_event and usage_rollup. 4 connections; the bare Fastify serves the same JSON (auth header and path checked).",
      `Finalization: ${subscriptions.toLocaleString("en-US")} subscriptions on the 10-charge plan, one period each due, one event per meter ` +
        `(seeded in ${(fin.seedS ?? 0).toFixed(1)} s); ${Number(fin.count).toLocaleString("en-US")} ended in the measurement (raw: ${Number(raw.count).toLocaleString("en-US")}), each checked: one invoice per period, numbers gap-free; rates in invoices/s. Set BENCH_BILLING_SUBSCRIPTIONS / BENCH_BILLING_EVENTS to change the sizes.`,
    ],
  };
}
