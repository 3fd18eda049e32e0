/**
 * audit.ts measures the audit module in one process, no HTTP, on one engine:
 *
 * - `raw-batched`: raw driver inserts (better-sqlite3 / pg) of audit-entry-shaped rows, values
 *   precomputed (no hashing), into a table with the same columns and indexes as `audit_entry`,
 *   `--batch` rows per transaction: the baseline;
 * - `facts-batched`: `facts.record` through the audit sink, `--batch` facts per transaction (each
 *   fact: canonical JSON, SHA-256, entry + target rows, chain head update);
 * - `facts-single`: the same, one fact per transaction (the usual write path's shape);
 * - `verify`: `ChainVerifier` over `--entries` entries in memory; `verifyExportLines` over the
 *   same chain as export lines (one thread, parsing included); `verifyExportFile` over them as a
 *   file (what `baseplate audit verify` runs: worker threads, reading and parsing included);
 * - `export`: fills a chain with `--export-entries` entries, then drains the JSON Lines export
 *   generator (database paging + serialisation; no HTTP).
 *
 *   node --import tsx bench/processes/audit.ts --engine sqlite|postgres --mode M
 *     [--dir D] [--url U --schema S] [--duration S --warmup S] [--batch N] [--entries N]
 *
 * Prints one JSON line `{"result":{…}}` and exits.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type BetterSqlite3 from "better-sqlite3";
import type pg from "pg";
import { type App, createApp } from "../../packages/server/src/app.js";
import { loadConfig } from "../../packages/server/src/config.js";
import {
  auditFormat,
  auditIds,
  auditModule,
  ChainVerifier,
  ENTRY_COLUMNS,
  entryRow,
  verifyExportFile,
  verifyExportLines,
} from "../../packages/server/src/modules/audit/index.js";
import type { ActionContext } from "../../packages/server/src/platform/principal.js";
import { answer, stopOnSignal } from "../lib/lifecycle.js";
import { openPgPool, openSqlite } from "../lib/raw-db.js";

const { values } = parseArgs({
  options: {
    engine: { type: "string" },
    mode: { type: "string" },
    dir: { type: "string" },
    url: { type: "string" },
    schema: { type: "string" },
    duration: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
    batch: { type: "string", default: "1000" },
    entries: { type: "string", default: "100000" },
  },
});
const engine = values.engine === "postgres" ? "postgres" : "sqlite";
const durationS = Number(values.duration);
const warmupS = Number(values.warmup);
const batch = Math.max(1, Number(values.batch));

stopOnSignal(async () => undefined);

const ENVIRONMENT = "env_bench";
const ctx: ActionContext = {
  principal: {
    actorType: "service",
    actorId: "key_bench",
    credentialId: "key_bench",
    environmentId: ENVIRONMENT,
    surfaceId: "srf_bench",
    permissions: ["*"],
  },
  request: { requestId: "req_bench", ip: "10.0.0.1", userAgent: "bench" },
};

/** entryOf builds a realistic entry (the shape a tenant update produces) at `seq` after `prevHash`. */
function entryOf(seq: number, prevHash: string, chain = ENVIRONMENT): auditFormat.AuditEntryRecord {
  const now = Date.now();
  const body: Omit<auditFormat.AuditEntryRecord, "hash"> = {
    v: 1,
    id: auditIds.newId("auditEntry", now),
    chain,
    seq,
    environmentId: ENVIRONMENT,
    tenantId: null,
    action: "tenant.updated",
    occurredAt: now,
    actor: { type: "service", id: "key_bench", displayName: null, model: null, onBehalfOf: null },
    targets: [{ type: "tenant", id: "ten_bench" }],
    context: { ip: "10.0.0.1", userAgent: "bench", surfaceId: "srf_bench", requestId: `req_${seq}` },
    metadata: { name: "Acme", plan: "gold", seats: 12 },
    changes: { before: { name: "Acme Inc" }, after: { name: "Acme" } },
    source: "fact",
    factId: `fct_${seq}`,
    prevHash,
  };
  return { ...body, hash: auditFormat.entryHash(body) };
}

async function openApp(): Promise<App> {
  const env: Record<string, string> =
    engine === "postgres"
      ? { BASEPLATE_DATABASE_URL: values.url ?? "", BASEPLATE_DATABASE_SCHEMA: values.schema ?? "" }
      : { BASEPLATE_DATA_DIR: values.dir ?? "" };
  const app = await createApp({
    config: loadConfig({ ...env, BASEPLATE_LOG_LEVEL: "silent", BASEPLATE_WORKERS: "false" }),
    modules: [auditModule],
  });
  await app.start({ listen: false, workers: false });
  return app;
}

interface Timed {
  count: number;
  durationS: number;
  cpuMs: number;
}

