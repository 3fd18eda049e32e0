import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** REPO_ROOT is the repository root; child scripts are spawned from it. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export const DEFAULT_BENCH_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test";

/** Timing is how long one measurement runs, after a warm-up whose results are discarded. */
export interface Timing {
  durationS: number;
  warmupS: number;
}

/** BenchOptions is the run's configuration, read once from the environment by `readOptions`. */
export interface BenchOptions {
  timing: Timing;
  /** getConnections is autocannon's concurrency for read routes, postConnections for writes. */
  getConnections: number;
  postConnections: number;
  postgresUrl: string;
  /** only, when set, runs just the scenarios whose id contains one of these words. */
  only: string[];
  resultsFile: string;
}

/**
 * readOptions reads `BENCH_DURATION` (seconds per measurement, default 5), `BENCH_WARMUP`
 * (seconds, default min(2, duration / 2)), `BENCH_ONLY` (comma-separated scenario ids or parts of
 * them) and `BASEPLATE_BENCH_DATABASE_URL`. Throws naming the variable when a value is invalid.
 */
export function readOptions(env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const durationS = seconds(env, "BENCH_DURATION", 5, 0.5);
  const warmupS = seconds(env, "BENCH_WARMUP", Math.min(2, durationS / 2), 0);
  return {
    timing: { durationS, warmupS },
    getConnections: 32,
    postConnections: 16,
    postgresUrl: env.BASEPLATE_BENCH_DATABASE_URL || DEFAULT_BENCH_DATABASE_URL,
    only: (env.BENCH_ONLY ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    resultsFile: resolve(REPO_ROOT, "bench/results/latest.json"),
  };
}

function seconds(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > 600) {
    throw new Error(`${name}=${JSON.stringify(raw)}: must be a number of seconds between ${min} and 600`);
  }
  return value;
}
