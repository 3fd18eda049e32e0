import { randomBytes } from "node:crypto";
import { Agent, request } from "node:http";
import autocannon from "autocannon";
import { processCpuMs } from "./cpu.js";
import type { Timing } from "./options.js";
import type { Measurement } from "./results.js";
import { LatencyRecorder } from "./stats.js";

/** HttpLoad describes the requests autocannon sends. */
export interface HttpLoad {
  /** url is the server's base URL, e.g. `http://127.0.0.1:40123`. */
  url: string;
  method: "GET" | "POST";
  path: string;
  connections: number;
  headers?: Record<string, string>;
  body?: string;
  /** pid of the server process, to measure its CPU time per request (Linux). */
  pid?: number | undefined;
  /** setupRequest rewrites every request before it is sent (e.g. a unique Idempotency-Key). */
  setupRequest?: (request: autocannon.Request) => autocannon.Request;
  /**
   * overallRate, when set, makes the load a paced latency probe instead of a throughput
   * measurement: `measureHttp` sends this many requests per second in all, evenly spaced (one
   * every 1/rate s, whether or not earlier ones answered), over at most `connections` keep-alive
   * connections, and times each from when it was due (so a stalled server is not hidden by
   * requests that were never sent). Not for `measureHttpInterleaved`.
   */
  overallRate?: number;
}

/**
 * uniqueHeader returns a `setupRequest` that gives every request its own value of `header`
 * (`<random run prefix>-<counter>`), unique across warm-up and measurement.
 */
export function uniqueHeader(header: string): (request: autocannon.Request) => autocannon.Request {
  const prefix = randomBytes(6).toString("hex");
  let counter = 0;
  return (request) => ({ ...request, headers: { ...request.headers, [header]: `${prefix}-${++counter}` } });
}

/**
 * measureHttp drives `load` for `timing.warmupS` (results discarded), then for `timing.durationS`,
 * and returns the rate of 2xx answers with their exact p50/p99 latency. Failures (connection
 * errors, timeouts, non-2xx) are counted apart and never raise the rate.
 */
export async function measureHttp(load: HttpLoad, timing: Timing): Promise<Measurement> {
  if (timing.warmupS > 0) await drive(load, timing.warmupS, new LatencyRecorder());
  const tally = new Tally(load);
  await tally.run(timing.durationS);
  return tally.measurement();
}

/**
 * measureHttpConcurrent drives several loads at the same time (each warmed up for
 * `timing.warmupS`, then measured for `timing.durationS`, all starting together) and returns one
 * measurement per load. Give the CPU column (`pid`) to one load at most: the server's CPU time
 * during the run is spent on all of them.
 */
export function measureHttpConcurrent(loads: readonly HttpLoad[], timing: Timing): Promise<Measurement[]> {
  return Promise.all(loads.map((load) => measureHttp(load, timing)));
}

/**
 * measureHttpPhases compares conditions on one server: each phase is a set of loads driven at
 * the same time (e.g. a paced probe alone, a flood alone, both). Every phase is warmed up once
 * (`timing.warmupS / phases` each), then the phases run in `rounds` rounds of
 * `timing.durationS / rounds` each, in rotating order (ABC, BCA, CAB, …), with `gapMs` of rest
 * after each so a flood's last requests do not spill into the next phase. Noise from other
 * processes then hits every phase alike. Returns `measurements[phase][load]` and, alike, the p99
 * of each round (`roundP99Ms[phase][load][round]`, in the order the rounds ran: one stall of
 * another process shows as one outlier there); each load of each phase is tallied apart (give
 * `pid` to one load per phase at most).
 */
