import { isRecord, runChild } from "../lib/child.js";
import { createSchema, redactUrl, tempDir } from "../lib/databases.js";
import type { Timing } from "../lib/options.js";
import type { Resources } from "../lib/resources.js";
import { compare, compareToRate, type Measurement, row } from "../lib/results.js";
import type { BenchContext, Scenario } from "../lib/scenario.js";

/** APPEND_TARGET: appends through the fact path reach at least half the raw batched-insert rate. */
export const APPEND_TARGET = 0.5;
/** VERIFY_TARGET: the verifier checks at least 200,000 entries a second. */
export const VERIFY_TARGET = 200_000;
const BATCH = 1000;

/**
 * auditScenario measures the audit module on one engine, in child processes without HTTP:
 * appends through the fact path (1,000 facts per transaction, and one per transaction) against
 * raw driver inserts of audit-entry-shaped rows into a table with the same indexes (1,000 per
 * transaction, values precomputed); verification speed (in memory and from JSON Lines); and the
 * streamed export of one chain of `BENCH_AUDIT_EXPORT_ENTRIES` entries (default 100,000; set
 * 1000000 for the million).
 */
export function auditScenario(engine: "sqlite" | "postgres"): Scenario {
  return {
    id: `audit-${engine}`,
    title: `Audit appends, verification and export (${engine === "sqlite" ? "SQLite" : "PostgreSQL"})`,
    run: (ctx) => run(ctx, engine),
  };
}

interface AuditAnswer {
  result: Record<string, number>;
}

function isAnswer(value: unknown): value is AuditAnswer {
  return isRecord(value) && isRecord(value.result);
}

async function child(
  resources: Resources,
  args: string[],
  timing: Timing,
  extraS = 0,
): Promise<Record<string, number>> {
  const timeoutMs = (timing.durationS + timing.warmupS + extraS) * 1000 + 120_000;
  const { result } = await runChild(
    resources,
    { name: `audit-${args[3]}`, script: "bench/processes/audit.ts", args },
    isAnswer,
    timeoutMs,
  );
  return result;
}