async function timed(seconds: number, step: () => Promise<number> | number): Promise<Timed> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let count = 0;
  while (performance.now() < deadline) count += await step();
  const used = process.cpuUsage(cpu);
  return { count, durationS: (performance.now() - started) / 1000, cpuMs: (used.user + used.system) / 1000 };
}

/** COLUMNS and rowOf: exactly the rows the audit module writes, so the baseline inserts the same bytes. */
const COLUMNS = ENTRY_COLUMNS;
const rowOf = entryRow;

/** rawTableSql: the same columns, unique constraint and indexes as `audit_entry`. */
function rawTableSql(json: string): string[] {
  const types: Record<string, string> = { seq: "bigint", occurred_at: "bigint" };
  for (const c of ["actor", "targets", "context", "metadata", "changes"]) types[c] = json;
  const cols = COLUMNS.map((c) => `${c} ${types[c] ?? "text"}${c === "id" ? " primary key" : ""}`).join(", ");
  return [
    `create table raw_audit_entry (${cols}, unique (chain_id, seq))`,
    "create index raw_audit_env_idx on raw_audit_entry (environment_id, id)",
    "create index raw_audit_tenant_idx on raw_audit_entry (environment_id, tenant_id, id)",
    "create index raw_audit_action_idx on raw_audit_entry (environment_id, action, id)",
  ];
}

async function rawBatched(): Promise<Timed> {
  // Values are prepared outside the timed loop: the baseline pays for the inserts only.
  const prepared = Array.from({ length: batch }, (_, i) => rowOf(entryOf(i + 1, auditFormat.GENESIS_HASH)));
  let seq = 0;
  const fresh = (row: unknown[]) => {
    const copy = [...row];
    copy[0] = `aud_${++seq}`;
    copy[2] = seq;
    return copy;
  };
  if (engine === "sqlite") {
    const db: BetterSqlite3.Database = openSqlite(`${values.dir}/raw.sqlite`);
    for (const s of rawTableSql("text")) db.exec(s);
    const stmt = db.prepare(
      `insert into raw_audit_entry (${COLUMNS.join(",")}) values (${COLUMNS.map(() => "?").join(",")})`,
    );
    const tx = db.transaction(() => {
      for (const row of prepared) stmt.run(...fresh(row));
    });
    const step = () => {
      tx();
      return batch;
    };
    if (warmupS > 0) await timed(warmupS, step);
    const result = await timed(durationS, step);
    db.close();
    return result;
  }
  const pool: pg.Pool = openPgPool(values.url ?? "", values.schema ?? "", 2);
  for (const s of rawTableSql("jsonb")) await pool.query(s);
  const text = `insert into raw_audit_entry (${COLUMNS.join(",")}) values (${COLUMNS.map((_, i) => `$${i + 1}`).join(",")})`;
  const step = async () => {
    const client = await pool.connect();
    try {
      await client.query("begin");
      for (const row of prepared) await client.query(text, fresh(row));
      await client.query("commit");
    } finally {
      client.release();
    }
    return batch;
  };
  if (warmupS > 0) await timed(warmupS, step);
  const result = await timed(durationS, step);
  await pool.end();
  return result;
}

async function facts(perTx: number): Promise<Timed> {
  const app = await openApp();
  const step = async () => {
    await app.db.transaction(async (tx) => {
      for (let i = 0; i < perTx; i++) {
        await app.facts.record(tx, ctx, {
          type: "tenant.updated",
          targets: [{ type: "tenant", id: "ten_bench" }],
          data: { name: "Acme", plan: "gold", seats: 12 },
          changes: { before: { name: "Acme Inc" }, after: { name: "Acme" } },
        });
      }
    });
    return perTx;
  };
  if (warmupS > 0) await timed(warmupS, step);
  const result = await timed(durationS, step);
  await app.stop();
  return result;
}

