import { join } from "node:path";
import { createSchema, redactUrl, tempDir } from "../lib/databases.js";
import { checkResponse, type HttpLoad, measureHttp, uniqueHeader } from "../lib/load.js";
import { scrapeMetrics, sumSeries } from "../lib/prometheus.js";
import { compare, type ResultRow, row } from "../lib/results.js";
import type { BenchContext, Scenario } from "../lib/scenario.js";
import {
  type BareStore,
  type BaseplateDatabase,
  runRawInserts,
  type Server,
  startBareFastify,
  startBaseplate,
} from "../lib/servers.js";

const PATH = "/v1/probe/items";
const BODY = JSON.stringify({ name: "bench" });

/**
 * writePathScenario measures the idempotent write path, `POST /v1/probe/items` with a unique
 * `Idempotency-Key` per request (claim the key, one transaction writing the item, its fact, its
 * job and the stored response; workers run the job), against raw inserts of a similar row and a
 * bare Fastify whose POST does one raw insert. PostgreSQL scenarios skip when it is unreachable.
 */
export function writePathScenario(engine: "sqlite" | "postgres"): Scenario {
  return {
    id: `write-path-${engine}`,
    title: `POST ${PATH} with Idempotency-Key: Baseplate (${engine === "sqlite" ? "SQLite" : "PostgreSQL"}) vs raw inserts`,
    run: (ctx) => (engine === "sqlite" ? runSqlite(ctx) : runPostgres(ctx)),
  };
}

async function runSqlite(ctx: BenchContext) {
  const { timing } = ctx.options;
  const dir = tempDir(ctx.resources, "write-sqlite");

  ctx.progress("raw better-sqlite3 inserts, autocommit");
  const autocommit = row(
    "raw insert, autocommit",
    "baseline",
    await runRawInserts(ctx.resources, { mode: "sqlite-autocommit", file: join(dir, "raw-autocommit.sqlite") }, timing),
  );
  ctx.progress("raw better-sqlite3 inserts, batched");
  const batched = row(
    "raw insert, 1000/tx",
    "baseline",
    await runRawInserts(
      ctx.resources,
      { mode: "sqlite-batched", file: join(dir, "raw-batched.sqlite"), batch: 1000 },
      timing,
    ),
  );
  const rows = await measureServers(
    ctx,
    { store: "sqlite", file: join(dir, "fastify.sqlite") },
    { engine: "sqlite", dataDir: join(dir, "baseplate") },
    [autocommit, batched],
  );
  return {
    status: "measured" as const,
    rows: rows.rows,
    notes: [
      "SQLite with Baseplate's default config: WAL, synchronous=FULL (survives power loss), one connection; " +
        "the raw baselines and the bare Fastify use the same pragmas.",
      `All files under ${dir}; with synchronous=FULL every commit waits for an fsync.`,
      ...rows.notes,
    ],
  };
}

async function runPostgres(ctx: BenchContext) {
  if (!ctx.postgres) {
    return {
      status: "skipped" as const,
      reason: ctx.postgresSkipReason ?? "PostgreSQL unavailable",
      rows: [],
      notes: [],
    };
  }
  const url = ctx.postgres;
  const schema = await createSchema(ctx.resources, url);
  const { postConnections, timing } = ctx.options;

  ctx.progress("raw pg inserts, concurrent");
  const raw = row(
    "raw insert, concurrent",
    "baseline",
    await runRawInserts(ctx.resources, { mode: "pg-concurrent", url, schema, concurrency: postConnections }, timing),
  );
  const rows = await measureServers(ctx, { store: "postgres", url, schema }, { engine: "postgres", url, schema }, [
    raw,
  ]);
  return {
    status: "measured" as const,
    rows: rows.rows,
    notes: [
      `PostgreSQL ${redactUrl(url)}, schema ${schema} (dropped at the end); pools of 10 connections ` +
        "(Baseplate's default) in Baseplate, the bare Fastify and the raw baseline; the server shares the 2 cores.",
      ...rows.notes,
    ],
  };
}

/**
 * measureServers measures the bare Fastify POST (one raw insert) and then Baseplate's idempotent
 * POST, comparing Baseplate with the bare Fastify and with each raw baseline.
 */
async function measureServers(
  ctx: BenchContext,
  store: BareStore,
  database: BaseplateDatabase,
  rawRows: ResultRow[],
): Promise<{ rows: ResultRow[]; notes: string[] }> {
  const { timing, postConnections } = ctx.options;
  const load = (server: Server, headers: Record<string, string>): HttpLoad => ({
    url: server.url,
    pid: server.pid,
    method: "POST",
    path: PATH,
    connections: postConnections,
    headers: { "content-type": "application/json", ...headers },
    body: BODY,
  });

  ctx.progress(`bare Fastify POST ${PATH} (1 raw insert)`);
  const bare = await startBareFastify(ctx.resources, store);
  await checkResponse(load(bare, {}), 201);
  const bareRow = row("bare Fastify + 1 insert", "baseline", await measureHttp(load(bare, {}), timing));
  await bare.stop();

  ctx.progress(`Baseplate POST ${PATH}`);
  const baseplate = await startBaseplate(ctx.resources, database);
  const auth = { authorization: `Bearer ${baseplate.token}` };
  await checkResponse(load(baseplate, { ...auth, "idempotency-key": `check-${Date.now()}` }), 201);
  const measured = await measureHttp(
    { ...load(baseplate, auth), setupRequest: uniqueHeader("idempotency-key") },
    timing,
  );
  const jobs = await jobNotes(baseplate.url);
  await baseplate.stop();

  const subject = row(
    "Baseplate",
    "subject",
    measured,
    [bareRow, ...rawRows].map((baseline) => compare(measured, baseline)),
  );
  return {
    rows: [...rawRows, bareRow, subject],
    notes: [
      `${postConnections} connections, body ${BODY}, a unique Idempotency-Key per request; ` +
        "workers on (BASEPLATE_WORKERS=true), so each request's probe.record job runs during the measurement.",
      "Commits: the bare Fastify commits once per request; Baseplate once (item + fact + job + the " +
        "idempotency record with its response in one transaction) and its worker twice per job (claim; the " +
        "job's own insert with its completion). On SQLite, transactions of one event-loop turn share one " +
        "commit (group commit), so there are far fewer fsyncs than requests.",
      jobs,
    ],
  };
}

async function jobNotes(url: string): Promise<string> {
  try {
    const series = await scrapeMetrics(`${url}/metrics`);
    const succeeded = sumSeries(series, "baseplate_job_attempts_total", { job: "probe.record", outcome: "succeeded" });
    const failed = sumSeries(series, "baseplate_job_attempts_total", { job: "probe.record" }) - succeeded;
    const queued = sumSeries(series, "baseplate_job_queue_depth", { state: "queued" });
    return (
      `Jobs (warm-up + measurement): ${succeeded.toLocaleString("en-US")} probe.record attempts succeeded, ` +
      `${failed} failed; ${queued.toLocaleString("en-US")} jobs still queued when measuring ended.`
    );
  } catch (err) {
    return `Could not read job metrics: ${String(err)}`;
  }
}
