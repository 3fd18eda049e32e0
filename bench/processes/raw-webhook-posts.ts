/**
 * raw-webhook-posts.ts is the webhook benchmark's baseline: signed POSTs of an event-sized JSON
 * body to the receiver, exactly what a delivery sends (Standard Webhooks headers, HMAC-SHA256 over
 * `id.timestamp.body`), over keep-alive connections, with nothing else: no database, no queue.
 *
 *   node --import tsx bench/processes/raw-webhook-posts.ts --url U --duration S --warmup S --concurrency N
 *
 * Prints one JSON line `{"result":{"count","durationS","p50Ms","p99Ms","cpuMs"}}` and exits.
 */
import { createHmac, randomBytes } from "node:crypto";
import http from "node:http";
import { parseArgs } from "node:util";
import { answer, stopOnSignal } from "../lib/lifecycle.js";
import { LatencyRecorder } from "../lib/stats.js";

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    duration: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
    concurrency: { type: "string", default: "64" },
  },
});
const url = new URL(values.url ?? "");
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const key = randomBytes(32);
let n = 0;

function post(): Promise<number> {
  const id = `msg_raw${n++}`;
  const body = JSON.stringify({
    id: `evt_${id}`,
    specversion: "1.0",
    type: "bench.ticked",
    source: "bench",
    subject: null,
    time: new Date().toISOString(),
    datacontenttype: "application/json",
    data: { n },
    environmentId: "env_bench",
    tenantId: null,
    sequence: n,
  });
  const ts = Math.floor(Date.now() / 1000);
  const signature = `v1,${createHmac("sha256", key).update(`${id}.${ts}.${body}`).digest("base64")}`;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        hostname: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        agent,
        headers: {
          "content-type": "application/json",
          "content-length": String(Buffer.byteLength(body)),
          "webhook-id": id,
          "webhook-timestamp": String(ts),
          "webhook-signature": signature,
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(performance.now() - started));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function phase(seconds: number) {
  const latencies = new LatencyRecorder();
  let count = 0;
  const cpu = process.cpuUsage();
  const began = performance.now();
  const end = began + seconds * 1000;
  await Promise.all(
    Array.from({ length: Number(values.concurrency) }, async () => {
      while (performance.now() < end) {
        latencies.add(await post());
        count++;
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  return { count, durationS: (performance.now() - began) / 1000, latencies, cpuMs: (used.user + used.system) / 1000 };
}

stopOnSignal(async () => undefined);
await phase(Number(values.warmup));
const result = await phase(Number(values.duration));
const p = result.latencies.percentiles([50, 99]);
await answer({
  result: {
    count: result.count,
    durationS: result.durationS,
    p50Ms: p?.[50] ?? null,
    p99Ms: p?.[99] ?? null,
    cpuMs: result.cpuMs,
  },
});
agent.destroy();
process.exit(0);