async function verify(n: number) {
  const entries: auditFormat.AuditEntryRecord[] = [];
  let prev = auditFormat.GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const e = entryOf(seq, prev);
    entries.push(e);
    prev = e.hash;
  }
  const keys = new Map();
  /** cpuMs: CPU time of the process (all threads, the workers included) of the last timed run. */
  let cpuMs = 0;
  const cpuSince = (from: NodeJS.CpuUsage) => {
    const used = process.cpuUsage(from);
    cpuMs = (used.user + used.system) / 1000;
  };
  const inMemory = () => {
    const v = new ChainVerifier({ keys, chain: ENVIRONMENT });
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (const e of entries) v.entry(e);
    const result = v.finish();
    if (!result.ok) throw new Error(`verification failed: ${JSON.stringify(result.errors[0])}`);
    cpuSince(cpu);
    return (performance.now() - started) / 1000;
  };
  // The lines exactly as GET /v1/audit/export writes them.
  const lines = [
    JSON.stringify({
      type: "header",
      format: auditFormat.FORMAT,
      version: auditFormat.FORMAT_VERSION,
      chain: ENVIRONMENT,
      environmentId: ENVIRONMENT,
      tenantId: null,
      exportedAt: Date.now(),
      anchor: { size: 0, headHash: auditFormat.GENESIS_HASH },
    }),
    ...entries.map((e) => auditFormat.entryLine(e)),
  ];
  inMemory(); // warm-up
  const memoryS = inMemory();
  const memoryCpuMs = cpuMs;
  const timedLines = async () => {
    const cpu = process.cpuUsage();
    const started = performance.now();
    const result = await verifyExportLines(lines, keys);
    if (!result.ok || result.entries !== n) throw new Error("export verification failed");
    cpuSince(cpu);
    return (performance.now() - started) / 1000;
  };
  await timedLines(); // warm-up
  const linesS = await timedLines();
  const linesCpuMs = cpuMs;
  const dir = mkdtempSync(join(tmpdir(), "baseplate-bench-verify-"));
  const file = join(dir, "export.jsonl");
  writeFileSync(file, `${lines.join("\n")}\n`);
  const bytes = statSync(file).size;
  const timedFile = async () => {
    const cpu = process.cpuUsage();
    const started = performance.now();
    const result = await verifyExportFile(file, keys);
    if (!result.ok || result.entries !== n) throw new Error("file verification failed");
    cpuSince(cpu);
    return (performance.now() - started) / 1000;
  };
  try {
    const coldFileS = await timedFile(); // includes starting the worker threads
    const fileS = await timedFile();
    const fileCpuMs = cpuMs;
    return {
      entries: n,
      memoryS,
      memoryCpuMs,
      linesS,
      linesCpuMs,
      coldFileS,
      fileS,
      fileCpuMs,
      bytes,
      threads: availableParallelism(),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function exportRun(n: number) {
  const app = await openApp();
  const audit = app.service(auditModule);
  // Fill one chain with valid entries through raw inserts (fast), then set its head.
  const db = app.db.kysely;
  let prev = auditFormat.GENESIS_HASH;
  const fillStarted = performance.now();
  for (let from = 1; from <= n; from += 1000) {
    const rows: Array<Record<string, unknown>> = [];
    for (let seq = from; seq < Math.min(from + 1000, n + 1); seq++) {
      const e = entryOf(seq, prev);
      prev = e.hash;
      rows.push(Object.fromEntries(COLUMNS.map((c, i) => [c, rowOf(e)[i]])));
    }
    await db.transaction().execute(async (tx) => {
      for (let i = 0; i < rows.length; i += 100)
        await tx
          .insertInto("audit_entry")
          .values(rows.slice(i, i + 100))
          .execute();
    });
  }
  await db
    .insertInto("audit_chain")
    .values({
      id: ENVIRONMENT,
      environment_id: ENVIRONMENT,
      tenant_id: null,
      anchor_size: 0,
      anchor_hash: auditFormat.GENESIS_HASH,
      created_at: Date.now(),
      updated_at: Date.now(),
    })
    .execute();
  const fillS = (performance.now() - fillStarted) / 1000;
  await app.db.transaction((tx) => audit.checkpoints.checkpointIn(tx, ENVIRONMENT, null));
  const access = {
    principal: ctx.principal as NonNullable<ActionContext["principal"]>,
    environmentId: ENVIRONMENT,
    tenantId: null,
  };
  const memoryBefore = process.memoryUsage().rss;
  let peak = memoryBefore;
  const started = performance.now();
  let bytes = 0;
  let chunks = 0;
  for await (const chunk of audit.exports.exportJsonLines(access)) {
    bytes += Buffer.byteLength(chunk);
    if (++chunks % 20 === 0) peak = Math.max(peak, process.memoryUsage().rss);
  }
  const exportS = (performance.now() - started) / 1000;
  const verifyStarted = performance.now();
  const verified = await audit.exports.verifyChain(access);
  const verifyS = (performance.now() - verifyStarted) / 1000;
  if (!verified.ok) throw new Error(`server-side verification failed: ${JSON.stringify(verified.errors[0])}`);
  await app.stop();
  return { entries: n, fillS, exportS, bytes, verifyS, rssGrowthMb: (peak - memoryBefore) / 1e6 };
}

let result: Record<string, unknown>;
switch (values.mode) {
  case "raw-batched":
    result = { ...(await rawBatched()) };
    break;
  case "facts-batched":
    result = { ...(await facts(batch)) };
    break;
  case "facts-single":
    result = { ...(await facts(1)) };
    break;
  case "verify":
    result = await verify(Number(values.entries));
    break;
  case "export":
    result = await exportRun(Number(values.entries));
    break;
  default:
    throw new Error(`unknown --mode ${values.mode}`);
}
await answer({ result });
process.exit(0);
