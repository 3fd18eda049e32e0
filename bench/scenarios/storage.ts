import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { get, type IncomingMessage, request } from "node:http";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { isRecord, runChild, startChild } from "../lib/child.js";
import { processCpuMs } from "../lib/cpu.js";
import { tempDir } from "../lib/databases.js";
import { compare, type Measurement, row } from "../lib/results.js";
import type { BenchContext, Scenario } from "../lib/scenario.js";
import { startBaseplatePlane } from "../lib/servers.js";

/** TARGET: uploads and downloads through the plane reach 0.7× the raw copy / raw S3 client. */
export const TARGET = 0.7;

/**
 * storageScenario measures file throughput through the plane (HTTP upload streamed into the store,
 * HTTP download streamed out of it) against the same bytes moved without the plane, in the same
 * run: a raw file copy with fsync (local driver), or the raw S3 client's streamed put and get
 * against the same S3-compatible server (s3rver, in its own process). Then a `BENCH_STORAGE_BIG_MB`
 * file (default 1024) is uploaded and downloaded once while the plane's RSS is sampled: memory must
 * stay flat while streaming.
 */
export function storageScenario(driver: "local" | "s3"): Scenario {
  return {
    id: `storage-${driver}`,
    title: `File upload and download (${driver === "local" ? "local folder" : "S3-compatible, s3rver"})`,
    run: (ctx) => run(ctx, driver),
  };
}

interface RawAnswer {
  result: Record<string, number>;
}
const isRaw = (v: unknown): v is RawAnswer => isRecord(v) && isRecord(v.result);
const isS3 = (v: unknown): v is { ready: true; endpoint: string; bucket: string } =>
  isRecord(v) && v.ready === true && typeof v.endpoint === "string";

function fill(path: string, mb: number): void {
  const chunk = randomBytes(1024 * 1024);
  writeFileSync(path, "");
  for (let i = 0; i < mb; i++) writeFileSync(path, chunk, { flag: "a" });
}

function rssMb(pid: number | undefined): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

