/**
 * `npm run bench`: runs every scenario, each server in its own child process, each subject side
 * by side with its baselines in the same run. Prints one table per scenario on stdout and writes
 * bench/results/latest.json. Exits 1 when a scenario failed to run (a MISS is reported, not fatal).
 * See bench/README.md.
 */
import { cpus, loadavg, totalmem } from "node:os";
import { postgresProblem, redactUrl } from "./lib/databases.js";
import { type BenchOptions, readOptions } from "./lib/options.js";
import { Resources } from "./lib/resources.js";
import { type ScenarioResult, writeResults } from "./lib/results.js";
import type { Scenario } from "./lib/scenario.js";
import { formatScenario } from "./lib/table.js";
import { permissionCheckScenario } from "./scenarios/access.js";
import { auditScenario } from "./scenarios/audit.js";
import { authReadScenario, loginScenario } from "./scenarios/auth.js";
import { billingScenario } from "./scenarios/billing.js";
import { credentialsVerifyScenario } from "./scenarios/credentials.js";
import { healthzScenario } from "./scenarios/kernel.js";
import { startScenario } from "./scenarios/start.js";
import { storageScenario } from "./scenarios/storage.js";
import { usageScenario } from "./scenarios/usage.js";
import { webhooksScenario } from "./scenarios/webhooks.js";
import { writePathScenario } from "./scenarios/write-path.js";

/** SCENARIOS is the run's table of contents; later issues append theirs. */
export const SCENARIOS: readonly Scenario[] = [
  healthzScenario,
  startScenario,
  writePathScenario("sqlite"),
  writePathScenario("postgres"),
  authReadScenario("secret-key"),
  authReadScenario("session"),
  authReadScenario("tenant-key"),
  authReadScenario("agent-key"),
  permissionCheckScenario,
  loginScenario,
  credentialsVerifyScenario,
  auditScenario("sqlite"),
  auditScenario("postgres"),
  webhooksScenario("sqlite"),
  webhooksScenario("postgres"),
  usageScenario("sqlite"),
  usageScenario("postgres"),
  billingScenario("sqlite"),
  billingScenario("postgres"),
  storageScenario("local"),
  storageScenario("s3"),
];

const open = new Set<Resources>();
let interrupted = false;

async function interrupt(signal: NodeJS.Signals): Promise<void> {
  if (interrupted) process.exit(1);
  interrupted = true;
  process.stderr.write(`\nbench: ${signal}, stopping children and cleaning up…\n`);
  await Promise.all([...open].map((r) => r.close()));
  process.exit(signal === "SIGINT" ? 130 : 143);
}

async function main(): Promise<number> {
  const options = readOptions();
  const startedAt = new Date();
  const selected = SCENARIOS.filter((s) => options.only.length === 0 || options.only.some((o) => s.id.includes(o)));
  const postgresSkipReason = await checkPostgres(options, selected);
  const notes = header(options, postgresSkipReason);
  for (const note of notes) process.stdout.write(`${note}\n`);

  const results: ScenarioResult[] = [];
  for (const scenario of selected) {
    const resources = new Resources();
    open.add(resources);
    const began = performance.now();
    let result: ScenarioResult;
    try {
      const outcome = await scenario.run({
        options,
        postgres: postgresSkipReason === null ? options.postgresUrl : null,
        postgresSkipReason,
        resources,
        progress: (message) => process.stderr.write(`  [${scenario.id}] ${message}…\n`),
      });
      result = { id: scenario.id, title: scenario.title, ...outcome };
    } catch (err) {
      result = {
        id: scenario.id,
        title: scenario.title,
        status: "failed",
        reason: err instanceof Error ? (err.stack ?? err.message) : String(err),
        rows: [],
        notes: [],
      };
    } finally {
      await resources.close();
      open.delete(resources);
    }
    result.notes.push(`Scenario took ${((performance.now() - began) / 1000).toFixed(1)} s.`);
    results.push(result);
    process.stdout.write(`\n${formatScenario(result)}\n`);
  }

  const file = writeResults(options, startedAt, results, notes);
  const misses = results.flatMap((r) => r.rows.flatMap((row) => row.comparisons.filter((c) => c.pass === false)));
  const failed = results.filter((r) => r.status === "failed");
  process.stdout.write(
    `\nResults written to ${file}. ${misses.length} target(s) missed, ${failed.length} scenario(s) failed, ` +
      `${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)} s in all.\n`,
  );
  return failed.length > 0 ? 1 : 0;
}

/** checkPostgres returns why the PostgreSQL scenarios skip, or null when PostgreSQL answers. */
async function checkPostgres(options: BenchOptions, selected: readonly Scenario[]): Promise<string | null> {
  if (!selected.some((s) => s.usesPostgres || s.id.includes("postgres"))) return "not selected";
  const problem = await postgresProblem(options.postgresUrl);
  if (problem === null) return null;
  return (
    `PostgreSQL at ${redactUrl(options.postgresUrl)} is unreachable (${problem}); PostgreSQL scenarios skipped. ` +
    "Set BASEPLATE_BENCH_DATABASE_URL to a reachable server to run them."
  );
}

function header(options: BenchOptions, postgresSkipReason: string | null): string[] {
  const cpu = cpus();
  const { durationS, warmupS } = options.timing;
  const load = loadavg()[0] ?? 0;
  const busy = load > cpu.length * 0.25;
  return [
    "Baseplate benchmark (npm run bench)",
    `Machine: ${cpu.length} x ${cpu[0]?.model ?? "unknown CPU"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}. ` +
      `The load generator (autocannon, this process) shares the ${cpu.length} cores with the server under test.`,
    `Each measurement: ${warmupS} s warm-up (discarded), then ${durationS} s (BENCH_DURATION / BENCH_WARMUP). ` +
      `Connections: ${options.getConnections} for GET, ${options.postConnections} for POST.`,
    "Baseplate runs its default configuration (SQLite: synchronous=FULL), plus BASEPLATE_LOG_LEVEL=warn and " +
      "BASEPLATE_WORKERS=true, in its own process; rates count 2xx answers only, latencies are of 2xx answers.",
    `Load average (1 min) before the run: ${load.toFixed(2)}` +
      (busy ? " -- WARNING: other processes are busy; rates will be noisy (compare cpu us/op instead)." : "."),
    ...(postgresSkipReason && postgresSkipReason !== "not selected" ? [`NOTE: ${postgresSkipReason}`] : []),
  ];
}

process.on("SIGINT", (signal) => void interrupt(signal));
process.on("SIGTERM", (signal) => void interrupt(signal));

try {
  process.exitCode = await main();
} catch (err) {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  await Promise.all([...open].map((r) => r.close()));
  process.exitCode = 1;
}