export async function measureHttpPhases(
  phases: readonly (readonly HttpLoad[])[],
  timing: Timing,
  rounds = 3,
  gapMs = 500,
): Promise<{ measurements: Measurement[][]; roundP99Ms: (number | null)[][][] }> {
  const rest = () => new Promise((resolve) => setTimeout(resolve, gapMs));
  if (timing.warmupS > 0) {
    for (const loads of phases) {
      await Promise.all(loads.map((load) => drive(load, timing.warmupS / phases.length, new LatencyRecorder())));
      await rest();
    }
  }
  const tallies = phases.map((loads) => loads.map((load) => new Tally(load)));
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < phases.length; k++) {
      const phase = tallies[(round + k) % phases.length] ?? [];
      await Promise.all(phase.map((tally) => tally.run(timing.durationS / rounds)));
      await rest();
    }
  }
  return {
    measurements: tallies.map((phase) => phase.map((tally) => tally.measurement())),
    roundP99Ms: tallies.map((phase) => phase.map((tally) => [...tally.roundP99Ms])),
  };
}

/** Interleaved is the outcome of `measureHttpInterleaved`: one measurement and the per-round rates of each load. */
export interface Interleaved {
  measurements: Measurement[];
  roundRates: number[][];
}

/**
 * measureHttpInterleaved measures several servers that are all running, in alternating rounds
 * (A B, B A, A B, …) of `timing.durationS / rounds` each, after warming each up. Noise from other
 * processes then hits every load alike, so their ratio is steadier than with back-to-back runs.
 * Use it for stateless routes only: a server with background work (jobs) would keep working
 * during the other's rounds.
 */
export async function measureHttpInterleaved(
  loads: readonly HttpLoad[],
  timing: Timing,
  rounds = 5,
): Promise<Interleaved> {
  for (const load of loads) if (timing.warmupS > 0) await drive(load, timing.warmupS, new LatencyRecorder());
  const tallies = loads.map((load) => new Tally(load));
  const roundRates: number[][] = loads.map(() => []);
  for (let round = 0; round < rounds; round++) {
    const order = loads.map((_, i) => i);
    if (round % 2 === 1) order.reverse();
    for (const i of order) {
      const tally = tallies[i];
      const load = loads[i];
      if (!tally || !load) continue;
      const result = await tally.run(timing.durationS / rounds);
      roundRates[i]?.push(result.durationS > 0 ? result.ok / result.durationS : 0);
    }
  }
  return { measurements: tallies.map((t) => t.measurement()), roundRates };
}

/** Driven is the outcome of one run of a load: 2xx answers, failures, and how long it ran. */
interface Driven {
  ok: number;
  failures: number;
  durationS: number;
}

/** drive runs `load` once for `durationS`: autocannon, or a paced probe when `overallRate` is set. */
async function drive(load: HttpLoad, durationS: number, latencies: LatencyRecorder): Promise<Driven> {
  if (load.overallRate) {
    const { ok, failures } = await runPaced(load, load.overallRate, durationS, latencies);
    return { ok, failures, durationS };
  }
  const result = await runAutocannon(load, durationS, latencies);
  return { ok: result["2xx"], failures: result.errors + result.non2xx, durationS: result.duration };
}

/** Tally sums runs of one load (and its server's CPU time) into a measurement. */
class Tally {
  readonly latencies = new LatencyRecorder();
  /** roundP99Ms holds the p99 of each `run` (null when nothing succeeded). */
  readonly roundP99Ms: (number | null)[] = [];
  #ok = 0;
  #failures = 0;
  #durationS = 0;
  #cpuMs: number | null = 0;

  constructor(private readonly load: HttpLoad) {}

  async run(durationS: number): Promise<Driven> {
    const cpuBefore = processCpuMs(this.load.pid);
    const round = new LatencyRecorder();
    const result = await drive(this.load, durationS, round);
    const cpuAfter = processCpuMs(this.load.pid);
    this.latencies.addAll(round);
    this.roundP99Ms.push(round.percentiles([99])?.[99] ?? null);
    this.#ok += result.ok;
    this.#failures += result.failures;
    this.#durationS += result.durationS;
    this.#cpuMs =
      this.#cpuMs !== null && cpuBefore !== null && cpuAfter !== null ? this.#cpuMs + cpuAfter - cpuBefore : null;
    return result;
  }

