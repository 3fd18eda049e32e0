import { createServer, get, type Server as HttpServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { isRecord, runChild } from "../lib/child.js";
import { processCpuMs } from "../lib/cpu.js";
import { createSchema, tempDir } from "../lib/databases.js";
import { compare, compareToRate, type Measurement, row } from "../lib/results.js";
import type { BenchContext, Scenario } from "../lib/scenario.js";
import { type BaseplateDatabase, startBaseplatePlane } from "../lib/servers.js";
import { LatencyRecorder } from "../lib/stats.js";

const CONCURRENCY = 64;
const SSE_CLIENTS = 1000;

/**
 * webhooksScenario measures webhook delivery and the event stream against a loopback receiver:
 * - deliveries/s: a backlog of messages (built while the tenant owning the endpoint is suspended,
 *   released by reactivating it) drained by the workers, vs raw signed POSTs of the same shape to
 *   the same receiver from a bare process (the baseline, same run);
 * - publish → first attempt latency without backlog (`POST /v1/events`, one at a time);
 * - SSE fan-out: 1,000 connected streams receive one event.
 */
export function webhooksScenario(engine: "sqlite" | "postgres"): Scenario {
  return {
    id: `webhooks-${engine}`,
    title: `Webhook delivery and event stream: Baseplate (${engine === "sqlite" ? "SQLite" : "PostgreSQL"}) vs raw signed POSTs`,
    run: (ctx) => run(ctx, engine),
  };
}

interface Receiver {
  url: string;
  count: number;
  arrivals: Map<string, number>;
  waiters: Map<string, () => void>;
  server: HttpServer;
}

async function startReceiver(ctx: BenchContext): Promise<Receiver> {
  const receiver: Receiver = { url: "", count: 0, arrivals: new Map(), waiters: new Map(), server: null as never };
  receiver.server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      receiver.count++;
      const body = Buffer.concat(chunks).toString("utf8");
      if (body.includes('"lat-')) {
        // The event's own id is the plane's; the publisher's id comes back as clientId.
        const event = JSON.parse(body) as { id: string; clientId?: string | null };
        const id = event.clientId ?? event.id;
        receiver.arrivals.set(id, performance.now());
        receiver.waiters.get(id)?.();
      }
      res.writeHead(200, { "content-length": "2" });
      res.end("ok");
    });
  });
  receiver.server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => receiver.server.listen(0, "127.0.0.1", resolve));
  receiver.url = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}/hook`;
  ctx.resources.defer("stop the webhook receiver", async () => {
    receiver.server.closeAllConnections();
    await new Promise<void>((r) => receiver.server.close(() => r()));
  });
  return receiver;
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
  const receiver = await startReceiver(ctx);

  ctx.progress("raw signed POSTs to the receiver");
  const raw = await runChild(
    ctx.resources,
    {
      name: "raw-webhook-posts",
      script: "bench/processes/raw-webhook-posts.ts",
      args: [
        "--url",
        receiver.url,
        "--duration",
        String(timing.durationS),
        "--warmup",
        String(timing.warmupS),
        "--concurrency",
        String(CONCURRENCY),
      ],
    },
    (v): v is { result: { count: number; durationS: number; p50Ms: number; p99Ms: number; cpuMs: number } } =>
      isRecord(v) && isRecord(v.result),
    (timing.durationS + timing.warmupS) * 1000 + 60_000,
  );
  const baseline = row("raw signed POST (keep-alive)", "baseline", {
    rate: raw.result.count / raw.result.durationS,
    unit: "req/s",
    p50Ms: raw.result.p50Ms,
    p99Ms: raw.result.p99Ms,
    count: raw.result.count,
    failures: 0,
    durationS: raw.result.durationS,
    cpuUsPerOp: (raw.result.cpuMs * 1000) / raw.result.count,
    detail: `${CONCURRENCY} concurrent loops, event-sized body, HMAC-signed`,
  });

  const database: BaseplateDatabase =
    engine === "sqlite"
      ? { engine: "sqlite", dataDir: join(tempDir(ctx.resources, "webhooks-sqlite"), "baseplate") }
      : {
          engine: "postgres",
          url: ctx.postgres as string,
          schema: await createSchema(ctx.resources, ctx.postgres as string),
        };
  ctx.progress("Baseplate plane with webhook workers");
  const server = await startBaseplatePlane(ctx.resources, database, {
    BASEPLATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS: "true",
    BASEPLATE_WORKER_CONCURRENCY: String(CONCURRENCY),
    BASEPLATE_PASSWORD_PROFILE: "owasp",
  });
  const { plane } = server;
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${plane.secretKey}`, "content-type": "application/json" },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as Record<string, unknown>;
  };
  await api("POST", "/v1/events/types", { name: "bench.ticked", description: "A benchmark tick" });
  await api("POST", "/v1/webhooks/endpoints", { url: receiver.url, tenantId: plane.tenantId, eventTypes: ["bench.*"] });

  // 1. Publish → first attempt, without backlog.
  ctx.progress("publish → first delivery attempt latency");
  const latency = new LatencyRecorder();
  const samples = Math.max(50, Math.min(300, timing.durationS * 40));
  for (let i = 0; i < samples; i++) {
    const id = `lat-${i}`;
    const arrived = new Promise<void>((resolve) => receiver.waiters.set(id, resolve));
    const started = performance.now();
    await api("POST", "/v1/events", { id, type: "bench.ticked", tenantId: plane.tenantId, data: { i } });
    await arrived;
    latency.add((receiver.arrivals.get(id) as number) - started);
  }
  const lp = latency.percentiles([50, 95, 99]);

  // 2. Deliveries/s: build a backlog while the tenant is suspended, release it, time the drain.
  const backlog = Math.max(2000, Math.min(20_000, timing.durationS * 2000));
  ctx.progress(`building a backlog of ${backlog} messages (tenant suspended)`);
  await api("POST", `/v1/tenants/${plane.tenantId}/suspend`, { reason: "benchmark backlog" });
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < backlog) {
        const i = next++;
        await api("POST", "/v1/events", { type: "bench.ticked", tenantId: plane.tenantId, data: { i } });
      }
    }),
  );
  // Wait until every message has been parked (its first claim finds the tenant suspended).
  await waitUntil(async () => {
    const page = await api("GET", `/v1/webhooks/endpoints?limit=1`);
    const endpointId = ((page.data as Array<{ id: string }>)[0] as { id: string }).id;
    const pending = await api("GET", `/v1/webhooks/endpoints/${endpointId}/messages?status=pending&limit=1`);
    return (pending.data as unknown[]).length === 0;
  }, 120_000);
  ctx.progress("reactivating: draining the backlog");
  const before = receiver.count;
  const cpuBefore = processCpuMs(server.pid);
  const began = performance.now();
  await api("POST", `/v1/tenants/${plane.tenantId}/reactivate`, {});
  await waitUntil(async () => receiver.count - before >= backlog, 180_000, 10);
  const drainS = (performance.now() - began) / 1000;
  const cpuAfter = processCpuMs(server.pid);
  const cpuUsed = cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore;
  const delivered: Measurement = {
    rate: backlog / drainS,
    unit: "req/s",
    p50Ms: null,
    p99Ms: null,
    count: backlog,
    failures: 0,
    durationS: drainS,
    cpuUsPerOp: cpuUsed === null ? null : (cpuUsed * 1000) / backlog,
    detail: `${backlog} messages released at once, ${CONCURRENCY} workers (one process)`,
  };

  // 3. SSE fan-out: 1,000 streams receive one event.
  ctx.progress(`${SSE_CLIENTS} SSE streams`);
  const streams = await Promise.all(Array.from({ length: SSE_CLIENTS }, () => openStream(server.url, plane.secretKey)));
  const fanout = new LatencyRecorder();
  const sent = performance.now();
  const waits = streams.map((s) => s.first.then(() => fanout.add(performance.now() - sent)));
  await api("POST", "/v1/events", { type: "bench.ticked", data: { fanout: true } });
  await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, 10_000))]);
  for (const s of streams) s.res.destroy();
  const fp = fanout.percentiles([50, 99, 100]);
  await server.stop();

  const deliveries = row("Baseplate deliveries", "subject", delivered, [
    compare(delivered, baseline),
    compareToRate(delivered, 2000, "target 2,000/s"),
  ]);
  const publishLatency = row(
    "publish → first attempt",
    "subject",
    {
      rate: latency.count,
      unit: "ops/s",
      p50Ms: lp?.[50] ?? null,
      p99Ms: lp?.[99] ?? null,
      count: latency.count,
      failures: 0,
      durationS: 0,
      cpuUsPerOp: null,
      detail: `p95 ${lp?.[95]?.toFixed(1)} ms over ${latency.count} sequential publishes (target p95 ≤ 250 ms)`,
    },
    [],
  );
  const fan = row(
    `SSE fan-out to ${SSE_CLIENTS} streams`,
    "subject",
    {
      rate: fanout.count,
      unit: "ops/s",
      p50Ms: fp?.[50] ?? null,
      p99Ms: fp?.[99] ?? null,
      count: fanout.count,
      failures: SSE_CLIENTS - fanout.count,
      durationS: 0,
      cpuUsPerOp: null,
      detail: `last stream after ${fp?.[100]?.toFixed(0)} ms (target: all within 1,000 ms)`,
    },
    [],
  );
  return {
    status: "measured" as const,
    rows: [baseline, deliveries, publishLatency, fan],
    notes: [
      `Receiver: a bare node:http server in the bench process answering 200 "ok". The baseline posts from its own process.`,
      `Deliveries: ${backlog} messages to one tenant-owned endpoint, parked while the tenant was suspended, released by ` +
        "reactivation (the resume job re-queues them); each delivery = claim, load message + endpoint + tenant state + event, " +
        "signed POST, attempt row + message update in one transaction, job success.",
      `Publish → first attempt: p50 ${lp?.[50]?.toFixed(1)} ms, p95 ${lp?.[95]?.toFixed(1)} ms, p99 ${lp?.[99]?.toFixed(1)} ms ` +
        "(workers are woken on commit in-process and through the ChangeBus; the poll interval is the default 500 ms).",
      `SSE: ${fanout.count}/${SSE_CLIENTS} streams got the event; p50 ${fp?.[50]?.toFixed(0)} ms, max ${fp?.[100]?.toFixed(0)} ms.`,
    ],
  };
}

function openStream(base: string, token: string): Promise<{ res: IncomingMessage; first: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const req = get(`${base}/v1/events/stream`, { headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.setEncoding("utf8");
      let connected: () => void = () => undefined;
      const ready = new Promise<void>((r) => {
        connected = r;
      });
      const first = new Promise<void>((r) => {
        let seen = "";
        res.on("data", (chunk: string) => {
          seen += chunk;
          if (seen.includes(": connected")) connected();
          if (seen.includes("\ndata: ")) r();
        });
      });
      ready.then(() => resolve({ res, first }));
    });
    req.on("error", reject);
  });
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
