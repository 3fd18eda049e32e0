/**
 * raw-inserts.ts measures raw database inserts of a probe-item-shaped row, with no HTTP at all:
 *
 * - `--mode sqlite-autocommit`: better-sqlite3, one single-row INSERT per implicit transaction;
 * - `--mode sqlite-batched`: better-sqlite3, `--batch` rows per explicit transaction;
 * - `--mode pg-concurrent`: `pg` pool of 10, `--concurrency` loops each awaiting single-row INSERTs.
 *
 *   node --import tsx bench/processes/raw-inserts.ts --mode M --duration S --warmup S
 *     [--file F] [--url U --schema S] [--table T] [--batch N] [--concurrency N]
 *
 * Runs `warmup` seconds (discarded), then `duration` seconds, prints one JSON line
 * `{"result":{"count","durationS","p50Ms","p99Ms"}}` and exits. Latencies are per INSERT
 * (per transaction of `batch` rows in batched mode, reported as null).
 */
import { parseArgs } from "node:util";
import { answer, stopOnSignal } from "../lib/lifecycle.js";
import { createItemTableSql, insertItemSql, itemParams, newRawItem, openPgPool, openSqlite } from "../lib/raw-db.js";
import { LatencyRecorder } from "../lib/stats.js";

const { values } = parseArgs({
  options: {
    mode: { type: "string" },
    duration: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
    file: { type: "string" },
    url: { type: "string" },
    schema: { type: "string" },
    table: { type: "string", default: "raw_item" },
    batch: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "16" },
  },
});
const durationS = Number(values.duration);
const warmupS = Number(values.warmup);
const table = values.table ?? "raw_item";

interface Phase {
  count: number;
  durationS: number;
  cpuMs: number;
  latencies: LatencyRecorder;
}

function cpuMsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

stopOnSignal(async () => undefined);

let result: Phase;
switch (values.mode) {
  case "sqlite-autocommit":
  case "sqlite-batched": {
    if (!values.file) throw new Error("sqlite modes need --file");
    const db = openSqlite(values.file);
    for (const statement of createItemTableSql(table)) db.exec(statement);
    const stmt = db.prepare(insertItemSql("sqlite", table));
    const batch = values.mode === "sqlite-batched" ? Math.max(1, Number(values.batch)) : 1;
    const insertBatch = db.transaction((n: number) => {
      for (let i = 0; i < n; i++) stmt.run(...itemParams(newRawItem("bench")));
    });
    const phase = (seconds: number): Phase => {
      const latencies = new LatencyRecorder();
      const cpu = process.cpuUsage();
      const started = performance.now();
      const deadline = started + seconds * 1000;
      let count = 0;
      let now = started;
      while (now < deadline) {
        if (batch === 1) stmt.run(...itemParams(newRawItem("bench")));
        else insertBatch(batch);
        const after = performance.now();
        latencies.add(after - now);
        now = after;
        count += batch;
      }
      return { count, durationS: (now - started) / 1000, cpuMs: cpuMsSince(cpu), latencies };
    };
    if (warmupS > 0) phase(warmupS);
    result = phase(durationS);
    db.close();
    break;
  }
  case "pg-concurrent": {
    if (!values.url || !values.schema) throw new Error("pg-concurrent needs --url and --schema");
    const pool = openPgPool(values.url, values.schema);
    for (const statement of createItemTableSql(table)) await pool.query(statement);
    const text = insertItemSql("postgres", table);
    const concurrency = Math.max(1, Number(values.concurrency));
    const phase = async (seconds: number): Promise<Phase> => {
      const latencies = new LatencyRecorder();
      const cpu = process.cpuUsage();
      const started = performance.now();
      const deadline = started + seconds * 1000;
      let count = 0;
      const loop = async () => {
        while (performance.now() < deadline) {
          const before = performance.now();
          await pool.query(text, itemParams(newRawItem("bench")));
          latencies.add(performance.now() - before);
          count++;
        }
      };
      await Promise.all(Array.from({ length: concurrency }, loop));
      return { count, durationS: (performance.now() - started) / 1000, cpuMs: cpuMsSince(cpu), latencies };
    };
    if (warmupS > 0) await phase(warmupS);
    result = await phase(durationS);
    await pool.end();
    break;
  }
  default:
    throw new Error(`unknown --mode ${values.mode}`);
}

const p = result.latencies.percentiles([50, 99]);
const batched = values.mode === "sqlite-batched";
await answer({
  result: {
    count: result.count,
    durationS: result.durationS,
    cpuMs: result.cpuMs,
    p50Ms: batched ? null : (p?.[50] ?? null),
    p99Ms: batched ? null : (p?.[99] ?? null),
  },
});
process.exit(0);
