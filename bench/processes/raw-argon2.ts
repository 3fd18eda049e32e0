/**
 * raw-argon2.ts measures the hardware ceiling of password logins: argon2id verifications of a
 * right password (`@node-rs/argon2`, the library Baseplate uses, at a profile of
 * `PASSWORD_PROFILES`), `--concurrency` at once, with no HTTP, database or session at all.
 *
 *   node --import tsx bench/processes/raw-argon2.ts --profile owasp --concurrency 2 --duration S --warmup S
 *
 * Runs `warmup` seconds (discarded), then `duration` seconds, prints one JSON line
 * `{"result":{"count","durationS","cpuMs","p50Ms","p99Ms"}}` (latency per verification) and exits.
 */
import { parseArgs } from "node:util";
import { type Algorithm, hash, verify } from "@node-rs/argon2";
import { PASSWORD_PROFILES } from "../../packages/server/src/modules/identity/index.js";
import { answer, stopOnSignal } from "../lib/lifecycle.js";
import { LatencyRecorder } from "../lib/stats.js";

const { values } = parseArgs({
  options: {
    profile: { type: "string", default: "owasp" },
    concurrency: { type: "string", default: "2" },
    duration: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
  },
});
const profile = values.profile as keyof typeof PASSWORD_PROFILES;
if (!(profile in PASSWORD_PROFILES)) throw new Error(`unknown --profile ${values.profile}`);
const concurrency = Math.max(1, Number(values.concurrency));
const durationS = Number(values.duration);
const warmupS = Number(values.warmup);

stopOnSignal(async () => undefined);

const password = "correct horse battery staple";
// Argon2id is `Algorithm.Argon2id` (2), a const enum isolated modules cannot import.
const stored = await hash(password, { algorithm: 2 as Algorithm, ...PASSWORD_PROFILES[profile] });

async function phase(seconds: number) {
  const latencies = new LatencyRecorder();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let count = 0;
  const loop = async () => {
    while (performance.now() < deadline) {
      const before = performance.now();
      if (!(await verify(stored, password))) throw new Error("argon2 verify refused the right password");
      latencies.add(performance.now() - before);
      count++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const used = process.cpuUsage(cpu);
  return { count, durationS: (performance.now() - started) / 1000, cpuMs: (used.user + used.system) / 1000, latencies };
}

if (warmupS > 0) await phase(warmupS);
const result = await phase(durationS);
const p = result.latencies.percentiles([50, 99]);
await answer({
  result: {
    count: result.count,
    durationS: result.durationS,
    cpuMs: result.cpuMs,
    p50Ms: p?.[50] ?? null,
    p99Ms: p?.[99] ?? null,
  },
});
process.exit(0);