async function run(ctx: BenchContext, driver: "local" | "s3") {
  const { timing } = ctx.options;
  const fileMb = Number(process.env.BENCH_STORAGE_FILE_MB ?? 64);
  const bigMb = Number(process.env.BENCH_STORAGE_BIG_MB ?? 1024);
  const dir = tempDir(ctx.resources, `storage-${driver}`);
  const source = join(dir, "source.bin");
  fill(source, fileMb);
  const bytes = statSync(source).size;

  const storageEnv: Record<string, string> = {};
  let s3: { endpoint: string; bucket: string } | null = null;
  if (driver === "s3") {
    ctx.progress("starting s3rver");
    const started = await startChild(
      ctx.resources,
      { name: "s3rver", script: "bench/processes/raw-storage.ts", args: ["--mode", "s3rver", "--dir", dir] },
      isS3,
    );
    s3 = started.ready;
    Object.assign(storageEnv, {
      BASEPLATE_STORAGE_DRIVER: "s3",
      BASEPLATE_STORAGE_ENDPOINT: s3.endpoint,
      BASEPLATE_STORAGE_BUCKET: s3.bucket,
      BASEPLATE_STORAGE_PREFIX: "plane/",
      BASEPLATE_STORAGE_ACCESS_KEY_ID: "S3RVER",
      BASEPLATE_STORAGE_SECRET_ACCESS_KEY: "S3RVER",
      BASEPLATE_STORAGE_FORCE_PATH_STYLE: "true",
    });
  }

  ctx.progress(driver === "local" ? "raw file copy" : "raw S3 client put/get");
  const timeoutMs = (timing.durationS + timing.warmupS) * 2000 + 300_000;
  const raw = (
    await runChild(
      ctx.resources,
      {
        name: "raw-storage",
        script: "bench/processes/raw-storage.ts",
        args: [
          "--mode",
          driver === "local" ? "copy" : "s3",
          "--file",
          source,
          "--dir",
          dir,
          "--duration",
          String(timing.durationS),
          "--warmup",
          String(timing.warmupS),
          ...(s3 ? ["--endpoint", s3.endpoint, "--bucket", s3.bucket] : []),
        ],
      },
      isRaw,
      timeoutMs,
    )
  ).result;

  ctx.progress("starting the plane");
  const server = await startBaseplatePlane(
    ctx.resources,
    { engine: "sqlite", dataDir: join(dir, "plane") },
    { ...storageEnv, BASEPLATE_STORAGE_MAX_FILE_BYTES: String(4 * 1024 ** 3) },
  );
  const auth = { authorization: `Bearer ${server.plane.secretKey}` };
  const created = await fetch(`${server.url}/v1/storage/buckets`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ name: "bench", maxFileBytes: 4 * 1024 ** 3 }),
  });
  const bucketId = ((await created.json()) as { id: string }).id;

  const upload = (path: string) =>
    new Promise<string>((resolve, reject) => {
      const req = request(`${server.url}/v1/storage/buckets/${bucketId}/files?name=bench.bin`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/octet-stream", "content-length": statSync(path).size },
      });
      req.on("response", (res) => {
        let text = "";
        res.on("data", (c) => {
          text += c;
        });
        res.on("end", () =>
          res.statusCode === 201 ? resolve((JSON.parse(text) as { id: string }).id) : reject(new Error(text)),
        );
      });
      req.on("error", reject);
      createReadStream(path, { highWaterMark: 1 << 20 }).pipe(req);
    });
  const download = async (id: string) => {
    const dest = join(dir, "download.bin");
    const res = await new Promise<IncomingMessage>((resolve, reject) =>
      get(`${server.url}/v1/files/${id}/content`, { headers: auth }, resolve).on("error", reject),
    );
    if (res.statusCode !== 200) throw new Error(`download answered ${res.statusCode}`);
    // Same work as the baseline: a local download is copied into a file, an S3 one consumed.
    if (driver === "local") {
      await pipeline(res, createWriteStream(dest, { highWaterMark: 1 << 20 }));
      rmSync(dest, { force: true });
    } else {
      res.resume();
      await new Promise((resolve) => res.once("end", resolve));
    }
  };
  const phase = async <T>(seconds: number, op: () => Promise<T>) => {
    const cpu = processCpuMs(server.pid);
    const started = performance.now();
    let count = 0;
    let last: T | undefined;
    do {
      last = await op();
      count++;
    } while (performance.now() < started + seconds * 1000);
    const cpuEnd = processCpuMs(server.pid);
    return {
      count,
      s: (performance.now() - started) / 1000,
      cpuMs: cpu !== null && cpuEnd !== null ? cpuEnd - cpu : null,
      last,
    };
  };

  ctx.progress("uploads through the plane");
  if (timing.warmupS > 0) await phase(timing.warmupS, () => upload(source));
  const up = await phase(timing.durationS, () => upload(source));
  ctx.progress("downloads through the plane");
  const fileId = up.last as string;
  if (timing.warmupS > 0) await phase(timing.warmupS, () => download(fileId));
  const down = await phase(timing.durationS, () => download(fileId));

  ctx.progress(`memory while streaming a ${bigMb} MiB file`);
  const big = join(dir, "big.bin");
  fill(big, bigMb);
  const baseRss = rssMb(server.pid);
  let peak = baseRss;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssMb(server.pid));
  }, 50);
  const bigId = await upload(big);
  const afterUpload = peak;
  await download(bigId);
  clearInterval(sampler);
  rmSync(big, { force: true });

  const mb = bytes / (1024 * 1024);
  const measure = (count: number, s: number, cpuMs: number | null, detail: string): Measurement => ({
    rate: (count * mb) / s,
    unit: "MB/s",
    p50Ms: null,
    p99Ms: null,
    count,
    failures: 0,
    durationS: s,
    cpuUsPerOp: cpuMs === null ? null : (cpuMs * 1000) / count,
    detail,
  });
  const what = driver === "local" ? "raw file copy" : "raw S3 client";
  const rawUp = row(
    `${what}: upload`,
    "baseline",
    measure(
      raw.upCount ?? 0,
      raw.upS ?? 1,
      raw.upCpuMs ?? null,
      driver === "local" ? "read → write → fsync, no HTTP" : "lib-storage Upload, 8 MiB parts, 2 in flight",
    ),
  );
  const rawDown = row(
    `${what}: download`,
    "baseline",
    measure(
      raw.downCount ?? 0,
      raw.downS ?? 1,
      raw.downCpuMs ?? null,
      driver === "local" ? "read → write to another file" : "GetObject, body consumed",
    ),
  );
  const upM = measure(up.count, up.s, up.cpuMs, "POST …/files, streamed body; ingest (limit, SHA-256, sniff) → store");
  const downM = measure(
    down.count,
    down.s,
    down.cpuMs,
    driver === "local" ? "GET /v1/files/:id/content → written to a file" : "GET /v1/files/:id/content, consumed",
  );
  return {
    status: "measured" as const,
    rows: [
      rawUp,
      row("plane: upload", "subject", upM, [compare(upM, rawUp, TARGET)]),
      rawDown,
      row("plane: download", "subject", downM, [compare(downM, rawDown, TARGET)]),
    ],
    notes: [
      `${mb.toFixed(0)} MiB per transfer (BENCH_STORAGE_FILE_MB), one at a time; cpu us/op is per transfer (the plane process for the subject rows, the raw process for the baselines).`,
      `Memory: plane RSS ${baseRss.toFixed(0)} MB before a ${bigMb} MiB upload, peak ${afterUpload.toFixed(0)} MB during it, ${peak.toFixed(0)} MB after its download (growth ${(peak - baseRss).toFixed(0)} MB for ${bigMb} MiB moved).`,
    ],
  };
}
