import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { tempDir } from "../lib/databases.js";
import { freePort } from "../lib/ports.js";
import type { Resources } from "../lib/resources.js";
import { compare, compareToRate, type Measurement, row } from "../lib/results.js";
import type { Scenario } from "../lib/scenario.js";

/** SERVING_TARGET_S: `npm start` with no source change serves within 3 s. */
export const SERVING_TARGET_S = 3;
/** RSS_TARGET_MB: the idle server process stays within 120 MB resident. */
export const RSS_TARGET_MB = 120;
const STARTS = 3;
const IDLE_MS = 5000;

/**
 * startScenario measures what `npm start` costs with no source change: the freshness check
 * (`scripts/build-if-stale.mjs`), the server process's start to its first `GET /healthz` answer
 * (fresh data directory: migrations included; then the same directory again), and its resident
 * memory after idling — against a bare Fastify process started the same way.
 */
export const startScenario: Scenario = {
  id: "kernel-start",
  title: "npm start: freshness check, start to serving, idle RSS (SQLite) vs a bare Fastify process",
  async run(ctx) {
    ctx.progress("freshness check (builds once if sources changed)");
    execFileSync(process.execPath, ["scripts/build-if-stale.mjs"], { stdio: "ignore" });
    const checkS = timed(() => execFileSync(process.execPath, ["scripts/build-if-stale.mjs"], { stdio: "ignore" }));

    ctx.progress(`bare Fastify, ${STARTS} starts`);
    const bare: number[] = [];
    for (let i = 0; i < STARTS; i++) {
      bare.push((await startAndServe(ctx.resources, ["bench/processes/bare-start.mjs"], {})).seconds);
    }
    ctx.progress(`Baseplate: a start on a fresh data directory, then ${STARTS} on the same one`);
    const dataDir = tempDir(ctx.resources, "start");
    const env = { BASEPLATE_DATA_DIR: dataDir, BASEPLATE_LOG_LEVEL: "warn" };
    const fresh = await startAndServe(ctx.resources, ["packages/server/dist/main.js", "start"], env);
    const warm: number[] = [];
    let rssMb = 0;
    for (let i = 0; i < STARTS; i++) {
      const last = i === STARTS - 1;
      const started = await startAndServe(ctx.resources, ["packages/server/dist/main.js", "start"], env, last);
      warm.push(started.seconds);
      if (last) rssMb = started.idleRssMb;
    }
    const bareS = median(bare);
    const warmS = median(warm);
    const measure = (seconds: number, detail: string): Measurement => ({
      rate: 1 / seconds,
      unit: "ops/s",
      p50Ms: seconds * 1000,
      p99Ms: null,
      count: 1,
      failures: 0,
      durationS: seconds,
      cpuUsPerOp: null,
      detail,
    });
    const bareRow = row("bare Fastify process start", "baseline", measure(bareS, `median of ${STARTS}`));
    const npmStart = measure(checkS + warmS, "freshness check + start");
    return {
      status: "measured",
      rows: [
        bareRow,
        row("Baseplate start, fresh data dir", "subject", measure(fresh.seconds, "migrations included"), [
          compare(measure(fresh.seconds, ""), bareRow),
        ]),
        row("Baseplate start", "subject", measure(warmS, `median of ${STARTS}`), [
          compare(measure(warmS, ""), bareRow),
        ]),
        row("npm start (check + start)", "subject", npmStart, [
          compareToRate(npmStart, 1 / SERVING_TARGET_S, `serving in ${SERVING_TARGET_S} s`),
        ]),
      ],
      notes: [
        `Rates are starts per second (1 / seconds to the first 200 on GET /healthz from spawn); p50 ms is that time. Freshness check ${(checkS * 1000).toFixed(0)} ms.`,
        `Idle RSS of the Baseplate process ${IDLE_MS / 1000} s after serving: ${rssMb.toFixed(0)} MB ` +
          `(target <= ${RSS_TARGET_MB} MB: ${rssMb <= RSS_TARGET_MB ? "PASS" : "MISS"}).`,
      ],
    };
  },
};

function timed(fn: () => void): number {
  const started = performance.now();
  fn();
  return (performance.now() - started) / 1000;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** startAndServe spawns `node args…`, times it to the first 200 on /healthz, then stops it. */
async function startAndServe(
  resources: Resources,
  args: string[],
  env: Record<string, string>,
  idle = false,
): Promise<{ seconds: number; idleRssMb: number }> {
  const port = await freePort();
  const childEnv: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("BASEPLATE_")) childEnv[key] = value;
  Object.assign(childEnv, env, { BASEPLATE_PORT: String(port), BENCH_PORT: String(port) });
  const started = performance.now();
  const child = spawn(process.execPath, args, { env: childEnv, stdio: "ignore" });
  const undo = resources.defer("start child", () => stop(child));
  const deadline = started + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${args.join(" ")} exited with ${child.exitCode} before serving`);
    if (performance.now() > deadline) throw new Error(`${args.join(" ")} did not serve within 60 s`);
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (res) => res.status === 200,
      () => false,
    );
    if (ok) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const seconds = (performance.now() - started) / 1000;
  let idleRssMb = 0;
  if (idle) {
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
    const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
    idleRssMb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  }
  await stop(child);
  undo();
  return { seconds, idleRssMb };
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), 10_000).unref();
  });
}