  measurement(): Measurement {
    const p = this.latencies.percentiles([50, 99]);
    const { load } = this;
    return {
      rate: this.#durationS > 0 ? this.#ok / this.#durationS : 0,
      unit: "req/s",
      p50Ms: p?.[50] ?? null,
      p99Ms: p?.[99] ?? null,
      count: this.#ok,
      failures: this.#failures,
      durationS: this.#durationS,
      cpuUsPerOp: this.#cpuMs !== null && this.#ok > 0 ? (this.#cpuMs * 1000) / this.#ok : null,
      detail: load.overallRate
        ? `node:http, ${load.method} ${load.path} paced at ${load.overallRate} req/s, up to ${load.connections} connections`
        : `autocannon, ${load.connections} connections, ${load.method} ${load.path}`,
    };
  }
}

/**
 * runPaced sends `rate × durationS` requests, one every 1/rate s, and records the latency of each
 * 2xx answer from the moment it was due (queueing in the client included). Resolves once every
 * request answered or failed (10 s timeout).
 */
function runPaced(
  load: HttpLoad,
  rate: number,
  durationS: number,
  latencies: LatencyRecorder,
): Promise<{ ok: number; failures: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: load.connections });
  const target = new URL(load.path, load.url);
  const intervalMs = 1000 / rate;
  const total = Math.max(1, Math.round(durationS * rate));
  const headers = {
    ...load.headers,
    ...(load.body === undefined ? {} : { "content-length": Buffer.byteLength(load.body) }),
  };
  return new Promise((resolve) => {
    const start = performance.now();
    let sent = 0;
    let pending = 0;
    let ok = 0;
    let failures = 0;
    const settle = (due: number, status: number | null) => {
      pending--;
      if (status !== null && status >= 200 && status < 300) {
        ok++;
        latencies.add(performance.now() - due);
      } else {
        failures++;
      }
      if (sent === total && pending === 0) {
        agent.destroy();
        resolve({ ok, failures });
      }
    };
    const send = (due: number) => {
      pending++;
      let settled = false;
      const once = (status: number | null) => {
        if (settled) return;
        settled = true;
        settle(due, status);
      };
      const req = request(target, { method: load.method, headers, agent }, (res) => {
        res.resume();
        res.once("end", () => once(res.statusCode ?? null));
        res.once("error", () => once(null));
      });
      req.setTimeout(10_000, () => req.destroy(new Error("timeout")));
      req.once("error", () => once(null));
      req.end(load.body);
    };
    const tick = () => {
      const now = performance.now();
      while (sent < total && start + sent * intervalMs <= now) send(start + sent++ * intervalMs);
      if (sent < total) setTimeout(tick, Math.max(0, start + sent * intervalMs - performance.now()));
    };
    tick();
  });
}

function runAutocannon(load: HttpLoad, durationS: number, latencies: LatencyRecorder): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: new URL(load.path, load.url).href,
        method: load.method,
        connections: load.connections,
        duration: durationS,
        headers: load.headers ?? {},
        ...(load.body === undefined ? {} : { body: load.body }),
        ...(load.setupRequest ? { requests: [{ setupRequest: load.setupRequest }] } : {}),
        timeout: 10,
      },
      (err: unknown, result) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(result)),
    );
    instance.on("response", (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) latencies.add(responseTime);
    });
  });
}

/**
 * checkResponse sends one request and throws unless it answers `status`; returns the body text.
 * Scenarios call it before measuring, so a misconfigured server fails loudly instead of being
 * benchmarked at the speed of its error path.
 */
export async function checkResponse(
  load: Pick<HttpLoad, "url" | "method" | "path" | "headers" | "body">,
  status: number,
): Promise<string> {
  const response = await fetch(new URL(load.path, load.url), {
    method: load.method,
    ...(load.headers ? { headers: load.headers } : {}),
    ...(load.body === undefined ? {} : { body: load.body }),
  });
  const text = await response.text();
  if (response.status !== status) {
    throw new Error(
      `${load.method} ${load.path} answered ${response.status} (expected ${status}): ${text.slice(0, 300)}`,
    );
  }
  return text;
}