function rate(result: Record<string, number>, unit: Measurement["unit"], detail: string): Measurement {
  const count = result.count ?? 0;
  const durationS = result.durationS ?? 0;
  return {
    rate: durationS > 0 ? count / durationS : 0,
    unit,
    p50Ms: null,
    p99Ms: null,
    count,
    failures: 0,
    durationS,
    cpuUsPerOp: count > 0 && result.cpuMs !== undefined ? (result.cpuMs * 1000) / count : null,
    detail,
  };
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
  const { timing } = ctx.options;
  const exportEntries = Number(process.env.BENCH_AUDIT_EXPORT_ENTRIES ?? 100_000);
  const verifyEntries = 200_000;
  const where = async (label: string): Promise<string[]> =>
    engine === "sqlite"
      ? ["--dir", tempDir(ctx.resources, `audit-${label}`)]
      : ["--url", ctx.postgres as string, "--schema", await createSchema(ctx.resources, ctx.postgres as string)];
  const base = (mode: string) => [
    "--engine",
    engine,
    "--mode",
    mode,
    "--duration",
    String(timing.durationS),
    "--warmup",
    String(timing.warmupS),
    "--batch",
    String(BATCH),
  ];

  ctx.progress("raw batched inserts");
  const raw = row(
    `raw insert, ${BATCH}/tx`,
    "baseline",
    rate(
      await child(ctx.resources, [...base("raw-batched"), ...(await where("raw"))], timing),
      "rows/s",
      `raw driver, ${BATCH} audit-shaped rows per transaction, same indexes`,
    ),
  );
  ctx.progress("facts through the audit sink, batched");
  const batchedM = rate(
    await child(ctx.resources, [...base("facts-batched"), ...(await where("batched"))], timing),
    "rows/s",
    `facts.record → audit sink, ${BATCH} facts per transaction`,
  );
  ctx.progress("facts through the audit sink, one per transaction");
  const singleM = rate(
    await child(ctx.resources, [...base("facts-single"), ...(await where("single"))], timing),
    "rows/s",
    "facts.record → audit sink, one fact per transaction (a commit each)",
  );
  ctx.progress(`verification of ${verifyEntries.toLocaleString("en-US")} entries`);
  const verified = await child(ctx.resources, [...base("verify"), "--entries", String(verifyEntries)], timing, 60);
  const verifyRate = (seconds: number | undefined, cpuMs: number | undefined, detail: string): Measurement => ({
    rate: verifyEntries / (seconds ?? Number.NaN),
    unit: "ops/s",
    p50Ms: null,
    p99Ms: null,
    count: verifyEntries,
    failures: 0,
    durationS: seconds ?? 0,
    cpuUsPerOp: cpuMs === undefined ? null : (cpuMs * 1000) / verifyEntries,
    detail,
  });
  const verifyMemory = verifyRate(
    verified.memoryS,
    verified.memoryCpuMs,
    "ChainVerifier over entry objects in memory (canonical encoding + SHA-256 each)",
  );
  const verifyLines = verifyRate(
    verified.linesS,
    verified.linesCpuMs,
    "verifyExportLines over export lines as strings, one thread (read without JSON.parse, SHA-256 of the bytes as written)",
  );
  const verifyFile = verifyRate(
    verified.fileS,
    verified.fileCpuMs,
    `verifyExportFile over the export file (baseplate audit verify): ${verified.threads ?? "?"} worker threads, reading + parsing included`,
  );
  ctx.progress(`export of ${exportEntries.toLocaleString("en-US")} entries`);
  const exported = await child(
    ctx.resources,
    [...base("export"), "--entries", String(exportEntries), ...(await where("export"))],
    timing,
    600,
  );
  const exportM: Measurement = {
    rate: exportEntries / (exported.exportS ?? Number.NaN),
    unit: "rows/s",
    p50Ms: null,
    p99Ms: null,
    count: exportEntries,
    failures: 0,
    durationS: exported.exportS ?? 0,
    cpuUsPerOp: null,
    detail: "JSON Lines export generator draining one chain (DB paging + serialisation, no HTTP)",
  };
  const serverVerifyM: Measurement = {
    ...exportM,
    rate: exportEntries / (exported.verifyS ?? Number.NaN),
    unit: "ops/s",
    durationS: exported.verifyS ?? 0,
    detail: "GET /v1/audit/verify's work: page the chain from the database and verify it",
  };

  return {
    status: "measured" as const,
    rows: [
      raw,
      row("facts → audit, 1000/tx", "subject", batchedM, [compare(batchedM, raw, APPEND_TARGET)]),
      row("facts → audit, 1/tx", "subject", singleM, [compare(singleM, raw)]),
      row("verify (JSON Lines file)", "subject", verifyFile, [
        compareToRate(verifyFile, VERIFY_TARGET, "200,000 entries/s"),
      ]),
      row("verify (JSON Lines, 1 thread)", "subject", verifyLines, [
        compareToRate(verifyLines, VERIFY_TARGET, "200,000 entries/s", false),
      ]),
      row("verify (in memory, 1 thread)", "subject", verifyMemory, [
        compareToRate(verifyMemory, VERIFY_TARGET, "200,000 entries/s", false),
      ]),
      row(`export ${exportEntries.toLocaleString("en-US")} (JSONL)`, "subject", exportM),
      row("verify from the database", "subject", serverVerifyM),
    ],
    notes: [
      engine === "postgres"
        ? `PostgreSQL ${redactUrl(ctx.postgres as string)}, a fresh schema per measurement (dropped at the end).`
        : "SQLite with Baseplate's defaults (WAL, synchronous=FULL), a fresh directory per measurement.",
      "Each fact: the entry encoded once (canonical JSON, whose member encodings are also the stored JSON columns) + SHA-256, hashed in memory in append order; the transaction's entries and their target rows are written just before commit in multi-row INSERTs (100 rows each); the first append of a transaction locks the chain row and reads the head entry. The raw baseline sends one prepared INSERT per row of the entry table only (no target rows).",
      `Verification: ${verifyEntries.toLocaleString("en-US")} entries, ${((verified.bytes ?? 0) / 1e6).toFixed(0)} MB of JSON Lines; ` +
        `the first file verification of the process (starting the workers) took ${(verified.coldFileS ?? 0).toFixed(2)} s, the measured one ${(verified.fileS ?? 0).toFixed(2)} s. ` +
        "cpu us/op of the verify rows: CPU of the whole process (worker threads included) per entry; on an idle machine the file rate is about threads x 1e6 / (cpu us/op).",
      `Export: ${exportEntries.toLocaleString("en-US")} entries, ${((exported.bytes ?? 0) / 1e6).toFixed(0)} MB of JSON Lines in ${(exported.exportS ?? 0).toFixed(1)} s; ` +
        `process RSS grew ${(exported.rssGrowthMb ?? 0).toFixed(0)} MB while streaming (pages of 1,000 rows); filling the chain took ${(exported.fillS ?? 0).toFixed(1)} s. ` +
        "BENCH_AUDIT_EXPORT_ENTRIES=1000000 measures a million.",
    ],
  };
}
