import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { dirname } from "node:path";
import type { BenchOptions } from "./options.js";

export type RateUnit = "req/s" | "rows/s" | "ops/s" | "MB/s";

/** Measurement is one measured load: a rate of successful operations and their latency. */
export interface Measurement {
  rate: number;
  unit: RateUnit;
  /** p50Ms and p99Ms are null where a per-operation latency means nothing (batched inserts). */
  p50Ms: number | null;
  p99Ms: number | null;
  /** count is how many operations succeeded during `durationS`. */
  count: number;
  /** failures counts errors, timeouts and non-2xx answers (not included in `rate`). */
  failures: number;
  durationS: number;
  /**
   * cpuUsPerOp is the CPU time the measured process used per successful operation (µs; user +
   * system, all threads, workers included). Unlike the rate it barely moves when other processes
   * compete for the cores. Null where unknown (not Linux).
   */
  cpuUsPerOp: number | null;
  /** detail says how it was measured (connections, concurrency, batch size). */
  detail: string;
}

/**
 * Comparison is `ratio = subject rate / baseline rate` (metric `rate`, the default), judged
 * against `target` when one exists; or, with metric `p99`, `ratio = subject p99 / baseline p99`,
 * where lower is better.
 */
export interface Comparison {
  baseline: string;
  ratio: number;
  /** metric is what the ratio compares (absent: `rate`). */
  metric?: "rate" | "p99";
  /**
   * target is the lowest acceptable rate ratio (e.g. 0.9; pass is `ratio >= target`), or for
   * metric `p99` the highest acceptable p99 ratio (pass is `ratio <= target`).
   */
  target?: number;
  pass?: boolean;
}

export interface ResultRow extends Measurement {
  name: string;
  role: "baseline" | "subject";
  comparisons: Comparison[];
}

export interface ScenarioResult {
  id: string;
  title: string;
  status: "measured" | "skipped" | "failed";
  /** reason explains a skipped or failed scenario. */
  reason?: string;
  rows: ResultRow[];
  notes: string[];
}

/** row names a measurement for a scenario's table. */
export function row(name: string, role: ResultRow["role"], m: Measurement, comparisons: Comparison[] = []): ResultRow {
  return { name, role, ...m, comparisons };
}

/** compare builds the comparison of `subject` to the baseline row `baseline`. */
export function compare(subject: Measurement, baseline: ResultRow, target?: number): Comparison {
  const ratio = baseline.rate > 0 ? subject.rate / baseline.rate : Number.NaN;
  return target === undefined
    ? { baseline: baseline.name, ratio }
    : { baseline: baseline.name, ratio, target, pass: ratio >= target };
}

/**
 * compareToRate compares the subject's rate with an absolute rate (e.g. 100 logins/s): the
 * baseline is named `label` and the ratio is `rate / targetRate`; with `judge` (the default) it
 * is a target of 1.00x (PASS/MISS), without it only informative (e.g. for a baseline row).
 */
export function compareToRate(subject: Measurement, targetRate: number, label: string, judge = true): Comparison {
  const ratio = subject.rate / targetRate;
  return judge ? { baseline: label, ratio, target: 1, pass: ratio >= 1 } : { baseline: label, ratio };
}

/**
 * compareP99 builds `ratio = subject p99 / baseline p99` (1.00x: latency unaffected), judged
 * against `maxRatio` when given.
 */
export function compareP99(subject: Measurement, baseline: ResultRow, maxRatio?: number): Comparison {
  const ratio =
    subject.p99Ms !== null && baseline.p99Ms !== null && baseline.p99Ms > 0
      ? subject.p99Ms / baseline.p99Ms
      : Number.NaN;
  return maxRatio === undefined
    ? { baseline: baseline.name, ratio, metric: "p99" }
    : { baseline: baseline.name, ratio, metric: "p99", target: maxRatio, pass: ratio <= maxRatio };
}

/** writeResults writes the machine-readable results (bench/results/latest.json). */
export function writeResults(
  options: BenchOptions,
  startedAt: Date,
  scenarios: ScenarioResult[],
  notes: string[],
): string {
  const cpu = cpus();
  const document = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: {
      cpus: cpu.length,
      cpuModel: cpu[0]?.model ?? "unknown",
      platform: `${process.platform} ${release()}`,
      node: process.version,
    },
    options: {
      durationS: options.timing.durationS,
      warmupS: options.timing.warmupS,
      getConnections: options.getConnections,
      postConnections: options.postConnections,
    },
    notes,
    scenarios,
  };
  mkdirSync(dirname(options.resultsFile), { recursive: true });
  writeFileSync(options.resultsFile, `${JSON.stringify(document, null, 2)}\n`);
  return options.resultsFile;
}
